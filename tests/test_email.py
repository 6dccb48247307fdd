"""Compose, render and deliver digests: real SMTP server on loopback, golden files, outages."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from sqlmodel import Session, select

from digest.cli import main
from digest.clock import utcnow
from digest.compose.digests import compose_due
from digest.config import load_config
from digest.sources import arxiv_rss, hf_daily
from digest.sources.records import PaperRecord
from digest.storage.db import open_database, session_scope
from digest.storage.models import Outbox, OutboxPaper, Paper, Subscriber
from digest.storage.papers import upsert_papers
from tests.conftest import read_data
from tests.factories import HF_DAY, RSS_4
from tests.smtpsink import SmtpServer

GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2026, 6, 12, 5, 0, tzinfo=UTC)
ADA = {"email": "ada@example.org", "name": "Ada Lovelace", "timezone": "Europe/London",
       "send_at": "07:30", "topics": ["large language models evaluation and annotation"],
       "keywords": ["LLM", "benchmark"], "max_papers": 5}


def make_config(tmp_path: Path, db_url: str, subscribers: list[dict[str, Any]],
                **delivery: Any) -> Path:
    """A config with the given subscribers and delivery settings."""
    doc = {"database": db_url, "subscribers": subscribers,
           "delivery": {"from": "Paper Digest <digest@lab.example>",
                        "base_url": "https://digest.lab.example", "outbox_dir": "outbox",
                        **delivery}}
    path = tmp_path / "digest.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def store_real_papers(db_url: str, extra: list[PaperRecord] | None = None,
                      at: datetime = T0) -> None:
    """The real HF day (with upvotes and AI summaries) and an arXiv RSS capture, first seen `at`."""
    engine = open_database(db_url)
    with session_scope(engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), at)
        upsert_papers(s, "arxiv", arxiv_rss.parse(read_data(RSS_4)), at)
        if extra:
            upsert_papers(s, "hostile", extra, at)


def store_fresh_papers(db_url: str) -> None:
    """The same real papers, first seen just now (for `digest send`, which uses the clock)."""
    store_real_papers(db_url, at=utcnow() - timedelta(minutes=5))


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret")


def outbox(db_url: str) -> list[Outbox]:
    with Session(open_database(db_url)) as s:
        return list(s.exec(select(Outbox).order_by(Outbox.id)).all())  # type: ignore[arg-type]


def scrub(text: str) -> str:
    """Remove what changes run to run: boundaries, Message-ID, tokens."""
    text = text.replace("\r\n", "\n")
    text = re.sub(r"=+[0-9]{10,}==", "==BOUNDARY==", text)
    text = re.sub(r"<[0-9.]+\.digest@lab\.example>", "<MESSAGE-ID>", text)
    return re.sub(r"/(manage|unsubscribe|vote)/[A-Za-z0-9_.\-]+", r"/\1/TOKEN", text)


def check_golden(name: str, actual: str) -> None:
    """Compare with tests/golden/NAME; UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing {path}; run with UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8")


