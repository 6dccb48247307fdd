"""Compose due digests: pick each subscriber's papers, render, queue one outbox row per local date."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session

from digest.clock import utcnow
from digest.compose.message import (
    Envelope,
    build_message,
    mail_address,
    new_message_id,
    unsubscribe_mailto,
)
from digest.compose.render import Rendered, renderer_for
from digest.compose.schedule import due_date
from digest.compose.select import FIRST_WINDOW, Selection, select_papers
from digest.compose.views import DigestView, PaperViews, digest_view, why_line
from digest.compose.workers import Workers, give_back_memory
from digest.config import Config
from digest.errors import UnknownSubscriberError
from digest.rank import Interest, Pick
from digest.rank.stored import (
    corpus_stats,
    interests_with_votes,
    semantic_embedder,
    semantic_inputs_or_none,
)
from digest.rank.textfeat import analysed
from digest.storage.db import session_scope
from digest.storage.lock import claim_subscribers
from digest.storage.models import DigestKind, Outbox, OutboxPaper, Paper, Subscriber
from digest.storage.outbox import (
    already_sent,
    composed_pairs,
    last_digest_at,
    record_compose_failure,
    save_digest,
    save_digests,
)
from digest.storage.papers import papers_first_seen
from digest.storage.subscribers import (
    SendSchedule,
    active_by_ids,
    find_subscriber,
    send_schedules,
    sync_subscribers,
)
from digest.text import one_line
from digest.tokens import make_token, secret_key, vote_signer

log = logging.getLogger(__name__)
# The database being unreachable is nobody's fault in particular: the whole cycle stops and
# is retried; any other error is one subscriber's and fails alone.
CONNECTION_ERRORS = (OperationalError, InterfaceError)
COMPOSE_CHUNK = 1000  # subscribers ranked together; a stop request is honoured between chunks
PROCESS_MIN = 3000  # due subscribers from which chunks are composed in child processes
# One worker composes while this process delivers: the two use two cores, and the peak memory
# is this process's and one worker's (each worker holds the day's matrices, ~300 MiB at 2,000
# papers); more workers compose faster only where cores and memory are to spare.
COMPOSE_PROCESSES = 1
SAVE_BATCH = 100  # digests saved in one transaction (row by row when the batch is refused)


class ComposeStatus(StrEnum):
    """What composing did for one subscriber."""

    QUEUED = "queued"        # a new outbox row
    FAILED = "failed"        # this subscriber's digest could not be composed (see `error`)
    EMPTY = "empty"          # nothing relevant today (empty_digest: skip)
    EXISTS = "exists"        # that date's digest was composed already
    DRY_RUN = "dry-run"      # rendered, not recorded


@dataclass
class _Pending:
    """A composed digest waiting to be saved with its batch."""

    sub: Subscriber
    day: date
    row: Outbox
    papers: list[dict[str, Any]]  # OutboxPaper columns but its outbox's
    slot: int  # its place in the group's results


@dataclass
class Composed:
    """What composing did for one subscriber."""

    email: str
    digest_date: date
    status: ComposeStatus
    papers: int = 0
    subject: str = ""
    error: str = ""


def due_subscribers(session: Session, now: datetime, force: bool,
                    only: str | None = None) -> list[tuple[SendSchedule, date]]:
    """Active subscribers whose digest for their local date is due and not yet composed (their
    send settings only: the full rows are read chunk by chunk)."""
    out = []
    for sub in send_schedules(session, only):
        try:
            day = now.astimezone(ZoneInfo(sub.timezone)).date() if force else due_date(sub, now)
        except (ValueError, KeyError, ZoneInfoNotFoundError):  # a row's zone or send time
            log.exception("cannot tell when %s is due; the others go on", sub.email)
            continue
        if day is not None:
            out.append((sub, day))
    earliest = min((d for _, d in out), default=None)
    composed = composed_pairs(session, [s.id for s, _ in out], earliest)
    return [(s, d) for s, d in out if (s.id, d) not in composed]


def compose_due(engine: Engine, config: Config, now: datetime | None = None, *,
                force: bool = False, only: str | None = None,
                dry_run: bool = False, should_stop: Callable[[], bool] = lambda: False,
                processes: int | None = None) -> list[Composed]:
    """Compose today's digest for every due subscriber (all active ones with `force`), a chunk
    of subscribers at a time: memory follows the chunk, not the number of subscribers.
    Chunks are composed in `processes` child processes (None: COMPOSE_PROCESSES of them from
    PROCESS_MIN due subscribers on, in this process below that; 0: always in this process)."""
    now = now or utcnow()
    with session_scope(engine) as session:
        sync_subscribers(session, config.subscribers)
        if only and find_subscriber(session, only) is None:
            raise UnknownSubscriberError(f"no subscriber {only!r}",
                                         "check the address against the config and "
                                         "`digest subscribers list`")
        due = due_subscribers(session, now, force, only)
        since = last_digest_at(session, [s.id for s, _ in due])
    groups: dict[datetime, list[tuple[int, date]]] = defaultdict(list)
    for sub, day in due:
        groups[since.get(sub.id, now - FIRST_WINDOW)].append((sub.id, day))
    if processes is None:
        processes = COMPOSE_PROCESSES if len(due) >= PROCESS_MIN else 0
    del due, since
    chunks = [(start, members[first:first + COMPOSE_CHUNK])
              for start, members in sorted(groups.items())
              for first in range(0, len(members), COMPOSE_CHUNK)]
    if processes > 0:
        return _compose_in_workers(engine, config, chunks, now, dry_run, should_stop, processes)
    results: list[Composed] = []
    for start, chunk in chunks:
        if should_stop():
            return results
        with claim_subscribers(engine, [sid for sid, _ in chunk]) as ours:
            mine = set(ours)  # the others are being composed by another replica now
            if mine:
                results += _compose_chunk(engine, config, [m for m in chunk if m[0] in mine],
                                          start, now, dry_run)
    return results


def _compose_in_workers(engine: Engine, config: Config,
                        chunks: Sequence[tuple[datetime, list[tuple[int, date]]]],
                        now: datetime, dry_run: bool, should_stop: Callable[[], bool],
                        processes: int) -> list[Composed]:
    """`compose_due`'s chunks, each composed by one of `processes` child processes while this
    process holds the chunk's claims. A chunk whose worker fails (dies, or raises outside a
    digest) fails alone: those of its subscribers not composed get a failed digest with the
    reason; an unreachable database stops the cycle, as in this process."""
    done: dict[int, list[Composed]] = {}
    claims: dict[int, contextlib.ExitStack] = {}
    pending = list(enumerate(chunks))[::-1]
    _store_shared(engine, config, chunks, now)
    try:
        with Workers(config, min(processes, len(chunks)), CHILD_COMPOSE) as workers:
            while True:
                while workers.idle and pending and not should_stop():
                    n, (start, chunk) = pending.pop()
                    stack = contextlib.ExitStack()
                    mine = set(stack.enter_context(
                        claim_subscribers(engine, [sid for sid, _ in chunk])))
                    members = [m for m in chunk if m[0] in mine]
                    if not members:
                        stack.close()
                        continue
                    claims[n] = stack
                    workers.submit((n, members), (members, start, now, dry_run))
                if not workers.busy:
                    break
                for out in workers.wait():
                    n, members = out.tag
                    try:
                        if out.connection:
                            raise OperationalError("composing in a worker", None,
                                                   RuntimeError(out.failure))
                        done[n] = out.value if not out.failure else \
                            _chunk_failed(engine, members, now, dry_run, out.failure)
                    finally:
                        claims.pop(n).close()
    finally:
        for stack in claims.values():
            stack.close()
    return [c for n in sorted(done) for c in done[n]]


def _store_shared(engine: Engine, config: Config,
                  chunks: Sequence[tuple[datetime, list[tuple[int, date]]]],
                  now: datetime) -> None:
    """What ranking would otherwise compute and store in every worker at once (each worker in
    its own transaction, which on SQLite holds the write lock while it ranks): the corpus
    statistics, the signing key and, with the semantic ranker, the embeddings of the
    windows' papers and of the subscribers' topics and liked papers."""
    with session_scope(engine) as session:
        corpus_stats(session)
        secret_key(session, config.delivery.secret_key_env)
    analysed.cache_clear()  # the papers the statistics were fitted on: this process ranks none
    give_back_memory()
    embedder = semantic_embedder(config)
    if embedder is None:
        return
    for start, chunk in chunks:
        with session_scope(engine) as session:
            papers = papers_first_seen(session, start, now)
            rows = active_by_ids(session, [sid for sid, _ in chunk])
            if papers and rows:
                semantic_inputs_or_none(session, embedder, papers,
                                        interests_with_votes(session, list(rows.values()), now))


def _chunk_failed(engine: Engine, members: Sequence[tuple[int, date]], now: datetime,
                  dry_run: bool, reason: str) -> list[Composed]:
    """A chunk whose worker failed: a failed digest, with the reason, for each of its
    subscribers that it had not composed yet; those it had are reported as existing."""
    with session_scope(engine) as session:
        rows = active_by_ids(session, [sid for sid, _ in members])
        composed = composed_pairs(session, list(rows), min(day for _, day in members))
    out = []
    for sid, day in members:
        if sid not in rows:
            continue
        sub = rows[sid]
        if (sid, day) in composed:
            out.append(Composed(sub.email, day, ComposeStatus.EXISTS))
            continue
        out.append(_failed(engine, sub, day, now, dry_run, "composing the digest", reason))
    return out


def _compose_chunk(engine: Engine, config: Config, chunk: Sequence[tuple[int, date]],
                   since: datetime, now: datetime, dry_run: bool) -> list[Composed]:
    """Read the chunk's subscribers (those still active and not composed meanwhile) and what
    they were already sent of the window's papers, then compose their digests."""
    with session_scope(engine) as session:
        rows = active_by_ids(session, [sid for sid, _ in chunk])
        done = composed_pairs(session, list(rows), min(day for _, day in chunk))
        sent = already_sent(session, list(rows), since)
    members = [(rows[sid], day) for sid, day in chunk if sid in rows and (sid, day) not in done]
    if not members:  # another replica composed them since this cycle began
        return []
    return _compose_group(engine, config, members, since, sent, now, dry_run)


