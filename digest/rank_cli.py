"""`digest rank`: rank stored papers for one subscriber and print them; sends nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import date

from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from digest.clock import utcnow
from digest.compose.select import FIRST_WINDOW
from digest.config import load_config
from digest.errors import UnknownSubscriberError
from digest.ingest.poll import store_missing_liked
from digest.rank import Pick
from digest.rank.stored import interest_of, rank_configured
from digest.storage.db import open_database, session_scope
from digest.storage.models import Paper
from digest.storage.outbox import last_digest_at
from digest.storage.papers import papers_first_seen, papers_published
from digest.storage.subscribers import find_subscriber, sync_subscribers

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `digest rank`."""
    p = sub.add_parser("rank", help="rank stored papers for one subscriber (sends nothing)")
    p.add_argument("-c", "--config", required=True, help="path to the YAML config file")
    p.add_argument("--subscriber", required=True, help="the subscriber's email address")
    p.add_argument("--since", type=date.fromisoformat, help="first published date (YYYY-MM-DD)")
    p.add_argument("--until", type=date.fromisoformat, help="last published date (YYYY-MM-DD)")
    p.add_argument("--top", type=int, help="how many papers (default: the subscriber's max_papers)")
    p.add_argument("--json", action="store_true", help='print [{"id", "score", "reasons"}]')
    p.set_defaults(handler=cmd_rank)


def add_semantic_parser(sub: argparse._SubParsersAction) -> None:
    """Register `digest semantic distill`."""
    p = sub.add_parser("semantic", help="set up the optional semantic ranker")
    actions = p.add_subparsers(dest="action", required=True)
    distill = actions.add_parser("distill", help="distil the static (model2vec) model once, "
                                                 "from the installed all-MiniLM-L6-v2")
    distill.add_argument("-c", "--config", required=True)
    distill.add_argument("--source", help="sentence-transformers model (default: packaged MiniLM)")
    distill.set_defaults(handler=cmd_distill)


def cmd_distill(args: argparse.Namespace) -> int:
    """Write the model2vec model where `ranking.semantic.model` points."""
    from pathlib import Path

    from digest.rank.semantic import distill_static

    config = load_config(args.config)
    target = Path(config.ranking.semantic.model or "models/minilm-m2v")
    print(f"distilled model written to {distill_static(args.source, target)}")
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    """Rank and print."""
    config = load_config(args.config)
    engine = open_database(config.database)
    with session_scope(engine) as session:
        sync_subscribers(session, config.subscribers)
        row = find_subscriber(session, args.subscriber)
        if row is None:
            raise UnknownSubscriberError(f"no subscriber {args.subscriber!r}",
                                         "check the address against `subscribers` in the config")
        interest = interest_of(row)
    asyncio.run(store_missing_liked(config, engine, emails=[row.email]))
    with session_scope(engine) as session:
        papers = window_papers(session, args.since, args.until, row.id or 0)
        ranked = rank_configured(session, config, papers, [interest])
        picks = ranked.picks[interest.key][: args.top or None]
    if args.json:
        print(json.dumps([p.as_json() for p in picks], indent=2, ensure_ascii=False))
    else:
        print_picks(picks, {p.canonical_id: p for p in papers}, len(papers))
    return 0


def window_papers(session: Session, since: date | None, until: date | None,
                  subscriber_id: int) -> list[Paper]:
    """Papers published in [since, until], or by default first seen since the last digest
    (the same window the next digest is composed from)."""
    if since or until:
        return papers_published(session, since or date(1991, 8, 14), until or utcnow().date())
    now = utcnow()
    start = last_digest_at(session, [subscriber_id]).get(subscriber_id, now - FIRST_WINDOW)
    return papers_first_seen(session, start)


def print_picks(picks: list[Pick], papers: dict[str, Paper], pool: int) -> None:
    """Human table: rank, score, id, title, why."""
    table = Table(title=f"{len(picks)} picked of {pool} candidate papers")
    for column in ("#", "score", "id", "title", "why"):
        table.add_column(column, overflow="fold")
    for n, pick in enumerate(picks, 1):
        why = "; ".join(f"{r.kind}: {r.label}" + (f" ({', '.join(r.terms)})" if r.terms else "")
                        for r in pick.reasons)
        table.add_row(str(n), f"{pick.score:.3f}", pick.id, papers[pick.id].title[:100], why)
    Console(width=160).print(table)
