"""Request handlers: each validates its input, acts on the database, and renders a page."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta
from typing import Any

from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from digest.compose.views import PaperView, paper_view, why_line
from digest.config import SubscriberConfig
from digest.rank.stored import interest_of, rank_configured
from digest.storage.db import session_scope
from digest.storage.feedback import vote_entries
from digest.storage.models import DigestKind, Origin, Subscriber, SubscriberStatus
from digest.storage.outbox import cancel_queued
from digest.storage.papers import papers_first_seen
from digest.storage.subscribers import find_subscriber, interests_of, kept_on_edit
from digest.tokens import Purpose, make_token
from digest.web.common import (
    Web,
    check_csrf,
    confirm_age,
    limited,
    plain,
    read_form,
    resend_due,
)
from digest.web.forms import parse_subscription
from digest.web.mail import queue_mail, send_queued

log = logging.getLogger(__name__)
CHECK_INBOX = ("Check your inbox",
               "If this address can receive email, a message with a link is on its way. "
               "Nothing is sent to you until you confirm.")
PREVIEW_LIMIT = 2000
SAFE_METHODS = ("GET", "HEAD")  # never act: link scanners and HEAD probes change nothing
WAITING = (SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED)  # a form post may (re)start opt-in


def bad_form(web: Web, request: Request) -> Response:
    """400 for bodies that are not a readable form."""
    return web.page(request, "message", 400, heading="That did not work",
                    message="The form could not be read. Please try again.")


def invalid_link(web: Web, request: Request, why: str) -> Response:
    """400 for tokens that are tampered, expired, reused or for another purpose."""
    return web.page(request, "message", 400, heading="This link is not valid",
                    message=why[:1].upper() + why[1:] + ".")


async def subscribe_page(web: Web, request: Request) -> Response:
    """GET /: the subscription form."""
    return web.page(request, "subscribe", values={}, errors={}, preview=None)


async def subscribe_post(web: Web, request: Request) -> Response:
    """POST /: preview, or start a double opt-in (same answer whether the address is known)."""
    form = await read_form(request)
    if form is None:
        return bad_form(web, request)
    if (refusal := check_csrf(web, request, form) or await limited(web, request)) is not None:
        return refusal
    preview = form.get("action") == "preview"
    result = parse_subscription(form, need_email=not preview)
    if result.errors:
        return web.page(request, "subscribe", 400, values=result.values, errors=result.errors,
                        preview=None)
    assert result.subscriber is not None
    if preview:
        return web.page(request, "subscribe", values=result.values, errors={},
                        preview=await asyncio.to_thread(preview_papers, web,
                                                         result.subscriber))
    email = str(result.subscriber.email).lower()
    response = web.page(request, "message", heading=CHECK_INBOX[0], message=CHECK_INBOX[1])
    if await asyncio.to_thread(web.limiter.allow, "address", email,
                               web.config.web.rate_limit_per_address, 86400):
        # after the answer: it takes as long for a known address as for an unknown one
        response.background = BackgroundTask(register_and_send, web, result.subscriber)
    return response


async def register_and_send(web: Web, wanted: SubscriberConfig) -> None:
    """Register (queueing the notice in the outbox), then send the notice at once."""
    try:
        queued = await asyncio.to_thread(register, web, wanted)
    except Exception:  # the page is answered already; the reason goes to the log
        log.exception("could not register a subscription request")
        return
    if queued is not None:
        await send_queued(web.engine, web.config, queued)


def send_after(web: Web, queued: int | None, response: Response) -> Response:
    """Send the notice queued by this request once the response is out (a mail server outage
    leaves it queued for the delivery loop)."""
    if queued is not None:
        response.background = BackgroundTask(send_queued, web.engine, web.config, queued)
    return response


def register(web: Web, wanted: SubscriberConfig) -> int | None:
    """Create or refresh a pending subscription and queue the right link (rate-limited); the
    queued notice's outbox id."""
    now, key = web.clock(), web.key()
    email = str(wanted.email).lower()
    with session_scope(web.engine) as session:
        row = find_subscriber(session, email)
        if row is None:
            row = Subscriber(email=email, origin=Origin.WEB, status=SubscriberStatus.PENDING,
                             token_nonce=secrets.token_hex(8))
            apply_settings(row, wanted)
        elif row.status == SubscriberStatus.UNSUBSCRIBED and row.origin == Origin.WEB:
            apply_settings(row, wanted)  # a fresh start, confirmed again by email
        # a pending subscription changes only through its token: the form only resends the link
        kind: Purpose = "confirm" if row.status in WAITING else "manage"
        if row.status == SubscriberStatus.UNSUBSCRIBED:
            row.status = SubscriberStatus.PENDING
        if not resend_due(row, web):
            session.add(row)
            return None
        row.confirm_sent_at = now
        session.add(row)
        session.flush()
        link = f"{web.base}/{kind}/{make_token(key, kind, row)}"
        return queue_mail(session, web.config, DigestKind(kind), row, link, now)


