"""Replicas on PostgreSQL under faults (issue 11): `digest run` subprocesses, each reaching the
database through its own loopback TCP proxy (tests/pgproxy.py) that the test cuts and restores,
and delivering to its own aiosmtpd sink that answers each message after a delay.

* a database blip: the proxies of the lease holder and of one standby (or of every replica) are
  cut for 20 s while digests are being delivered. No replica exits, the lease holder logs that
  it lost the lease, only one replica leads (and polls) at a time, and after recovery every
  subscriber has exactly one digest;
* `kill -9` of the replica that is sending: nothing is lost (its claims are taken over after
  `delivery.claim_timeout_seconds`) and at most the messages in flight repeat;
* SIGTERM of the replica that is sending: it finishes the message in flight, exits 0 and hands
  its claimed digests back at once (the others send them well before the claim timeout).

The replicas run `digest run` with one change: POLL_CHECK_SECONDS (30 s, how often a replica
confirms or takes the lease before polling) is 5 s, so that a 20 s cut spans several lease
checks and the test stays short. Runs only with DIGEST_TEST_POSTGRES_URL (the schema of that
database is dropped) and `-m slow`; print the figures with `-s`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from digest.storage.db import open_database, reset_schema
from digest.storage.lock import ADVISORY_KEY
from tests.conftest import POSTGRES_URL
from tests.feedserver import FeedServer
from tests.pgproxy import PgProxy
from tests.smtpsink import Received, Sink, SmtpServer, free_port
from tests.test_daemon import daemon_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(170),
              pytest.mark.skipif(not POSTGRES_URL, reason="needs DIGEST_TEST_POSTGRES_URL")]

POLL_CHECK = 5.0
LAUNCH = ("import sys, digest.daemon.run as run; run.POLL_CHECK_SECONDS = float(sys.argv[1]); "
          "from digest.cli import main; sys.exit(main(sys.argv[2:]))")
LEADING = "leading: this replica polls"
NOT_LEADING = "not leading: another replica polls"
LOST = "lost the lease"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
EXCEPTION = re.compile(r"^[\w.]+(Error|Exception|Violation)\b")  # a traceback's last line


class TimedSink(Sink):
    """A Sink that also notes when each message was accepted."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay=delay)
        self.times: list[tuple[float, str]] = []  # (wall clock, recipient)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        self.times.append((time.time(), envelope.rcpt_tos[0]))
        return answer


