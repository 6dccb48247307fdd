"""'More / less like this' links: from the digest email to a recorded vote, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest
from itsdangerous.encoding import base64_decode, base64_encode
from itsdangerous.timed import TimestampSigner
from sqlmodel import Session, col, select

from digest.cli import main
from digest.clock import utcnow
from digest.compose.digests import compose_due
from digest.sources import hf_daily
from digest.storage.db import session_scope
from digest.storage.feedback import VoteAction
from digest.storage.models import Outbox, OutboxPaper, Paper, PaperVote, Subscriber
from digest.storage.papers import upsert_papers
from digest.tokens import VoteSigner, make_token, read_vote_token
from tests.conftest import read_data
from tests.factories import HF_DAY
from tests.web.conftest import Site
from tests.web.test_app import confirm

LINK = re.compile(r"https://digest\.lab\.example(/vote/[A-Za-z0-9_.\-]+)")
INTERESTS = {"topics": "large language models evaluation", "keywords": "LLM, benchmark"}


def votes(site: Site) -> list[tuple[int, str, int]]:
    """Every stored vote as (subscriber id, paper id, value)."""
    with Session(site.engine) as s:
        rows = s.exec(select(PaperVote).order_by(col(PaperVote.paper_id))).all()
    return [(v.subscriber_id, v.paper_id, v.value) for v in rows]


def subscriber(site: Site, email: str = "ada@example.org") -> Subscriber:
    with Session(site.engine) as s:
        return s.exec(select(Subscriber).where(Subscriber.email == email)).one()


def digest_email(site: Site, email: str = "ada@example.org") -> bytes:
    """Confirm `email` on the web, store the real Hugging Face day, compose its digest: the raw
    message bytes."""
    manage = confirm(site, email, **INTERESTS)
    assert site.client.get(manage).status_code == 200
    with session_scope(site.engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), utcnow() - timedelta(hours=1))
    compose_due(site.engine, site.config, utcnow(), force=True, only=email)
    with Session(site.engine) as s:
        row = s.exec(select(Outbox).where(Outbox.recipient == email, Outbox.kind == "digest")).one()
    assert row.message is not None and row.paper_count > 0
    return row.message


def links_of(raw: bytes) -> dict[str, list[str]]:
    """The vote link paths in each part of a raw message: {"html": [...], "plain": [...]}."""
    msg = message_from_bytes(raw, policy=policy.default)
    return {kind: LINK.findall(msg.get_body((kind,)).get_content())  # type: ignore[union-attr]
            for kind in ("html", "plain")}


def vote_links(site: Site, email: str = "ada@example.org") -> dict[tuple[str, str], str]:
    """(paper id, action) -> the link path, from that subscriber's digest."""
    out = {}
    for path in links_of(digest_email(site, email))["plain"]:
        claim = read_vote_token("web-test-secret", path.removeprefix("/vote/"))
        out[claim.paper_id, str(claim.action)] = path
    return out


def post(site: Site, path: str, do: str = "vote", **headers: str) -> Any:
    return site.client.post(path, data={"csrf_token": site.csrf("/"), "do": do},
                            headers=headers)


def test_every_paper_of_the_raw_email_has_both_links_in_both_parts(site: Site) -> None:
    raw = digest_email(site)
    assert b"/vote/" in raw
    found = links_of(raw)
    sub = subscriber(site)
    with Session(site.engine) as s:
        placed = s.exec(select(Paper.canonical_id).join(
            OutboxPaper, col(OutboxPaper.paper_id) == col(Paper.id))
            .order_by(col(OutboxPaper.position))).all()
    for kind in ("html", "plain"):
        claims = [read_vote_token("web-test-secret", p.removeprefix("/vote/"))
                  for p in found[kind]]
        assert {c.subscriber_id for c in claims} == {sub.id}
        # the picked papers in order, each "more" then "less"; then the trending ones
        pairs = [(c.paper_id, str(c.action)) for c in claims]
        assert pairs[:2 * len(placed)] == [(pid, a) for pid in placed for a in ("more", "less")]
        assert len(pairs) == len(set(pairs)) > 2 * len(placed)  # trending papers have them too
    assert set(found["html"]) == set(found["plain"])
    html = message_from_bytes(raw, policy=policy.default).get_body(("html",))
    assert ">More like this</a>" in html.get_content()  # type: ignore[union-attr]


