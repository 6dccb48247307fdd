"""`digest preview`, `digest send` and `digest status`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from digest.cli.common import Subparsers, add_command, open_config
from digest.clock import utcnow
from digest.compose.digests import compose_due, preview_digest
from digest.compose.schedule import next_send_time
from digest.deliver.outbox import deliver_queue, requeue_if_unowned
from digest.errors import DigestError, UnknownSubscriberError
from digest.rank.stored import ranker_description
from digest.storage.db import session_scope
from digest.storage.feeds import all_feeds
from digest.storage.models import OutboxStatus, SubscriberStatus
from digest.storage.outbox import latest_failures, queue_counts
from digest.storage.subscribers import all_subscribers


def add_parsers(sub: Subparsers) -> None:
    """Register preview, send and status."""
    p = add_command(sub, "preview", "render a subscriber's digest without sending it", cmd_preview)
    p.add_argument("--subscriber", required=True, metavar="EMAIL",
                   help="the subscriber's email address")
    p.add_argument("--date", type=datetime.fromisoformat, metavar="WHEN",
                   help="pretend it is this moment (YYYY-MM-DD or an ISO date-time; UTC)")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="write the HTML part to this file (open it in a browser)")
    p.add_argument("--text", action="store_true", help="print the plain-text part")
    s = add_command(sub, "send", "compose due digests and deliver the queue", cmd_send)
    s.add_argument("--subscriber", metavar="EMAIL", help="only this subscriber")
    s.add_argument("--dry-run", action="store_true", help="compose and render, record nothing")
    s.add_argument("--force", action="store_true", help="every active subscriber, due or not")
    add_command(sub, "status", "queue counts, subscribers and feeds", cmd_status)


def cmd_preview(args: argparse.Namespace) -> int:
    """Render one digest; print its text or write its HTML."""
    config, engine = open_config(args)
    when = args.date.astimezone() if args.date else None
    rendered = preview_digest(engine, config, args.subscriber, when)
    if rendered is None:
        raise UnknownSubscriberError(f"no subscriber {args.subscriber!r}",
                                     "check the address against the config")
    print(f"Subject: {rendered.subject}")
    if args.out:
        args.out.write_text(rendered.html, encoding="utf-8")
        print(f"HTML written to {args.out}")
    if args.text or not args.out:
        print(rendered.text)
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    """Compose what is due, then deliver the queue; non-zero when the server is unreachable."""
    config, engine = open_config(args)
    composed = compose_due(engine, config, force=args.force, only=args.subscriber,
                           dry_run=args.dry_run)
    for c in composed:
        print(f"{c.status:8} {c.email} {c.digest_date} {c.papers} papers  {c.subject or c.error}")
    if args.dry_run:
        return 0
    if requeued := requeue_if_unowned(engine):
        print(f"requeued {requeued} digest(s) a stopped daemon left in flight")
    report = asyncio.run(deliver_queue(engine, config))
    print(f"delivered {report.sent}, to retry {report.retry}, failed {report.failed}")
    for error in report.errors[:20]:
        print(f"  {error}", file=sys.stderr)
    if config.delivery.transport == "file" and report.sent:
        print(f"open {config.delivery.outbox_dir / 'index.html'} to read them")
    if report.server_down:
        raise DigestError("the mail server could not be reached; digests stay queued",
                          "run `digest send` again once it is back")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Queue counts, paused subscribers, next send times, feed health."""
    config, engine = open_config(args)
    now = utcnow()
    console = Console(width=140)
    with session_scope(engine) as session:
        counts = queue_counts(session)
        subs = all_subscribers(session)
        feeds = all_feeds(session)
        failures = latest_failures(session)
    console.print("queue: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in
                                        OutboxStatus))
    console.print(f"ranker: {ranker_description(config)}", markup=False)
    table = Table(title="subscribers")
    for column in ("email", "status", "next send (local)", "last digest", "failures",
                   "last failed digest"):
        table.add_column(column, overflow="fold")
    for s in subs:
        active = s.status == SubscriberStatus.ACTIVE
        nxt = next_send_time(s, now).strftime("%Y-%m-%d %H:%M %Z") if active else "-"
        day, error = failures.get(s.id or 0, (None, ""))
        table.add_row(s.email, s.status, nxt, str(s.last_digest_date or "-"), str(s.failure_streak),
                      f"{day}: {error[:100]}" if day else "-",
                      style="yellow" if s.status == SubscriberStatus.PAUSED else None)
    console.print(table)
    feed_table = Table(title="feeds")
    for column in ("feed", "last poll", "status", "next check", "error streak", "last error"):
        feed_table.add_column(column, overflow="fold")
    for f in feeds:
        feed_table.add_row(f.name, _when(f.last_polled_at), f.last_status or "-",
                           _when(f.next_check_at), str(f.error_count), (f.last_error or "")[:80],
                           style="red" if f.error_count else None)
    console.print(feed_table)
    return 0


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"