@dataclass
class Replica:
    """One `digest run` process with its own proxy to PostgreSQL, SMTP sink and /healthz port."""

    n: int
    proxy: PgProxy
    smtp: SmtpServer
    http_port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"replica{self.n}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(POLL_CHECK), "run", "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=self.log.open("ab"),
            env={**os.environ, "DIGEST_SECRET_KEY": "test"})

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def lines(self, needle: str) -> list[tuple[datetime, str]]:
        """(time, line) of every log line containing `needle`."""
        out = []
        for line in self.text().splitlines():
            m = STAMP.match(line)
            if m and needle in line:
                out.append((datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f"), line))
        return out

    def health(self) -> dict[str, Any]:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=5)
        except httpx.HTTPError as exc:
            return {"status": f"unreachable: {exc!r}"}
        return {"code": answer.status_code, **answer.json()}


@dataclass
class Cluster:
    """N replicas on one PostgreSQL database (through N proxies), each with its own sink."""

    tmp_path: Path
    feeds: FeedServer
    count: int
    subscribers: int
    delay: float
    claim_timeout: float
    replicas: list[Replica] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)
    stopped: set[str] = field(default_factory=set)  # replicas the test killed or stopped

    def __post_init__(self) -> None:
        assert POSTGRES_URL
        reset_schema(POSTGRES_URL)
        self.direct: Engine = open_database(POSTGRES_URL)  # migrated: the replicas start quicker
        self.emails = [f"r{n:03d}@example.org" for n in range(self.subscribers)]
        subs = [{"email": e, "send_at": "00:00", "topics": ["large language models", "agents"]}
                for e in self.emails]
        url = make_url(POSTGRES_URL)
        for n in range(self.count):
            proxy = PgProxy(url.host or "127.0.0.1", url.port or 5432).start()
            smtp = SmtpServer(TimedSink(self.delay)).start()
            port = free_port()
            base = daemon_config(self.tmp_path, self.feeds, smtp, subs, http_port=port)
            doc = yaml.safe_load(base.read_text())
            doc["database"] = url.set(host="127.0.0.1", port=proxy.port, query={
                "application_name": f"replica{n}"}).render_as_string(hide_password=False)
            doc["delivery"]["claim_timeout_seconds"] = self.claim_timeout
            for source in doc["sources"]:  # polled every minute: the leader's work is visible
                source["schedule"] = {"every_minutes": 1}
            config = self.tmp_path / f"replica{n}.yaml"
            config.write_text(yaml.safe_dump(doc))
            self.replicas.append(Replica(n, proxy, smtp, port, config,
                                         self.tmp_path / f"replica{n}.log"))
        for replica in self.replicas:
            replica.start()
        self.note(f"{self.count} replicas started, {self.subscribers} subscribers, "
                  f"sink delay {self.delay * 1000:.0f} ms, claim timeout {self.claim_timeout:.0f} s")

    def note(self, what: str) -> None:
        self.events.append(f"{datetime.now():%H:%M:%S} t+{time.monotonic() - self.t0:5.1f}s  {what}")

    def received(self) -> list[Received]:
        return [r for replica in self.replicas for r in list(replica.smtp.sink.received)]

    def per_recipient(self) -> Counter[str]:
        return Counter(r.recipients[0] for r in self.received())

    def sent_by(self) -> dict[str, int]:
        return {r.name: len(r.smtp.sink.received) for r in self.replicas}

    def outbox(self) -> dict[str, int]:
        with self.direct.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(text(
                "SELECT status, count(*) FROM outbox GROUP BY status")).all()}

    def lease_holders(self) -> list[str]:
        """application_name of every session holding the lease (the polling lock)."""
        with self.direct.connect() as conn:
            return [str(a) for (a,) in conn.execute(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :k"),
                {"k": ADVISORY_KEY}).all()]

    def leaders_in_logs(self) -> list[Replica]:
        return [r for r in self.replicas if LEADING in r.text()]

    def everyone_served(self) -> bool:
        return set(self.per_recipient()) == set(self.emails) and \
            self.outbox().get("sent", 0) == self.subscribers

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> bool:
        """Wait for `check`; False (noted) on timeout or when a replica exits meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # a failing check is only 'not yet'
                if check():
                    self.note(what)
                    return True
            if not all(r.alive() for r in self.replicas if r.name not in self.stopped):
                self.note(f"a replica exited while waiting for {what}")
                return False
            time.sleep(0.2)
        self.note(f"TIMED OUT waiting for {what}")
        return False

    def stop(self) -> dict[str, int | None]:
        """SIGTERM every live replica; exit codes (None: was not running / did not stop)."""
        codes: dict[str, int | None] = {}
        for r in self.replicas:
            if r.alive() and r.proc is not None:
                r.proc.send_signal(signal.SIGTERM)
        for r in self.replicas:
            assert r.proc is not None
            try:
                codes[r.name] = r.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                codes[r.name] = None
        return codes

    def close(self) -> None:
        for r in self.replicas:
            if r.proc is not None and r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait(timeout=10)
            r.proxy.stop()
            r.smtp.stop()
        self.direct.dispose()

    def report(self, problems: list[str]) -> str:
        """Everything a reader needs: the timeline, counts, lease events, suspicious log lines."""
        per = self.per_recipient()
        lines = ["", *self.events,
                 f"accepted by the sinks per replica: {self.sent_by()}",
                 f"outbox: {self.outbox()}",
                 f"subscribers served: {len(per)}/{self.subscribers}, "
                 f"duplicates: {sum(n - 1 for n in per.values())} "
                 f"{sorted(e for e, n in per.items() if n > 1)}",
                 f"missing: {sorted(set(self.emails) - set(per))}"]
        copies = sorted((at, r.name, to) for r in self.replicas
                        for at, to in getattr(r.smtp.sink, "times", []) if per[to] > 1)
        lines += [f"    {to} accepted from {name} at "
                  f"{datetime.fromtimestamp(at):%H:%M:%S.%f}"[:-3] for at, name, to in copies]
        keys = (LEADING, NOT_LEADING, LOST, "cannot reach the database", "cannot take the lease",
                "answers again",
                "polled ", "ERROR", "taken over", "requeued", "delivered ", "SIGTERM", "Error:",
                "stopped")
        for r in self.replicas:
            lines.append(f"--- {r.name} (pid {r.proc.pid if r.proc else '-'}, proxy :{r.proxy.port},"
                         f" connections {r.proxy.accepted}, cut {r.proxy.aborted})")
            log = r.text().splitlines()
            failed = len(r.lines("raised an exception"))
            errors = Counter(ln[:160] for ln in log if EXCEPTION.match(ln))
            lines.append(f"    {failed} job(s) raised an exception (a traceback each); "
                         f"exceptions: {dict(errors.most_common(4))}")
            shown = [ln for ln in log if STAMP.match(ln) and any(k in ln for k in keys)
                     and "raised an exception" not in ln]
            lines += [f"    {ln[:220]}" for ln in shown[-40:]]
        lines += [f"PROBLEM: {p}" for p in problems]
        return "\n".join(lines)


@pytest.fixture
def cluster_factory(tmp_path: Path, feed_server: FeedServer) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(**kwargs: Any) -> Cluster:
        made.append(Cluster(tmp_path, feed_server, **kwargs))
        return made[-1]

    yield make
    for cluster in made:
        cluster.close()


def polls_too_close(cluster: Cluster, seconds: float) -> list[str]:
    """Two polls of one source (every minute) closer than `seconds`: two replicas acted."""
    polls: dict[str, list[tuple[datetime, str]]] = {}
    for r in cluster.replicas:
        for at, line in r.lines("polled "):
            source = line.split("polled ", 1)[1].split(":", 1)[0]
            polls.setdefault(source, []).append((at, r.name))
    out = []
    for source, seen in polls.items():
        seen.sort()
        for (a, ra), (b, rb) in pairwise(seen):
            if (b - a).total_seconds() < seconds:
                out.append(f"{source} polled by {ra} at {a:%H:%M:%S} and by {rb} at {b:%H:%M:%S}")
    return out


@pytest.mark.parametrize("cut", ["leader+standby", "all"])
def test_database_blip_under_delivery_crashes_nothing_and_sends_each_digest_once(
        cluster_factory: Callable[..., Cluster], cut: str) -> None:
    # The claim timeout (25 s) outlasts the cut (20 s): a replica that kept what it knows (which
    # messages the server accepted) could still mark them sent, under its own claims, afterwards.
    c = cluster_factory(count=3, subscribers=150, delay=0.05, claim_timeout=25)
    problems: list[str] = []
    try:
        assert c.wait(lambda: len(c.leaders_in_logs()) >= 1, 60, "a replica leads")
        assert c.wait(lambda: len(c.received()) >= 30 and
                      sum(1 for n in c.sent_by().values() if n) >= 2, 60,
                      "30 digests accepted, by two replicas or more (delivering)")
        leader = c.leaders_in_logs()[0]
        others = [r for r in c.replicas if r is not leader]
        victims = [leader, others[0]] if cut == "leader+standby" else list(c.replicas)
        before = c.sent_by()
        cut_at = datetime.now()
        for r in victims:
            r.proxy.cut()
        c.note(f"proxies of {[r.name for r in victims]} cut (lease holder: {leader.name}); "
               f"accepted so far {before}")
        time.sleep(20)
        if cut == "leader+standby":  # the replica still connected must have taken over by now
            holders = c.lease_holders()
            c.note(f"lease holder(s) during the cut: {holders}")
            if holders != [others[1].name]:
                problems.append(f"during the cut the lease is held by {holders}, "
                                f"expected the connected {others[1].name}")
        for r in victims:
            r.proxy.restore()
        c.note("proxies restored")
        c.wait(c.everyone_served, 90, "every subscriber served and every outbox row sent")
        time.sleep(3)  # a few more delivery cycles on every replica: nothing may repeat
        c.note("settled")
        exited = [r.name for r in c.replicas if not r.alive()]
        if exited:
            problems.append(f"replicas exited on their own: {exited}")
        if not any(at >= cut_at for at, _ in leader.lines(LOST)):
            problems.append(f"the lease holder {leader.name} never logged '{LOST}' after the cut")
        if cut == "leader+standby" and not any(at >= cut_at for at, _ in others[1].lines(LEADING)):
            problems.append(f"the connected {others[1].name} never logged '{LEADING}'")
        problems += polls_too_close(c, 30)
        for r in victims:  # the outage is said once (then after 1, 2, 4 … minutes), and its end
            said = [ln for at, ln in r.lines("cannot reach the database") if at >= cut_at]
            if len(said) > 2:
                problems.append(f"{r.name} logged 'cannot reach the database' {len(said)} times "
                                f"in a 20 s outage")
            if not r.lines("the database answers again"):
                problems.append(f"{r.name} never logged that the database answers again")
        if any(at >= cut_at for at, _ in leader.lines("polled ")) and \
                not any(at >= cut_at for at, _ in leader.lines(LEADING)):
            problems.append(f"{leader.name} polled after losing the lease without retaking it")
        holders = c.lease_holders()
        roles = {r.name: r.health().get("role") for r in c.replicas}
        c.note(f"after recovery: lease holder(s) {holders}, /healthz roles {roles}")
        if len(holders) != 1:
            problems.append(f"{len(holders)} lease holders after recovery: {holders}")
        elif [n for n, role in roles.items() if role == "leader"] != holders:
            problems.append(f"/healthz roles {roles} disagree with the lease holder {holders}")
        per = c.per_recipient()
        if set(per) != set(c.emails):
            problems.append(f"{len(set(c.emails) - set(per))} subscriber(s) got no digest")
        repeated = {e: n for e, n in per.items() if n > 1}
        if repeated:
            problems.append(f"{sum(n - 1 for n in repeated.values())} duplicate digest(s) after "
                            f"a database blip: {repeated}")
        if c.outbox().get("sent", 0) != c.subscribers:
            problems.append(f"outbox not all sent: {c.outbox()}")
        codes = c.stop()
        c.note(f"SIGTERM: exit codes {codes}")
        if any(code != 0 for code in codes.values()):
            problems.append(f"exit codes after SIGTERM: {codes}")
    finally:
        print(c.report(problems))
    assert not problems, c.report(problems)


def busiest(c: Cluster) -> tuple[Replica, dict[str, int]]:
    """The replica whose sink is receiving right now (most in the last 0.3 s), and those counts."""
    counts = c.sent_by()
    time.sleep(0.3)
    moving = {k: v - counts[k] for k, v in c.sent_by().items()}
    return max(c.replicas, key=lambda r: (moving[r.name], counts[r.name])), moving


def test_kill_9_of_the_sending_replica_loses_nothing_and_repeats_only_in_flight(
        cluster_factory: Callable[..., Cluster]) -> None:
    c = cluster_factory(count=3, subscribers=200, delay=0.05, claim_timeout=20)
    problems: list[str] = []
    try:
        assert c.wait(lambda: len(c.received()) >= 50, 60, "50 digests accepted (delivering)")
        victim, moving = busiest(c)
        was_leader = LEADING in victim.text()
        assert victim.proc is not None
        c.stopped.add(victim.name)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=10)
        at_kill = len(victim.smtp.sink.received)
        c.note(f"kill -9 {victim.name} ({'the lease holder' if was_leader else 'a standby'}) "
               f"after it had {at_kill} accepted; sending in the last 0.3 s: {moving}")
        survivors = [r for r in c.replicas if r is not victim]
        c.wait(c.everyone_served, 100, "every subscriber served and every outbox row sent")
        time.sleep(3)
        c.note("settled")
        exited = [r.name for r in survivors if not r.alive()]
        if exited:
            problems.append(f"replicas exited on their own: {exited}")
        if was_leader and not any(LEADING in r.text() for r in survivors):
            problems.append("no surviving replica took the lease")
        holders = c.lease_holders()
        if len(holders) != 1 or holders[0] == victim.name:
            problems.append(f"lease holder(s) after the kill: {holders}")
        per = c.per_recipient()
        duplicates = sum(n - 1 for n in per.values())
        c.note(f"duplicates after kill -9: {duplicates} "
               f"{sorted(e for e, n in per.items() if n > 1)}")
        if set(per) != set(c.emails):
            problems.append(f"lost: {len(set(c.emails) - set(per))} subscriber(s) got no digest")
        if duplicates > 2:  # the message on the wire and the one whose mark was being committed
            problems.append(f"{duplicates} duplicates: more than the messages in flight")
        if c.outbox().get("sent", 0) != c.subscribers:
            problems.append(f"outbox not all sent: {c.outbox()}")
        codes = {k: v for k, v in c.stop().items() if k != victim.name}
        c.note(f"SIGTERM: exit codes {codes}")
        if any(code != 0 for code in codes.values()):
            problems.append(f"exit codes after SIGTERM: {codes}")
    finally:
        print(c.report(problems))
    assert not problems, c.report(problems)


def test_sigterm_mid_send_finishes_the_message_and_hands_back_its_claims(
        cluster_factory: Callable[..., Cluster]) -> None:
    """README: SIGTERM "finishes the message in flight, commits, exits 0". The claim timeout is
    long (300 s): digests claimed by the stopped replica must go back to the queue at once, not
    wait for the timeout, and nothing may repeat."""
    # 200 ms per message: the signal almost always lands while a message is on the wire.
    c = cluster_factory(count=3, subscribers=150, delay=0.2, claim_timeout=300)
    problems: list[str] = []
    try:
        assert c.wait(lambda: len(c.received()) >= 30, 60, "30 digests accepted (delivering)")
        victim, moving = busiest(c)
        assert victim.proc is not None
        c.stopped.add(victim.name)
        victim.proc.send_signal(signal.SIGTERM)
        code = victim.proc.wait(timeout=30)
        c.note(f"SIGTERM {victim.name} (sending in the last 0.3 s: {moving}): exit code {code}, "
               f"{len(victim.smtp.sink.received)} accepted by its sink; outbox {c.outbox()}")
        if code != 0:
            problems.append(f"{victim.name} exited {code} on SIGTERM")
        if "CancelledError" in victim.text():
            problems.append(f"{victim.name}: the delivery job was cancelled by SIGTERM "
                            "(the message in flight was not finished)")
        if not c.wait(c.everyone_served, 25, "every subscriber served and every outbox row sent"):
            problems.append(f"not delivered within 25 s of the SIGTERM (claim timeout 300 s): "
                            f"outbox {c.outbox()}")
        time.sleep(2)
        per = c.per_recipient()
        duplicates = sum(n - 1 for n in per.values())
        c.note(f"duplicates after SIGTERM: {duplicates}")
        if duplicates:
            problems.append(f"{duplicates} duplicate(s) after a clean SIGTERM")
        codes = {k: v for k, v in c.stop().items() if k != victim.name}
        if any(v != 0 for v in codes.values()):
            problems.append(f"exit codes after SIGTERM: {codes}")
    finally:
        print(c.report(problems))
    assert not problems, c.report(problems)
