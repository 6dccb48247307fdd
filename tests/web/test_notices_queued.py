"""Confirmation and manage mails go through the outbox: queued in the request, sent right after
the response, retried by the delivery loop through an SMTP outage, sent once; the subscribe
answer takes as long for a known address as for an unknown one."""

from __future__ import annotations

import asyncio
import logging
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from digest.config import load_config
from digest.daemon.health import quiet_server, serve_app
from digest.deliver.outbox import deliver_queue
from digest.storage.db import open_database
from digest.storage.models import Outbox
from tests.smtpsink import Sink, SmtpServer, free_port
from tests.web.conftest import Site, site_config

SMTP_DOWN = {"transport": "smtp", "smtp": {"host": "127.0.0.1", "security": "none"}}


def notices(site: Site) -> list[Outbox]:
    with Session(site.engine) as s:
        return list(s.exec(select(Outbox).where(Outbox.kind != "digest")).all())


def test_a_confirmation_asked_during_an_smtp_outage_is_delivered_once_it_is_back(
        make_site: Any, caplog: pytest.LogCaptureFixture) -> None:
    server = SmtpServer()  # not listening yet: the mail server is down
    site: Site = make_site({"delivery": {**SMTP_DOWN,
                                         "smtp": {**SMTP_DOWN["smtp"], "port": server.port}}})
    caplog.set_level(logging.DEBUG)
    page = site.subscribe("ada@example.org")
    assert page.status_code == 200 and "Check your inbox" in page.text
    [queued] = notices(site)
    assert (queued.kind, queued.status, queued.attempts) == ("confirm", "queued", 0)
    assert "cannot reach the SMTP server" in (queued.last_error or "")
    server.start()
    try:
        first = asyncio.run(deliver_queue(site.engine, site.config))
        again = asyncio.run(deliver_queue(site.engine, site.config))
    finally:
        server.stop()
    assert (first.sent, again.sent) == (1, 0)
    [mail] = server.sink.to("ada@example.org")
    body = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https://digest\.lab\.example(/confirm/\S+)", body)
    assert link and site.client.get(link.group(1)).status_code == 200
    assert [n.status for n in notices(site)] == ["sent"]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("digest")]
    assert ours and not any("/confirm/" in line for line in ours)  # no body, no link logged


def test_the_manage_link_of_a_known_address_is_queued_and_sent_once(make_site: Any) -> None:
    site: Site = make_site(confirm_resend_minutes=0)
    site.subscribe("ada@example.org")
    token = site.link("confirm")
    site.client.post(token, data={"csrf_token": site.csrf(token)})
    site.subscribe("ada@example.org")  # known and active: the manage link is mailed
    assert [n.kind for n in notices(site)] == ["confirm", "manage"]
    assert {n.status for n in notices(site)} == {"sent"}
    assert [str(m["Subject"]) for m in site.mails("ada@example.org")] == [
        "Confirm your paper digest subscription", "Your paper digest settings"]


def _serve(tmp_path: Path, db_url: str, smtp_port: int) -> tuple[Any, threading.Thread, str]:
    port = free_port()
    path = site_config(tmp_path, db_url, {"delivery": {
        "transport": "smtp", "base_url": f"http://127.0.0.1:{port}",
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"}}},
        rate_limit_per_ip=1000, rate_limit_per_address=1000)
    config = load_config(path)
    server = quiet_server(serve_app(config, open_database(config.database)), "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def test_subscribe_answers_as_fast_for_a_known_address_as_for_an_unknown_one(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "web-test-secret")
    smtp = SmtpServer(Sink(delay=0.3)).start()  # a slow mail server: 300 ms a message
    server, thread, base = _serve(tmp_path, db_url, smtp.port)
    form = {"topics": "gaussian splatting", "timezone": "UTC", "send_at": "07:30",
            "cadence": "daily", "action": "subscribe"}
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    try:
        with httpx.Client(base_url=base) as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
            assert token
            form["csrf_token"] = token.group(1)
            client.post("/", data={**form, "email": "known@example.org"})
            for i in range(12):
                for who, email in (("unknown", f"new{i}@example.org"),
                                   ("known", "known@example.org")):
                    started = time.perf_counter()
                    answer = client.post("/", data={**form, "email": email})
                    times[who].append(time.perf_counter() - started)
                    assert answer.status_code == 200 and "Check your inbox" in answer.text
        deadline = time.monotonic() + 30
        while len(smtp.sink.received) < 13 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.should_exit = True
        thread.join(10)
        smtp.stop()
    known, unknown = (statistics.median(times[k]) for k in ("known", "unknown"))
    print(f"\nsubscribe response, median of 12: known address {known * 1000:.1f} ms, "
          f"unknown address {unknown * 1000:.1f} ms (mail server: 300 ms a message)")
    assert unknown < 0.3 and known < 0.3  # the mail is not sent inside the request
    assert abs(known - unknown) < 0.05
    assert len(smtp.sink.received) == 13  # every new address got its confirmation, once
    assert len(smtp.sink.to("known@example.org")) == 1  # resent only after confirm_resend_minutes


def test_a_notice_sent_right_away_respects_the_send_quota(make_site: Any) -> None:
    server = SmtpServer().start()
    try:
        site: Site = make_site({"delivery": {"transport": "smtp", "smtp": {
            "host": "127.0.0.1", "port": server.port, "security": "none",
            "quotas": [{"limit": 1, "per": "day"}]}}})
        site.subscribe("ada@example.org")  # takes the day's only slot
        site.subscribe("bob@example.org")  # queued: the quota holds for notices too
    finally:
        server.stop()
    assert [r.recipients for r in server.sink.received] == [["ada@example.org"]]
    assert sorted((n.recipient, n.status) for n in notices(site)) == [
        ("ada@example.org", "sent"), ("bob@example.org", "queued")]