def test_get_and_head_never_record_post_records_once(site: Site) -> None:
    links = vote_links(site)
    (paper, _), more = next(iter(links.items()))
    for _ in range(2):
        page = site.client.get(more)
        assert page.status_code == 200 and "More like this?" in page.text
        assert "<form method=\"post\"" in page.text and 'name="do" value="vote"' in page.text
        assert site.client.head(more).status_code == 200
    site.client.cookies.clear()
    assert site.client.get(more).status_code == 200  # a scanner without cookies: nothing either
    assert votes(site) == []
    done = post(site, more)
    assert done.status_code == 200 and "Recorded: more like this" in done.text
    assert 'value="undo"' in done.text
    again = post(site, more)
    assert again.status_code == 200
    sid = subscriber(site).id
    assert votes(site) == [(sid, paper, 1)]
    less = post(site, links[paper, "less"])  # the opposite vote replaces it
    assert less.status_code == 200 and votes(site) == [(sid, paper, -1)]


def test_undo_on_the_vote_page_and_on_the_manage_page(site: Site) -> None:
    links = vote_links(site)
    (first, _), (second, _) = next(iter(links)), list(links)[2]
    post(site, links[first, "more"])
    undone = post(site, links[first, "more"], do="undo")
    assert undone.status_code == 200 and "Vote removed" in undone.text and votes(site) == []
    post(site, links[first, "more"])
    post(site, links[second, "less"])
    manage = "/manage/" + make_token("web-test-secret", "manage", subscriber(site))
    page = site.client.get(manage).text
    with Session(site.engine) as s:
        title = s.exec(select(Paper.title).where(Paper.canonical_id == second)).one()
    assert "Your votes" in page and "Less like this:" in page and title[:30] in page
    assert page.count('value="' + first + '"') == 1
    removed = site.client.post(manage + "/votes", data={"csrf_token": site.csrf(manage),
                                                        "paper": second})
    assert removed.status_code == 200 and "Vote removed." in removed.text
    assert [p for _, p, _ in votes(site)] == [first]
    forged = site.client.post(manage + "/votes", data={"csrf_token": "x" * 43, "paper": first})
    assert forged.status_code == 403 and len(votes(site)) == 1


def test_forged_swapped_and_other_subscribers_tokens_are_refused(site: Site) -> None:
    links = vote_links(site)
    other_links = vote_links(site, "bob@example.org")
    (paper, _), more = next(iter(links.items()))
    other_paper = next(p for p, _ in links if p != paper)
    token = more.removeprefix("/vote/")
    payload, stamp, signature = token.split(".")
    claim = json.loads(base64_decode(payload))

    def with_payload(**change: Any) -> str:
        fake = base64_encode(json.dumps({**claim, **change}, separators=(",", ":"))).decode()
        return f"/vote/{fake}.{stamp}.{signature}"

    ada, bob = subscriber(site), subscriber(site, "bob@example.org")
    refused = {
        "forged signature": f"/vote/{payload}.{stamp}.{signature[:-2]}xx",
        "another paper": with_payload(p=other_paper),
        "another action": with_payload(a="less"),
        "another subscriber": with_payload(s=bob.id, n=bob.token_nonce),
        "signed with another key": "/vote/" + VoteSigner("not-the-key").token(ada, paper, VoteAction.MORE),
        "a manage token": "/vote/" + make_token("web-test-secret", "manage", ada),
        "garbage": "/vote/not-a-token",
    }
    csrf = site.csrf("/")
    for name, path in refused.items():
        assert site.client.get(path).status_code == 400, name
        answer = site.client.post(path, data={"csrf_token": csrf, "do": "vote"})
        assert answer.status_code == 400 and "This link is not valid" in answer.text, name
    assert votes(site) == []
    # Bob's own link records Bob's vote, never Ada's
    bob_paper, bob_link = next((p, link) for (p, a), link in other_links.items() if a == "more")
    assert post(site, bob_link).status_code == 200
    assert votes(site) == [(bob.id, bob_paper, 1)]