def apply_settings(row: Subscriber, wanted: SubscriberConfig) -> None:
    """Copy validated interests and schedule onto a stored subscriber (an imported library
    stays: the form does not show it)."""
    row.interests = {**interests_of(wanted), **kept_on_edit(row.interests or {})}
    row.timezone, row.cadence, row.weekly_day = wanted.timezone, wanted.cadence, wanted.weekly_day
    row.send_at = wanted.send_at.strftime("%H:%M")


def preview_papers(web: Web, wanted: SubscriberConfig) -> list[PaperView]:
    """What these interests would pick from recently stored papers."""
    since = web.clock() - timedelta(days=web.config.web.preview_window_days)
    probe = Subscriber(email="preview@example.org", interests=interests_of(wanted))
    interest = interest_of(probe)
    with session_scope(web.engine) as session:  # keeps the embeddings ranking caches
        papers = papers_first_seen(session, since, limit=PREVIEW_LIMIT)
        # the visitor's topics are anyone's words: their vectors are not kept
        ranked = rank_configured(session, web.config, papers, [interest], keep_topics=False)
    picks = ranked.picks[interest.key]
    by_id = {p.canonical_id: p for p in papers}
    return [paper_view(by_id[p.id], why_line(p, ranked.liked_titles)) for p in picks]


async def confirm(web: Web, request: Request) -> Response:
    """GET shows a button (scanners prefetch links); POST activates and rotates the nonce."""
    row, why = web.subscriber(request.path_params["token"], "confirm", confirm_age(web))
    if row is None:
        return invalid_link(web, request, why)
    if request.method in SAFE_METHODS:
        return web.page(request, "confirm", email=row.email)
    form = await read_form(request)
    if form is None:
        return bad_form(web, request)
    if (refusal := check_csrf(web, request, form)) is not None:
        return refusal
    with session_scope(web.engine) as session:
        stored = session.get(Subscriber, row.id)
        assert stored is not None
        stored.status, stored.confirmed_at = SubscriberStatus.ACTIVE, web.clock()
        stored.token_nonce = secrets.token_hex(8)  # the confirm link is single-use
        session.add(stored)
        session.flush()
        token = make_token(web.key(), "manage", stored)
    return RedirectResponse(f"/manage/{token}?welcome=1", status_code=303)


async def manage(web: Web, request: Request) -> Response:
    """Edit interests and schedule, pause, resume, or revoke every old link."""
    token = request.path_params["token"]
    row, why = web.subscriber(token, "manage")
    if row is None:
        return invalid_link(web, request, why)
    if request.method in SAFE_METHODS:
        notice = "Your subscription is confirmed." if request.query_params.get("welcome") else ""
        return manage_page(web, request, row, token, notice=notice)
    form = await read_form(request)
    if form is None:
        return bad_form(web, request)
    if (refusal := check_csrf(web, request, form) or await limited(web, request)) is not None:
        return refusal
    return await manage_action(web, request, row, token, form)


