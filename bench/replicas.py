"""Delivery throughput of 1, 2 and 3 `digest run` replicas sharing one PostgreSQL database
(one SMTP connection each), and of one replica with 1 and with 4 connections.

The SMTP sink (aiosmtpd, in its own process) answers each message after a fixed delay (20 ms),
like a remote MTA. The digests are composed once, here; before each run every one of them is
put back in the queue, the sink is restarted and N replicas are started together. A run ends
when the database has every digest marked sent; its time is from the sink's first accepted
message to its last.

    .venv/bin/python bench/replicas.py [--database URL] [--digests 900] [--delay-ms 20]
        [--replicas 1,2,3] [--connections 4]

It DROPS AND RECREATES the `public` schema of --database (default: the test_h2 database).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text

from digest.clock import utcnow
from digest.compose.digests import compose_due
from digest.config import load_config
from digest.sources import jsonl
from digest.storage.db import make_engine, open_database, reset_schema, session_scope
from digest.storage.papers import upsert_papers

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from smtp_sink import free_port, start_sink, stop_sink  # noqa: E402

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test_h2"
TOPICS = ["large language models", "diffusion models for images", "reinforcement learning",
          "graph neural networks", "speech recognition", "robot manipulation"]


# -- the bench --------------------------------------------------------------------------------
def write_config(tmp: Path, database: str, port: int, count: int, connections: int = 1) -> Path:
    subs = [{"email": f"reader{i}@bench.example", "topics": [TOPICS[i % len(TOPICS)]],
             "keywords": ["benchmark"], "max_papers": 10} for i in range(count)]
    doc = {"database": database, "subscribers": subs,
           "daemon": {"delivery_every_seconds": 1, "shutdown_grace_seconds": 10},
           "delivery": {"transport": "smtp", "from": "Paper Digest <digest@bench.example>",
                        "base_url": "https://digest.bench.example",
                        "smtp": {"host": "127.0.0.1", "port": port, "security": "none",
                                 "connections": connections}}}
    path = tmp / f"replicas-{connections}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def compose_all(config_path: Path) -> int:
    """Store the demo papers and compose one digest per subscriber; how many were queued."""
    config = load_config(config_path)
    engine = open_database(config.database)
    papers = jsonl.parse((ROOT / "config/demo/2026-06-11.jsonl").read_bytes())
    papers += jsonl.parse((ROOT / "config/demo/2026-06-12.jsonl").read_bytes())
    with session_scope(engine) as s:
        upsert_papers(s, "bench", papers, utcnow() - timedelta(minutes=5))
    composed = compose_due(engine, config, force=True)
    engine.dispose()
    return sum(1 for c in composed if c.status == "queued")


def requeue_all(database: str) -> None:
    engine = make_engine(database)
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET status = 'queued', claimed_at = NULL, sent_at = NULL,"
                          " attempts = 0, next_attempt_at = NULL, last_error = NULL"))
    engine.dispose()


def sent_count(database: str) -> int:
    engine = make_engine(database)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM outbox WHERE status = 'sent'")).scalar()
    engine.dispose()
    return int(n or 0)


def one_run(database: str, config: Path, tmp: Path, replicas: int, expected: int,
            port: int, delay: float, connections: int = 1) -> dict[str, Any]:
    """Start `replicas` daemons on the queue; the sink's view of the run."""
    requeue_all(database)
    sink = start_sink(port, delay)
    logs = [tmp / f"run{replicas}x{connections}-replica{n}.log" for n in range(replicas)]
    procs = [subprocess.Popen([sys.executable, "-m", "digest.cli", "run", "-c", str(config)],
                              stdout=subprocess.DEVNULL, stderr=log.open("wb"),
                              env={**os.environ, "DIGEST_SECRET_KEY": "bench"}) for log in logs]
    try:
        deadline = time.monotonic() + 600
        while sent_count(database) < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"{replicas} replica(s): not every digest sent within 600 s")
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a replica exited; see {tmp}")
            time.sleep(0.2)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        accepted = stop_sink(sink)
    times = sorted(t for t, _ in accepted)
    seconds = times[-1] - times[0] if len(times) > 1 else float("nan")
    per_replica = [sum(int(n) for n in re.findall(r"delivered (\d+),", log.read_text()))
                   for log in logs]
    by_session: dict[int, list[float]] = {}
    for t, client_port in accepted:
        by_session.setdefault(client_port, []).append(t)
    # All sessions sending at once: from the last session's first message to the first one's last.
    start = max(min(ts) for ts in by_session.values())
    end = min(max(ts) for ts in by_session.values())
    together = sum(1 for t in times if start <= t <= end)
    return {"replicas": replicas, "conns": connections, "messages": len(accepted), "seconds": seconds,
            "rate": len(accepted) / seconds, "per_replica": per_replica,
            "connections": len(by_session), "duplicates": len(accepted) - expected,
            "together": together / (end - start) if end - start > 1 else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database", default=DEFAULT_DATABASE,
                    help="PostgreSQL URL; its public schema is dropped and recreated")
    ap.add_argument("--digests", type=int, default=900)
    ap.add_argument("--delay-ms", type=float, default=20.0, help="the sink's delay per message")
    ap.add_argument("--replicas", default="1,2,3", help="comma-separated replica counts")
    ap.add_argument("--connections", type=int, default=4,
                    help="SMTP connections of the one-replica run compared with one connection")
    args = ap.parse_args()
    if not args.database.startswith("postgresql"):
        raise SystemExit("--database must be a PostgreSQL URL (replicas need PostgreSQL)")
    delay = args.delay_ms / 1000
    reset_schema(args.database)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = write_config(tmp, args.database, port, args.digests)
        pooled = write_config(tmp, args.database, port, args.digests, args.connections)
        start = time.perf_counter()
        queued = compose_all(config)
        print(f"composed {queued} digests in {time.perf_counter() - start:.1f} s; sink delay "
              f"{args.delay_ms:.0f} ms per message; database {args.database}", flush=True)
        results = []
        for n in (int(x) for x in args.replicas.split(",")):
            results.append(one_run(args.database, config, tmp, n, queued, port, delay))
            r = results[-1]
            print(f"  {n} replica(s): {r['messages']} messages in {r['seconds']:.2f} s "
                  f"({r['rate']:.1f} msg/s), per replica {r['per_replica']}", flush=True)
        if args.connections > 1:
            results.append(one_run(args.database, pooled, tmp, 1, queued, port, delay,
                                   args.connections))
            r = results[-1]
            print(f"  1 replica, {args.connections} connections: {r['messages']} messages in "
                  f"{r['seconds']:.2f} s ({r['rate']:.1f} msg/s)", flush=True)
    base = next(r["rate"] for r in results if r["replicas"] == 1 and r["conns"] == 1)
    print()
    print(f"{'replicas':>8} {'conns':>5} {'messages':>9} {'seconds':>8} {'msg/s':>8} {'vs 1x1':>6} "
          f"{'msg/s all sending':>17} {'sessions':>8} {'dups':>5}  sent by each replica")
    for r in results:
        print(f"{r['replicas']:>8} {r['conns']:>5} {r['messages']:>9} {r['seconds']:>8.2f} "
              f"{r['rate']:>8.1f} {r['rate'] / base:>5.2f}x {r['together']:>17.1f} "
              f"{r['connections']:>8} {r['duplicates']:>5}  {r['per_replica']}")
    print(f"\nseconds: the sink's first to last acceptance (start-up stagger included); "
          f"msg/s all sending: only while every SMTP session was sending; one connection's "
          f"ceiling at {args.delay_ms:.0f} ms per message: {1 / delay:.0f} msg/s; "
          f"{os.cpu_count()} CPU(s) for the replicas, the sink and PostgreSQL")


if __name__ == "__main__":
    main()