CHILD_COMPOSE: Callable[..., list[Composed]] = _compose_chunk  # what a worker runs per chunk


def _compose_group(engine: Engine, config: Config, members: Sequence[tuple[Subscriber, date]],
                   since: datetime, sent: dict[int, set[str]], now: datetime,
                   dry_run: bool) -> list[Composed]:
    """Rank the group together; if that fails, rank its members one by one so that one
    subscriber's bad data fails alone. Each digest is composed (and fails) alone."""
    try:
        with session_scope(engine) as session:
            chosen = select_papers(session, config, [s for s, _ in members], since, now, sent)
    except CONNECTION_ERRORS:
        raise
    except Exception:
        if len(members) == 1:
            sub, day = members[0]
            return [_failed(engine, sub, day, now, dry_run, "choosing papers")]
        return [c for m in members
                for c in _compose_group(engine, config, [m], since, sent, now, dry_run)]
    views = PaperViews(chosen.papers)  # each paper's view made once for the whole group
    results: list[Composed] = []
    pending: list[_Pending] = []
    for (sub, day), interest in zip(members, chosen.interests, strict=True):
        out = _compose_isolated(engine, config, sub, day, interest, chosen, views, now, dry_run)
        if isinstance(out, Composed):
            results.append(out)
            continue
        out.slot = len(results)
        results.append(Composed(sub.email, day, ComposeStatus.QUEUED))  # filled in when saved
        pending.append(out)
        if len(pending) >= SAVE_BATCH:
            _save_batch(engine, pending, results, now)
            pending = []
    if pending:
        _save_batch(engine, pending, results, now)
    return results