async def manage_action(web: Web, request: Request, row: Subscriber, token: str,
                        form: Any) -> Response:
    """Carry out one manage-page button."""
    action = form.get("action")
    if action == "save":
        if row.origin == Origin.CONFIG:
            return manage_page(web, request, row, token, 400,
                               notice="These interests come from the operator's config file; "
                                      "ask them to change it.")
        result = parse_subscription(form, email=row.email)
        wanted = result.subscriber
        if result.errors or wanted is None:
            return manage_page(web, request, row, token, 400, values=result.values,
                               errors=result.errors)
        update_subscriber(web, row, lambda s: apply_settings(s, wanted))
        return manage_page(web, request, reload(web, row), token, notice="Saved.")
    if action in ("pause", "resume"):
        status = SubscriberStatus.PAUSED if action == "pause" else SubscriberStatus.ACTIVE
        update_subscriber(web, row, lambda s: setattr(s, "status", status))
        word = "paused" if action == "pause" else "on again"
        return manage_page(web, request, reload(web, row), token, notice=f"Your digest is {word}.")
    if action == "revoke":
        with session_scope(web.engine) as session:
            stored = session.get(Subscriber, row.id)
            assert stored is not None
            stored.token_nonce, stored.updated_at = secrets.token_hex(8), web.clock()
            session.add(stored)
            session.flush()
            link = f"{web.base}/manage/{make_token(web.key(), 'manage', stored)}"
            queued = queue_mail(session, web.config, DigestKind.MANAGE, stored, link, web.clock())
        return send_after(web, queued, web.page(
            request, "message", heading="All old links are revoked",
            message="A new link to this page has been emailed to you."))
    return bad_form(web, request)


def update_subscriber(web: Web, row: Subscriber, change: Any) -> None:
    """Apply `change` to the stored subscriber in one transaction."""
    with session_scope(web.engine) as session:
        stored = session.get(Subscriber, row.id)
        assert stored is not None
        change(stored)
        stored.updated_at = web.clock()
        session.add(stored)


def reload(web: Web, row: Subscriber) -> Subscriber:
    """The subscriber as stored now."""
    with Session(web.engine, expire_on_commit=False) as session:
        fresh = session.get(Subscriber, row.id)
    assert fresh is not None
    return fresh


def manage_page(web: Web, request: Request, row: Subscriber, token: str, status: int = 200,
                notice: str = "", values: dict[str, Any] | None = None,
                errors: dict[str, str] | None = None) -> Response:
    """The manage form, filled from the stored subscriber unless `values` are given."""
    current = values or {**row.interests, "timezone": row.timezone, "send_at": row.send_at,
                         "cadence": row.cadence, "weekly_day": row.weekly_day,
                         "email": row.email}
    with Session(web.engine) as session:
        votes = vote_entries(session, row.id or 0)
    return web.page(request, "manage", status, subscriber=row, values=current,
                    errors=errors or {}, notice=notice, token=token,
                    unsubscribe_token=make_token(web.key(), "unsubscribe", row), votes=votes)


async def unsubscribe(web: Web, request: Request) -> Response:
    """GET shows a button; POST acts; the RFC 8058 one-click POST acts at once, 200, no redirect."""
    row, why = web.subscriber(request.path_params["token"], "unsubscribe")
    if request.method in SAFE_METHODS:
        if row is None:
            return invalid_link(web, request, why)
        return web.page(request, "unsubscribe", email=row.email)
    form = await read_form(request)
    if form is None:
        return bad_form(web, request)
    one_click = form.get("List-Unsubscribe") == "One-Click"
    if row is None:
        return plain(why, 400) if one_click else invalid_link(web, request, why)
    if not one_click and (refusal := check_csrf(web, request, form)) is not None:
        return refusal
    with session_scope(web.engine) as session:
        stored = session.get(Subscriber, row.id)
        assert stored is not None
        stored.status, stored.updated_at = SubscriberStatus.UNSUBSCRIBED, web.clock()
        session.add(stored)
        cancel_queued(session, stored.id or 0)
    if one_click:
        return plain("Unsubscribed.")
    manage_token = make_token(web.key(), "manage", row)
    return web.page(request, "unsubscribed", email=row.email, manage_token=manage_token)
