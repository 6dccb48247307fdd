"""Every route of the web app through Starlette's TestClient, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from digest.clock import utcnow
from digest.compose.schedule import due_date
from digest.sources import hf_daily
from digest.storage.db import session_scope
from digest.storage.models import Outbox, Subscriber
from digest.storage.papers import upsert_papers
from tests.conftest import read_data
from tests.factories import HF_DAY
from tests.web.conftest import Site


def subscriber(site: Site, email: str = "ada@example.org") -> Subscriber:
    with Session(site.engine) as s:
        row = s.exec(select(Subscriber).where(Subscriber.email == email)).one()
    return row


def confirm(site: Site, email: str = "ada@example.org", **fields: Any) -> str:
    """Subscribe, follow the emailed link, press Confirm; return the manage path."""
    site.subscribe(email, **fields)
    link = site.link("confirm", email)
    page = site.client.post(link, data={"csrf_token": site.csrf(link)}, follow_redirects=False)
    assert page.status_code == 303
    return str(page.headers["location"]).split("?")[0]


def test_start_page_has_form_security_headers_and_csrf_cookie(site: Site) -> None:
    page = site.client.get("/")
    assert page.status_code == 200 and 'name="email"' in page.text and "Preview" in page.text
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "digest_csrf" in page.cookies and "<script>" not in page.text.replace(
        '<script src="/static/tz.js" defer></script>', "")
    assert site.client.get("/static/tz.js").status_code == 200
    assert site.client.get("/healthz").json()["status"] == "ok"


def test_subscribe_is_pending_until_confirmed_then_active(site: Site) -> None:
    answer = site.subscribe()
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert subscriber(site).status == "pending" and subscriber(site).origin == "web"
    mail = site.mails("ada@example.org")[-1]
    assert "Confirm" in str(mail["Subject"])
    link = site.link("confirm")
    button = site.client.get(link)
    assert button.status_code == 200 and "Yes, confirm" in button.text
    assert subscriber(site).status == "pending"  # a GET (link scanner) changes nothing
    manage = confirm_path = site.client.post(link, data={"csrf_token": site.csrf(link)},
                                             follow_redirects=False)
    assert confirm_path.status_code == 303 and "/manage/" in manage.headers["location"]
    assert subscriber(site).status == "active"
    again = site.client.post(link, data={"csrf_token": site.csrf()})
    assert again.status_code == 400 and "already been used" in again.text


def test_same_answer_for_known_and_unknown_addresses(make_site: object) -> None:
    site: Site = make_site(confirm_resend_minutes=0)  # type: ignore[operator]
    confirm(site)
    known = site.subscribe("ada@example.org")
    unknown = site.subscribe("someone@example.org")
    strip = lambda text: text.replace("ada@example.org", "").replace("someone@example.org", "")  # noqa: E731
    assert known.status_code == unknown.status_code == 200
    assert strip(known.text).split("<h1>")[1] == strip(unknown.text).split("<h1>")[1]
    assert "settings" in str(site.mails("ada@example.org")[-1]["Subject"])  # a manage link
    assert subscriber(site).interests["topics"] == ["gaussian splatting"]  # not overwritten


def test_token_edge_cases(make_site: object) -> None:
    site: Site = make_site(confirm_max_age_hours=0.0003)  # type: ignore[operator]
    site.subscribe()
    link = site.link("confirm")
    tampered = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    assert site.client.get(tampered).status_code == 400
    wrong_purpose = link.replace("/confirm/", "/manage/")
    assert site.client.get(wrong_purpose).status_code == 400
    assert site.client.get(link.replace("/confirm/", "/unsubscribe/")).status_code == 400
    time.sleep(2.2)
    expired = site.client.get(link)
    assert expired.status_code == 400 and "expired" in expired.text


def test_manage_edits_pauses_resumes_and_revokes(site: Site) -> None:
    manage = confirm(site)
    page = site.client.get(manage)
    assert page.status_code == 200 and "gaussian splatting" in page.text
    token = site.csrf(manage)
    saved = site.client.post(manage, data={"csrf_token": token, "action": "save",
                                           "topics": "speech recognition\nspoken language models",
                                           "keywords": "ASR", "timezone": "Asia/Tokyo",
                                           "send_at": "06:15", "cadence": "weekdays"})
    assert saved.status_code == 200 and "Saved." in saved.text
    row = subscriber(site)
    assert row.interests["topics"] == ["speech recognition", "spoken language models"]
    assert (row.timezone, row.send_at, row.cadence) == ("Asia/Tokyo", "06:15", "weekdays")
    bad = site.client.post(manage, data={"csrf_token": token, "action": "save", "topics": "x",
                                         "timezone": "Mars/Olympus", "send_at": "25:99"})
    assert bad.status_code == 400 and 'id="timezone-error"' in bad.text
    assert 'id="send_at-error"' in bad.text and subscriber(site).timezone == "Asia/Tokyo"
    site.client.post(manage, data={"csrf_token": token, "action": "pause"})
    assert subscriber(site).status == "paused"
    site.client.post(manage, data={"csrf_token": token, "action": "resume"})
    assert subscriber(site).status == "active"
    revoked = site.client.post(manage, data={"csrf_token": token, "action": "revoke"})
    assert "revoked" in revoked.text
    assert site.client.get(manage).status_code == 400  # the old link is dead
    assert site.client.get(site.link("manage")).status_code == 200  # the new one works

def test_weekly_subscriber_gets_the_day_they_picked(site: Site) -> None:
    page = site.client.get("/")
    assert 'name="weekly_day"' in page.text and "(weekly only)" in page.text
    bad = site.subscribe(cadence="weekly", weekly_day="someday")
    assert bad.status_code == 400 and 'id="weekly_day-error"' in bad.text
    manage = confirm(site, cadence="weekly", weekly_day="fri")
    row = subscriber(site)
    assert (row.cadence, row.weekly_day) == ("weekly", "fri") and "weekly_day" not in row.interests
    friday, monday = datetime(2026, 6, 5, 12, tzinfo=UTC), datetime(2026, 6, 8, 12, tzinfo=UTC)
    assert due_date(row, friday) == date(2026, 6, 5) and due_date(row, monday) is None
    assert '<option value="fri" selected>Friday</option>' in site.client.get(manage).text


def test_csrf_failures_are_refused(site: Site) -> None:
    manage = confirm(site)
    assert site.client.post("/", data={"email": "x@example.org", "topics": "t",
                                       "action": "subscribe"}).status_code == 403
    assert site.client.post(manage, data={"action": "pause", "csrf_token": "forged"}).status_code == 403
    assert subscriber(site).status == "active"
    site.client.cookies.clear()
    assert site.client.post(manage, data={"action": "pause",
                                          "csrf_token": "x" * 43}).status_code == 403


def test_unsubscribe_get_shows_a_button_post_acts_and_cancels_queued(site: Site) -> None:
    confirm(site)
    row = subscriber(site)
    with session_scope(site.engine) as s:
        s.add(Outbox(subscriber_id=row.id or 0, digest_date=utcnow().date(), message_id="<q@x>",
                     recipient=row.email, subject="s", message=b"m"))
    path = unsubscribe_path(site)
    page = site.client.get(path)
    assert page.status_code == 200 and "<button" in page.text
    assert subscriber(site).status == "active"
    done = site.client.post(path, data={"csrf_token": site.csrf(path)})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert subscriber(site).status == "unsubscribed"
    with Session(site.engine) as s:
        digests = s.exec(select(Outbox).where(Outbox.kind == "digest")).all()
        assert [o.status for o in digests] == ["cancelled"]


def confirm_manage(site: Site) -> str:
    """A fresh manage link emailed on request (the subscriber is active)."""
    with session_scope(site.engine) as s:
        row = s.exec(select(Subscriber)).one()
        row.confirm_sent_at = None
        s.add(row)
    site.subscribe()
    return site.link("manage")


def unsubscribe_path(site: Site) -> str:
    """The unsubscribe link shown on the manage page."""
    page = site.client.get(confirm_manage(site)).text
    return "/unsubscribe/" + page.split("/unsubscribe/")[1].split('"')[0]


def test_rfc8058_one_click_post_without_cookies(site: Site) -> None:
    confirm(site)
    path = unsubscribe_path(site)
    site.client.cookies.clear()
    answer = site.client.post(path, content=b"List-Unsubscribe=One-Click",
                              headers={"Content-Type": "application/x-www-form-urlencoded"},
                              follow_redirects=False)
    assert answer.status_code == 200 and "location" not in answer.headers
    assert subscriber(site).status == "unsubscribed"


def test_rate_limits_per_ip_and_per_address(make_site: object) -> None:
    site: Site = make_site(rate_limit_per_ip=3, rate_limit_per_address=1,  # type: ignore[operator]
                           confirm_resend_minutes=0)
    assert [site.subscribe().status_code for _ in range(3)] == [200, 200, 200]
    assert site.subscribe().status_code == 429
    assert len(site.mails("ada@example.org")) == 1  # one email per address per day


def test_one_confirmation_email_per_period(site: Site) -> None:
    site.subscribe()
    site.subscribe()
    assert len(site.mails("ada@example.org")) == 1


def test_preview_shows_todays_picks_without_subscribing(site: Site) -> None:
    with session_scope(site.engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), utcnow() - timedelta(hours=1))
    page = site.client.post("/", data={"csrf_token": site.csrf(), "action": "preview",
                                       "topics": "large language models evaluation",
                                       "timezone": "UTC", "send_at": "07:00"})
    assert page.status_code == 200 and page.text.count("<article") >= 3 and "Why:" in page.text
    with Session(site.engine) as s:
        assert s.exec(select(Subscriber)).all() == []


def test_hostile_input_is_refused_or_escaped(site: Site) -> None:
    csrf = site.csrf()
    script = site.client.post("/", data={"csrf_token": csrf, "action": "preview",
                                         "topics": "<script>alert(1)</script>"})
    assert "<script>alert" not in script.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in script.text
    huge = site.client.post("/", data={"csrf_token": csrf, "action": "subscribe",
                                       "email": "a@example.org", "topics": "x" * 10_000})
    assert huge.status_code == 400 and 'id="topics-error"' in huge.text
    crlf = site.client.post("/", data={"csrf_token": csrf, "action": "subscribe",
                                       "email": "a@example.org\r\nBcc: victim@example.org",
                                       "topics": "x"})
    assert crlf.status_code == 400 and 'id="email-error"' in crlf.text
    raw = site.client.post("/", content=b"csrf_token=" + csrf.encode() + b"&email=\xff\xfe%ff&topics=\xc3",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert raw.status_code in (400, 403)
    assert site.client.post("/", content=b"x" * 100_000,
                            headers={"Content-Type": "application/x-www-form-urlencoded"}
                            ).status_code == 400
    assert site.mails() == []


def test_internationalised_address_subscribes_and_nul_is_refused(site: Site) -> None:
    answer = site.subscribe("jörg@bücher.de")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    notices = list(site.outbox.glob("*.eml"))
    assert len(notices) == 1
    raw = notices[0].read_bytes()
    assert "To: jörg@xn--bcher-kva.de".encode() in raw  # IDNA domain, UTF-8 local part
    nul = site.subscribe("nul@example.org", topics="gaussian\x00splatting")
    assert nul.status_code == 400 and 'id="topics-error"' in nul.text
    assert "control character" in nul.text


def test_head_never_acts_and_answers_like_get(site: Site) -> None:
    confirm(site)
    path = unsubscribe_path(site)
    site.client.cookies.clear()
    head = site.client.request("HEAD", path, content=b"List-Unsubscribe=One-Click",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert head.status_code == site.client.get(path).status_code == 200
    assert subscriber(site).status == "active"
    assert site.client.head("/").status_code == 200


def test_spoofed_forwarded_for_does_not_dodge_the_limit(make_site: object) -> None:
    site: Site = make_site(rate_limit_per_ip=3, trust_proxy_headers=True)  # type: ignore[operator]
    codes = [site.client.post("/", data={"csrf_token": site.csrf(), "email": f"u{n}@example.org",
                                         "topics": "x", "action": "subscribe"},
                              headers={"X-Forwarded-For": f"10.9.9.{n}, 203.0.113.7"}).status_code
             for n in range(5)]
    assert codes == [200, 200, 200, 429, 429]  # the proxy's entry (rightmost) is the client


def test_a_pending_subscription_changes_only_through_its_token(site: Site) -> None:
    site.subscribe(topics="gaussian splatting")
    site.subscribe(topics="something an attacker wants")
    assert subscriber(site).interests["topics"] == ["gaussian splatting"]


def test_a_post_from_another_site_is_refused(site: Site) -> None:
    answer = site.client.post("/", data={"csrf_token": site.csrf(), "email": "a@example.org",
                                         "topics": "x", "action": "subscribe"},
                              headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and site.mails() == []
    same = site.client.post("/", data={"csrf_token": site.csrf(), "email": "a@example.org",
                                       "topics": "x", "action": "subscribe"},
                            headers={"Origin": "https://digest.lab.example"})
    assert same.status_code == 200


def test_errors_keep_the_security_headers(site: Site, monkeypatch: Any) -> None:
    from starlette.testclient import TestClient

    from digest.web import actions

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(actions, "parse_subscription", broken)
    client = TestClient(site.client.app, base_url="https://digest.lab.example",
                        raise_server_exceptions=False)
    page = client.get("/")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/", data={"csrf_token": csrf, "email": "a@example.org"})
    assert answer.status_code == 500 and "boom" not in answer.text
    for header in ("content-security-policy", "x-content-type-options", "x-frame-options",
                   "referrer-policy"):
        assert answer.headers[header] == page.headers[header]
