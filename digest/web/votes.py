"""Vote links from the digests: GET shows the paper and a confirm button (mail scanners fetch
every link, so a GET or HEAD never records), POST records the vote or undoes it."""

from __future__ import annotations

import asyncio

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from digest.compose.views import paper_view
from digest.errors import TokenError
from digest.rank.model import MAX_PAPERS
from digest.storage.db import session_scope
from digest.storage.feedback import VoteAction, clear_votes, record_vote
from digest.storage.models import Subscriber
from digest.storage.papers import papers_by_canonical_id
from digest.tokens import VoteClaim, make_token, read_vote_token
from digest.web.actions import SAFE_METHODS, bad_form, invalid_link, manage_page, reload
from digest.web.common import Web, check_csrf, read_form

STEPS = ("vote", "undo")  # what the vote page's buttons post
# Vote posts per subscriber per hour (the shared limiter, so replicas count together): every
# paper of the largest digest voted and changed once. Only a valid link gets this far, so
# this bounds the writes one leaked link can cause; forged links write nothing.
VOTES_PER_HOUR = 2 * MAX_PAPERS


async def too_many(web: Web, request: Request, row: Subscriber) -> Response | None:
    """None when this subscriber may vote again within the hour, else the 429 page."""
    if await asyncio.to_thread(web.limiter.allow, "vote", str(row.id), VOTES_PER_HOUR, 3600):
        return None
    return web.page(request, "message", 429, heading="Too many votes",
                    message="Please wait a while before voting again.")


def voter(web: Web, token: str) -> tuple[Subscriber | None, VoteClaim | None, str]:
    """The subscriber and vote a link's token names, or why the link is not valid."""
    try:
        claim = read_vote_token(web.key(), token)
    except TokenError as exc:
        return None, None, str(exc)
    row, why = web.holder(claim.subscriber_id, claim.nonce)
    return row, claim if row is not None else None, why


async def vote(web: Web, request: Request) -> Response:
    """GET/HEAD /vote/{token}: the paper and a confirm button; POST: record (or undo) it."""
    row, claim, why = voter(web, request.path_params["token"])
    if row is None or claim is None:
        return invalid_link(web, request, why)
    if request.method in SAFE_METHODS:
        return vote_page(web, request, row, claim, "ask")
    form = await read_form(request)
    if form is None or form.get("do") not in STEPS:
        return bad_form(web, request)
    if (refusal := check_csrf(web, request, form) or await too_many(web, request, row)):
        return refusal
    undo = form.get("do") == "undo"
    with session_scope(web.engine) as session:
        record_vote(session, row.id or 0, claim.paper_id,
                    VoteAction.CLEAR if undo else claim.action, web.clock())
    return vote_page(web, request, row, claim, "removed" if undo else "recorded")


def vote_page(web: Web, request: Request, row: Subscriber, claim: VoteClaim,
              state: str) -> Response:
    """The vote page: `ask` (confirm), `recorded` (with undo) or `removed` (with vote again)."""
    with Session(web.engine) as session:
        stored = papers_by_canonical_id(session, [claim.paper_id])
    paper = paper_view(stored[0]) if stored else None
    return web.page(request, "vote", state=state, action=claim.action, email=row.email,
                    paper_title=paper.title if paper else claim.paper_id,
                    url=paper.url if paper else "",
                    manage_token=make_token(web.key(), "manage", row))


async def manage_votes(web: Web, request: Request) -> Response:
    """POST /manage/{token}/votes: undo one vote listed on the manage page."""
    token = request.path_params["token"]
    row, why = web.subscriber(token, "manage")
    if row is None:
        return invalid_link(web, request, why)
    form = await read_form(request)
    paper = form.get("paper") if form is not None else None
    if form is None or not isinstance(paper, str) or not paper:
        return bad_form(web, request)
    if (refusal := check_csrf(web, request, form) or await too_many(web, request, row)):
        return refusal
    with session_scope(web.engine) as session:
        removed = clear_votes(session, row.id or 0, [paper])
    notice = "Vote removed." if removed else "That vote was already gone."
    return manage_page(web, request, reload(web, row), token, notice=notice)