def _compose_isolated(engine: Engine, config: Config, sub: Subscriber, day: date,
                      interest: Interest, selection: Selection, views: PaperViews,
                      now: datetime, dry_run: bool) -> Composed | _Pending:
    try:
        return _compose_one(engine, config, sub, day, interest, selection, views, now, dry_run)
    except CONNECTION_ERRORS:
        raise
    except Exception:
        return _failed(engine, sub, day, now, dry_run, "composing the digest")


def _save_batch(engine: Engine, batch: Sequence[_Pending], results: list[Composed],
                now: datetime) -> None:
    """Save a batch of digests in one transaction; when the database refuses any of it (one
    already composed, data it will not store), save them one by one, so that only the bad
    one is skipped or fails."""
    if save_digests(engine, [(p.row, p.papers) for p in batch]) is not None:
        for p in batch:
            results[p.slot] = _saved(p, True)
        return
    for p in batch:
        try:
            placed = [OutboxPaper(outbox_id=0, subscriber_id=p.row.subscriber_id, **paper)
                      for paper in p.papers]
            results[p.slot] = _saved(p, save_digest(engine, p.row, placed))
        except CONNECTION_ERRORS:
            raise
        except Exception:
            results[p.slot] = _failed(engine, p.sub, p.day, now, False, "composing the digest")