def test_revoked_and_expired_links_are_refused(site: Site, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    links = vote_links(site)
    more = next(iter(links.values()))
    future = int(utcnow().timestamp()) + 366 * 86_400
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: future)
        expired = site.client.get(more)
        assert expired.status_code == 400 and "expired" in expired.text
        assert post(site, more).status_code == 400
    with session_scope(site.engine) as s:
        row = s.exec(select(Subscriber)).one()
        row.token_nonce = "rotated"  # what "Revoke all old links" does
        s.add(row)
    assert site.client.get(more).status_code == 400
    assert post(site, more).status_code == 400 and votes(site) == []


def test_a_vote_post_from_another_site_is_refused(site: Site) -> None:
    more = next(iter(vote_links(site).values()))
    assert post(site, more, Origin="https://evil.example").status_code == 403
    assert votes(site) == []
    assert post(site, more, Origin="https://digest.lab.example").status_code == 200
    assert len(votes(site)) == 1


def test_the_cli_records_exactly_what_the_link_does(site: Site,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    links = vote_links(site)
    papers = list(dict.fromkeys(p for p, _ in links))[:2]
    post(site, links[papers[0], "more"])
    post(site, links[papers[1], "less"])
    by_link = votes(site)
    config = str(site.config.path)
    assert main(["feedback", "-c", config, "--subscriber", "ada@example.org", "--clear",
                 *papers]) == 0
    assert votes(site) == []
    capsys.readouterr()
    assert main(["feedback", "-c", config, "--subscriber", "ada@example.org", "--more",
                 papers[0]]) == 0
    assert main(["feedback", "-c", config, "--subscriber", "ADA@example.org", "--less",
                 f"https://arxiv.org/abs/{papers[1]}v2"]) == 0
    assert votes(site) == by_link
    assert capsys.readouterr().out.splitlines() == [f"{papers[0]}\tmore\trecorded",
                                                    f"{papers[1]}\tless\trecorded"]
    assert main(["feedback", "-c", config, "--subscriber", "ada@example.org", "--more",
                 papers[0]]) == 0
    assert capsys.readouterr().out == f"{papers[0]}\tmore\tunchanged\n"


def test_vote_posts_are_rate_limited_per_subscriber(make_site: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from digest.web import votes as vote_routes

    monkeypatch.setattr(vote_routes, "VOTES_PER_HOUR", 3)
    site: Site = make_site()
    links = vote_links(site)
    papers = list(dict.fromkeys(p for p, _ in links))[:5]
    codes = [post(site, links[p, "more"]).status_code for p in papers]
    assert codes == [200, 200, 200, 429, 429]
    refused = post(site, links[papers[0], "more"], do="undo")
    assert refused.status_code == 429 and "Too many votes" in refused.text
    sid = subscriber(site).id
    assert votes(site) == sorted((sid, p, 1) for p in papers[:3])  # nothing past the limit
    manage = "/manage/" + make_token("web-test-secret", "manage", subscriber(site))
    undo = site.client.post(manage + "/votes", data={"csrf_token": site.csrf(manage),
                                                     "paper": papers[0]})
    assert undo.status_code == 429 and len(votes(site)) == 3
    assert site.client.get(links[papers[4], "more"]).status_code == 200  # the page still shows
    other = vote_links(site, "bob@example.org")  # another subscriber has their own allowance
    paper = next(iter(other))
    assert post(site, other[paper]).status_code == 200
    assert len(votes(site)) == 4