def test_golden_html_and_text_digest(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/g.db"
    store_real_papers(db)
    config = load_config(make_config(tmp_path, db, [ADA]))
    composed = compose_due(open_database(db), config, T0 + timedelta(hours=3))
    assert [c.status for c in composed] == ["queued"]
    message = outbox(db)[0].message
    assert message is not None
    from email import message_from_bytes, policy
    msg = message_from_bytes(message, policy=policy.default)
    check_golden("digest.html", scrub(msg.get_body(("html",)).get_content()))  # type: ignore[union-attr]
    check_golden("digest.txt", scrub(msg.get_body(("plain",)).get_content()))  # type: ignore[union-attr]


def test_twenty_five_papers_stay_under_gmail_clipping(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/g.db"
    store_real_papers(db)
    many = {**ADA, "max_papers": 25, "topics": ["language models", "learning", "agents"],
            "keywords": ["model", "data"]}
    config = load_config(make_config(tmp_path, db, [many]))
    compose_due(open_database(db), config, T0 + timedelta(hours=3))
    row = outbox(db)[0]
    from email import message_from_bytes, policy
    html = message_from_bytes(row.message or b"", policy=policy.default).get_body(("html",))
    body = html.get_content()  # type: ignore[union-attr]
    assert row.paper_count == 25
    assert len(body.encode()) < 100_000
    assert "prefers-color-scheme: dark" in body and 'style="' in body  # inlined, dark kept


def test_second_compose_is_a_no_op_and_papers_never_repeat(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/g.db"
    store_real_papers(db)
    config = load_config(make_config(tmp_path, db, [ADA]))
    engine = open_database(db)
    compose_due(engine, config, T0 + timedelta(hours=3), force=True)
    assert compose_due(engine, config, T0 + timedelta(hours=4), force=True) == []
    next_day = T0 + timedelta(days=1, hours=3)
    with session_scope(engine) as s:  # the same papers seen again tomorrow
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), next_day - timedelta(hours=1))
    compose_due(engine, config, next_day, force=True)
    with Session(engine) as s:
        ids = [p.paper_id for p in s.exec(select(OutboxPaper)).all()]
    assert len(ids) == len(set(ids)) > 0


def test_hostile_feed_text_is_escaped_and_headers_hold(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/g.db"
    evil = PaperRecord(
        canonical_id="2606.99999", arxiv_id="2606.99999",
        title="Benchmark LLM\r\nBcc: victim@example.org\r\n" + "A" * 5000,
        abstract="LLM benchmark <script>alert(1)</script> <img src=x onerror=alert(2)> done. "
                 + "LLM annotation evaluation benchmark. " * 5,
        authors=["Mallory <script>"], url="javascript:alert(3)")
    store_real_papers(db, [evil])
    config = load_config(make_config(tmp_path, db, [{**ADA, "max_papers": 30}]))
    compose_due(open_database(db), config, T0 + timedelta(hours=3))
    with Session(open_database(db)) as s:
        placed = s.exec(select(OutboxPaper.paper_id)).all()
    assert len(placed) > 1
    raw = outbox(db)[0].message or b""
    from email import message_from_bytes, policy
    msg = message_from_bytes(raw, policy=policy.default)
    headers = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert msg["Bcc"] is None and not re.search(r"^bcc:", headers, re.I | re.M)
    assert "\n" not in str(msg["Subject"]) and len(str(msg["Subject"])) < 200
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script" not in html and "<img" not in html and "javascript:" not in html
    assert "&lt;script&gt;" in html and "A" * 600 not in html
    assert max(len(line) for line in str(msg["Subject"]).splitlines()) < 300


# --- delivery over SMTP -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    """(server SSLContext, CA file) for a certificate valid for 127.0.0.1 and localhost."""
    import ssl
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield ctx, ca_file


SUBS = [ADA, {**ADA, "email": "bob@example.org", "name": "Bob"},
        {**ADA, "email": "eve@example.org", "name": "Eve"}]


def send(config: Path) -> int:
    return main(["send", "-c", str(config), "--force"])


@pytest.mark.parametrize("mode", ["none", "starttls", "tls"])
def test_delivery_modes_parse_as_multipart_with_all_headers(
        tmp_path: Path, db_url: str, tls: tuple[Any, Path], mode: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, ca_file = tls
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    server = SmtpServer(mode=mode, context=ctx, users={"digest": "s3cret"}).start()
    try:
        store_fresh_papers(db_url)
        config = make_config(tmp_path, db_url, SUBS, transport="smtp", smtp={
            "host": "127.0.0.1", "port": server.port, "security": mode, "username": "digest",
            "password_env": "SMTP_PASSWORD", "ca_file": str(ca_file), "timeout": 10})
        assert send(config) == 0
    finally:
        server.stop()
    assert sorted(r.recipients[0] for r in server.sink.received) == sorted(s["email"] for s in SUBS)
    msg = server.sink.to("ada@example.org")[0].message
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe"):
        assert msg[header], header
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    raw = raw_headers(server.sink.to("ada@example.org")[0].data)
    assert re.search(r"^List-Unsubscribe: <https://digest\.lab\.example/unsubscribe/[\w.\-]+>$",
                     raw, re.M), raw  # literal, one line, no mailto nobody reads
    assert re.search(r"^List-Unsubscribe-Post: List-Unsubscribe=One-Click$", raw, re.M)
    row = next(r for r in outbox(db_url) if r.recipient == "ada@example.org")
    assert msg["Message-ID"] == row.message_id and row.status == "sent"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    with Session(open_database(db_url)) as s:
        ranked = s.exec(select(Paper.title).join(OutboxPaper, OutboxPaper.paper_id == Paper.id)
                        .where(OutboxPaper.outbox_id == row.id)
                        .order_by(OutboxPaper.position)).all()  # type: ignore[arg-type]
    positions = [text.find(f"{n}. {title[:40]}") for n, title in enumerate(ranked, 1)]
    assert len(ranked) == row.paper_count > 1
    assert -1 not in positions and positions == sorted(positions)


def test_wrong_password_keeps_everything_queued(tmp_path: Path, tls: tuple[Any, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path}/d.db"
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")
    server = SmtpServer(mode="starttls", context=tls[0], users={"digest": "s3cret"}).start()
    try:
        store_fresh_papers(db)
        config = make_config(tmp_path, db, SUBS, transport="smtp", smtp={
            "host": "127.0.0.1", "port": server.port, "security": "starttls",
            "username": "digest", "password_env": "SMTP_PASSWORD", "ca_file": str(tls[1])})
        assert send(config) != 0
    finally:
        server.stop()
    assert [r.status for r in outbox(db)] == ["queued"] * 3 and server.sink.received == []


def test_outage_then_recovery_delivers_each_digest_exactly_once(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    server = SmtpServer()
    store_fresh_papers(db_url)
    config = make_config(tmp_path, db_url, SUBS, transport="smtp",
                         smtp={"host": "127.0.0.1", "port": server.port, "security": "none",
                               "timeout": 5})
    assert send(config) != 0
    assert "could not be reached" in capsys.readouterr().err
    assert [r.status for r in outbox(db_url)] == ["queued"] * 3
    server.start()
    try:
        assert send(config) == 0
        assert send(config) == 0  # nothing left: never twice
    finally:
        server.stop()
    assert sorted(r.recipients[0] for r in server.sink.received) == sorted(s["email"] for s in SUBS)
    assert all(r.status == "sent" for r in outbox(db_url))


def test_one_refused_recipient_does_not_stop_the_others_and_pauses_after_n(
        tmp_path: Path, db_url: str) -> None:
    server = SmtpServer().start()
    server.sink.refuse.add("bob@example.org")
    try:
        store_fresh_papers(db_url)
        config = make_config(tmp_path, db_url, SUBS, transport="smtp", pause_after_failures=1,
                             smtp={"host": "127.0.0.1", "port": server.port, "security": "none"})
        assert send(config) == 0
    finally:
        server.stop()
    assert sorted(r.recipients[0] for r in server.sink.received) == \
        ["ada@example.org", "eve@example.org"]
    bob = next(r for r in outbox(db_url) if r.recipient == "bob@example.org")
    assert bob.status == "failed" and "550" in (bob.last_error or "")
    with Session(open_database(db_url)) as s:
        status = s.exec(select(Subscriber.status).where(Subscriber.email == "bob@example.org")).one()
    assert status == "paused"


def test_temporary_refusal_is_retried_later(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/d.db"
    server = SmtpServer().start()
    server.sink.refuse.add("bob@example.org")
    server.sink.refuse_code = "451 4.3.0 try again later"
    try:
        store_fresh_papers(db)
        config = make_config(tmp_path, db, SUBS, transport="smtp",
                             smtp={"host": "127.0.0.1", "port": server.port, "security": "none"})
        assert send(config) == 0
    finally:
        server.stop()
    bob = next(r for r in outbox(db) if r.recipient == "bob@example.org")
    assert bob.status == "queued" and bob.attempts == 1 and bob.next_attempt_at is not None


def test_file_transport_writes_eml_and_index(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/d.db"
    store_fresh_papers(db)
    config = make_config(tmp_path, db, SUBS)
    assert send(config) == 0
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 3
    index = (tmp_path / "outbox" / "index.html").read_text()
    assert all(f.name in index for f in files) and "Paper digest" in index


def test_preview_records_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/d.db"
    store_fresh_papers(db)
    config = make_config(tmp_path, db, [ADA])
    out = tmp_path / "page.html"
    assert main(["preview", "-c", str(config), "--subscriber", "ada@example.org",
                 "--date", (T0 + timedelta(hours=3)).isoformat(), "--out", str(out)]) == 0
    assert "<html" in out.read_text() and "Subject: Paper digest" in capsys.readouterr().out
    assert outbox(db) == []


def test_templates_dir_overrides_the_shipped_templates(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/g.db"
    store_real_papers(db)
    custom = tmp_path / "my-templates" / "email"
    custom.mkdir(parents=True)
    (custom / "digest.txt.j2").write_text("Lab digest for {{ d.recipient }}: "
                                          "{{ d.papers | length }} papers\n")
    config = load_config(make_config(tmp_path, db, [ADA], templates_dir="my-templates"))
    compose_due(open_database(db), config, T0 + timedelta(hours=3))
    from email import message_from_bytes, policy
    msg = message_from_bytes(outbox(db)[0].message or b"", policy=policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Lab digest for ada@example.org: 5 papers")
    assert "For you" in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]


async def test_server_gone_mid_batch_keeps_the_rest_queued_uncounted(tmp_path: Path) -> None:
    from digest.deliver.memory import MemoryMailer
    from digest.deliver.outbox import deliver_queue
    from digest.errors import DeliveryError

    db = f"sqlite:///{tmp_path}/d.db"
    store_fresh_papers(db)
    config = load_config(make_config(tmp_path, db, SUBS))
    engine = open_database(config.database)
    assert [c.status for c in compose_due(engine, config, force=True)] == ["queued"] * 3
    gone = DeliveryError("connection lost", temporary=True, down=True)
    mailer = MemoryMailer(refuse=lambda to: gone if to == "bob@example.org" else None)
    report = await deliver_queue(engine, config, mailer)
    assert report.server_down and report.sent == 1 and report.failed == 0
    assert [m.recipient for m in mailer.sent] == ["ada@example.org"]
    assert mailer.sent[0].message.startswith(b"From: ") and b"List-Unsubscribe-Post" in mailer.sent[0].message
    rows = {r.recipient: r for r in outbox(db)}
    assert rows["ada@example.org"].status == "sent"
    assert [(rows[a].status, rows[a].attempts) for a in ("bob@example.org", "eve@example.org")] \
        == [("queued", 0), ("queued", 0)]


def raw_headers(data: bytes) -> str:
    """The header block as the SMTP server received it (continuation lines kept), LF endings."""
    return data.split(b"\r\n\r\n")[0].decode("utf-8").replace("\r\n", "\n")


def test_structured_headers_are_literal_in_the_received_bytes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/d.db"
    server = SmtpServer().start()
    try:
        store_fresh_papers(db)
        subs = [{**ADA, "name": "Jörg Müller-Ünal"}]
        config = make_config(tmp_path, db, subs, transport="smtp", unsubscribe_mailto="leave@lab.example",
                             smtp={"host": "127.0.0.1", "port": server.port, "security": "none"})
        assert send(config) == 0
    finally:
        server.stop()
    raw = raw_headers(server.sink.received[0].data)
    assert raw.isascii()
    unsub = re.search(r"^List-Unsubscribe: (.*(?:\n[ \t].*)*)$", raw, re.M)
    assert unsub, raw
    targets = [t.strip() for t in re.sub(r"\n[ \t]+", " ", unsub.group(1)).split(",")]
    assert re.fullmatch(r"<https://digest\.lab\.example/unsubscribe/[\w.\-]+>", targets[0])
    assert re.fullmatch(r"<mailto:leave@lab\.example\?subject=unsubscribe%20\d+>", targets[1])
    assert "=?" not in unsub.group(1)
    assert re.search(r"^List-Id: Paper Digest <digest\.lab\.example>$", raw, re.M)
    assert re.search(r"^Message-ID: <[^<>\s]+@lab\.example>$", raw, re.M)
    assert re.search(r"^From: Paper Digest <digest@lab\.example>$", raw, re.M)
    to = re.search(r"^To: (.*)$", raw, re.M)
    assert to and to.group(1).endswith(" <ada@example.org>") and "=?utf-8?" in to.group(1)
    assert server.sink.received[0].message["To"] == "Jörg Müller-Ünal <ada@example.org>"


@pytest.mark.parametrize("smtputf8", [True, False])
def test_internationalised_addresses_go_out_or_fail_alone(tmp_path: Path, smtputf8: bool) -> None:
    db = f"sqlite:///{tmp_path}/d.db"
    server = SmtpServer(smtputf8=smtputf8).start()
    subs = [{**ADA, "email": "jörg@bücher.de", "name": "Jörg"}, ADA,
            {**ADA, "email": "eve@bücher.de", "name": "Eve"}]
    try:
        store_fresh_papers(db)
        config = make_config(tmp_path, db, subs, transport="smtp",
                             smtp={"host": "127.0.0.1", "port": server.port, "security": "none"})
        assert send(config) == 0
    finally:
        server.stop()
    got = {r.recipients[0]: r for r in server.sink.received}
    assert "ada@example.org" in got and "eve@xn--bcher-kva.de" in got  # IDNA domain: plain SMTP
    rows = {r.recipient: r for r in outbox(db)}
    if smtputf8:
        assert "jörg@xn--bcher-kva.de" in got
        assert "To: Jörg <jörg@xn--bcher-kva.de>" in raw_headers(got["jörg@xn--bcher-kva.de"].data)
        assert all(r.status == "sent" for r in rows.values())
    else:
        assert len(got) == 2
        failed = rows["jörg@xn--bcher-kva.de"]
        assert failed.status == "failed" and "SMTPUTF8" in (failed.last_error or "")


def test_one_subscriber_whose_render_raises_fails_alone_and_status_says_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from digest.compose.render import packaged_templates

    own = tmp_path / "mytemplates" / "email"
    own.mkdir(parents=True)
    shipped = (packaged_templates() / "email" / "digest.txt.j2").read_text()
    (own / "digest.txt.j2").write_text(  # breaks for one recipient only
        '{% if d.recipient == "bob@example.org" %}{{ no_such_field }}{% endif %}' + shipped)
    db = f"sqlite:///{tmp_path}/d.db"
    server = SmtpServer().start()
    try:
        store_fresh_papers(db)
        config = make_config(tmp_path, db, SUBS, transport="smtp", templates_dir="mytemplates",
                             smtp={"host": "127.0.0.1", "port": server.port, "security": "none"})
        assert send(config) == 0
        assert send(config) == 0  # the next cycle neither retries bob nor repeats the others
    finally:
        server.stop()
    assert sorted(r.recipients[0] for r in server.sink.received) == \
        ["ada@example.org", "eve@example.org"]
    bob = next(r for r in outbox(db) if r.recipient == "bob@example.org")
    assert bob.status == "failed" and "no_such_field" in (bob.last_error or "")
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0
    status = capsys.readouterr().out
    assert "bob@example.org" in status and "composing the digest failed" in status


def test_a_stored_subscriber_with_nul_in_interests_does_not_stop_the_others(
        tmp_path: Path, db_url: str) -> None:
    server = SmtpServer().start()
    try:
        store_fresh_papers(db_url)
        config = make_config(tmp_path, db_url, SUBS, transport="smtp",
                             smtp={"host": "127.0.0.1", "port": server.port, "security": "none"})
        with session_scope(open_database(db_url)) as s:  # a row from before inputs were checked
            s.add(Subscriber(email="nul@example.org", origin="web", token_nonce="n",
                             interests={"topics": ["large\x00language models"],
                                        "keywords": ["LLM\x00"], "max_papers": 3}))
        assert send(config) == 0
    finally:
        server.stop()
    got = sorted(r.recipients[0] for r in server.sink.received)
    assert got == ["ada@example.org", "bob@example.org", "eve@example.org", "nul@example.org"]
    assert all(b"\x00" not in r.data for r in server.sink.received)


def test_control_characters_are_refused_at_the_config(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path}/d.db",
                         [{**ADA, "topics": ["large\x00language models"]}])
    assert main(["check-config", "-c", str(config)]) == 2
    assert "subscribers[0].topics" in capsys.readouterr().err


def test_unknown_names_on_the_command_line_exit_2(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path}/d.db", SUBS)
    assert main(["send", "-c", str(config), "--subscriber", "nobody@example.org"]) == 2
    assert main(["poll", "-c", str(config), "--source", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "nobody@example.org" in err and "nosuch" in err


def test_missing_password_variable_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SMTP_PASSWORD", raising=False)
    config = make_config(tmp_path, f"sqlite:///{tmp_path}/d.db", SUBS, transport="smtp",
                         smtp={"host": "127.0.0.1", "port": 9, "username": "digest",
                               "password_env": "NO_SUCH_SMTP_PASSWORD"})
    assert main(["check-config", "-c", str(config)]) == 2
    assert "NO_SUCH_SMTP_PASSWORD" in capsys.readouterr().err
    store_fresh_papers(f"sqlite:///{tmp_path}/d.db")
    assert send(config) == 1  # stays queued, and says why
    assert "NO_SUCH_SMTP_PASSWORD" in capsys.readouterr().err
    assert {r.status for r in outbox(f"sqlite:///{tmp_path}/d.db")} == {"queued"}


async def test_a_message_that_always_breaks_the_connection_does_not_block_the_queue(
        tmp_path: Path) -> None:
    from digest.deliver.memory import MemoryMailer
    from digest.deliver.outbox import deliver_queue
    from digest.errors import DeliveryError

    db = f"sqlite:///{tmp_path}/d.db"
    store_fresh_papers(db)
    config = load_config(make_config(tmp_path, db, SUBS))
    engine = open_database(config.database)
    compose_due(engine, config, force=True)
    breaks = DeliveryError("server dropped the connection", temporary=True, down=True,
                           on_wire=True)
    mailer = MemoryMailer(refuse=lambda to: breaks if to == "bob@example.org" else None)
    first = await deliver_queue(engine, config, mailer)
    second = await deliver_queue(engine, config, mailer)
    assert first.server_down and [m.recipient for m in mailer.sent] == \
        ["ada@example.org", "eve@example.org"]  # eve goes out on the next run, past bob
    assert not second.server_down
    bob = next(r for r in outbox(db) if r.recipient == "bob@example.org")
    assert bob.status == "queued" and bob.attempts == 1 and bob.next_attempt_at is not None


def test_a_stored_subscriber_with_an_unknown_time_zone_does_not_stop_the_others(
        tmp_path: Path) -> None:
    # tomorrow at noon UTC, past every subscriber's 07:30 London send time whenever this runs
    # (tomorrow at this hour was before it for a run between midnight and 07:30), with the
    # papers first seen an hour before
    noon = (utcnow() + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    db = f"sqlite:///{tmp_path}/d.db"
    store_real_papers(db, at=noon - timedelta(hours=1))
    config = load_config(make_config(tmp_path, db, SUBS))
    engine = open_database(config.database)
    with session_scope(engine) as s:  # a zone tzdata no longer knows, a send time mangled
        s.add(Subscriber(email="mars@example.org", timezone="Mars/Olympus_Mons", send_at="7h",
                         token_nonce="n", interests={"topics": ["language models"]}))
    composed = compose_due(engine, config, force=False, now=noon)
    assert {c.email for c in composed} == {s["email"] for s in SUBS}
    assert all(c.papers for c in composed)  # real digests, not empty ones