def _saved(p: _Pending, new: bool) -> Composed:
    if not new:
        return Composed(p.sub.email, p.day, ComposeStatus.EXISTS)
    return Composed(p.sub.email, p.day, ComposeStatus.QUEUED, p.row.paper_count, p.row.subject)


def _failed(engine: Engine, sub: Subscriber, day: date, now: datetime, dry_run: bool,
            step: str, cause: str | None = None) -> Composed:
    """Log the failure (by default the exception being handled, with its traceback) and
    record it as that date's digest (shown by `digest status`); it is not retried until the
    next digest date."""
    if cause is None:
        log.exception("%s for %s failed; the other subscribers go on", step, sub.email)
        cause = repr(sys.exc_info()[1])
    else:
        log.error("%s for %s failed: %s; the other subscribers go on", step, sub.email, cause)
    reason = one_line(f"{step} failed: {cause}", 500)
    if not dry_run:
        try:
            record_compose_failure(engine, sub.id or 0, sub.email, day, reason,
                                   new_message_id("failed.invalid"), now)
        except CONNECTION_ERRORS:
            raise
        except Exception:  # even the record failed: it is in the log, and retried next cycle
            log.exception("could not record the failure for %s", sub.email)
    return Composed(sub.email, day, ComposeStatus.FAILED, error=reason)


def _compose_one(engine: Engine, config: Config, sub: Subscriber, day: date, interest: Interest,
                 selection: Selection, views: PaperViews, now: datetime,
                 dry_run: bool) -> Composed | _Pending:
    chosen = selection.ranked.picks[sub.email]
    if not chosen and config.delivery.empty_digest == "skip":
        return Composed(sub.email, day, ComposeStatus.EMPTY)
    papers = selection.papers
    view, rendered, whys = render_digest(config, sub, day, interest, chosen, papers,
                                         selection.ranked.liked_titles, selection.key, views)
    if dry_run:
        return Composed(sub.email, day, ComposeStatus.DRY_RUN, len(chosen), rendered.subject)
    envelope = Envelope(config.delivery.from_, mail_address(sub.email), sub.name,
                        new_message_id(config.delivery.list_domain), now,
                        f"Paper Digest <digest.{config.delivery.list_domain}>",
                        view.unsubscribe_url, unsubscribe_mailto(config, sub))
    row = Outbox(subscriber_id=sub.id or 0, digest_date=day,
                 kind=DigestKind.DIGEST if chosen else DigestKind.EMPTY,
                 message_id=envelope.message_id, recipient=envelope.recipient, subject=rendered.subject,
                 message=build_message(rendered, envelope), paper_count=len(chosen),
                 created_at=now)
    placed = [{"paper_id": papers[pick.id].id or 0, "position": position, "score": pick.score,
               "why": why, "reasons": [r.as_json() for r in pick.reasons]}
              for position, (pick, why) in enumerate(zip(chosen, whys, strict=True))]
    return _Pending(sub, day, row, placed, 0)


def render_digest(config: Config, sub: Subscriber, day: date, interest: Interest,
                  chosen: list[Pick], papers: dict[str, Paper], liked_titles: dict[str, str],
                  key: str, views: PaperViews | None = None,
                  ) -> tuple[DigestView, Rendered, list[str]]:
    """The view, the rendered parts and the why-lines of one digest (`views`: the group's
    shared per-paper views); each paper has vote links when the web app is on."""
    whys = [why_line(p, liked_titles) for p in chosen]
    view = digest_view(config, sub, day, chosen, whys, papers, interest,
                       make_token(key, "manage", sub), make_token(key, "unsubscribe", sub), views,
                       vote_signer(key) if config.web.enabled else None)
    return view, renderer_for(config.delivery.templates_dir).render(view), whys


def preview_digest(engine: Engine, config: Config, email: str,
                   now: datetime | None = None) -> Rendered | None:
    """Render today's digest for one subscriber without recording anything (None: unknown)."""
    now = now or utcnow()
    with session_scope(engine) as session:
        sync_subscribers(session, config.subscribers)
        sub = find_subscriber(session, email)
        if sub is None or sub.id is None:
            return None
        since = last_digest_at(session, [sub.id]).get(sub.id, now - FIRST_WINDOW)
        selection = select_papers(session, config, [sub], since, now,
                                  already_sent(session, [sub.id], since))
    day = now.astimezone(ZoneInfo(sub.timezone)).date()
    interest = selection.interests[0]
    chosen = selection.ranked.picks[sub.email]
    return render_digest(config, sub, day, interest, chosen, selection.papers,
                         selection.ranked.liked_titles, selection.key)[1]


