"""`digest check-config`, `digest poll` and `digest papers`."""

from __future__ import annotations

import argparse
import asyncio
import json

from rich.console import Console
from rich.table import Table

from digest.cli.common import Subparsers, add_command, open_config
from digest.config import check_environment, load_config
from digest.ingest.poll import PollReport, poll_sources
from digest.storage.db import session_scope
from digest.storage.papers import newest_papers


def add_parsers(sub: Subparsers) -> None:
    """Register check-config, poll and papers."""
    add_command(sub, "check-config", "validate a config file and summarise it", cmd_check_config)
    poll = add_command(sub, "poll", "poll every due source once and store new papers", cmd_poll)
    poll.add_argument("--force", action="store_true", help="poll every source, due or not")
    poll.add_argument("--source", action="append", metavar="NAME",
                      help="only the source of this name (repeatable)")
    poll.add_argument("--json", action="store_true", help="print the report as JSON")
    papers = add_command(sub, "papers", "list stored papers, newest first", cmd_papers)
    papers.add_argument("--limit", type=int, default=20, metavar="N",
                        help="how many papers (default %(default)s)")


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config; print a short summary."""
    config = load_config(args.config)
    check_environment(config)
    print(f"{args.config}: OK")
    print(f"  database:    {config.database}")
    print(f"  sources:     {len(config.sources)} "
          f"({', '.join(f'{s.name}:{s.type}' for s in config.sources) or 'none'})")
    print(f"  subscribers: {len(config.subscribers)}")
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    """Poll sources and print a table (or JSON) of what happened."""
    config, engine = open_config(args)
    reports = asyncio.run(poll_sources(config, engine, force=args.force, names=args.source))
    if args.json:
        print(json.dumps([r.as_json() for r in reports], indent=2))
    else:
        print_poll_table(reports)
    return 0


def print_poll_table(reports: list[PollReport]) -> None:
    """The human table of a poll: one row per source."""
    console = Console()
    if not reports:
        console.print("No source is due; use --force to poll them all now.")
        return
    table = Table(title=f"poll: {len(reports)} source(s)")
    for column in ("source", "type", "status", "parsed", "new", "updated", "error"):
        table.add_column(column, justify="right" if column in ("parsed", "new", "updated") else "left")
    for r in reports:
        table.add_row(r.source, r.type, r.status, str(r.parsed), str(r.new), str(r.updated),
                      r.error or "", style="red" if r.error else None)
    console.print(table)


def cmd_papers(args: argparse.Namespace) -> int:
    """List the most recently stored papers."""
    _, engine = open_config(args)
    with session_scope(engine) as session:
        total, rows = newest_papers(session, args.limit)
    table = Table(title=f"{total} papers stored; newest {len(rows)}")
    for column in ("id", "v", "title", "authors", "signals"):
        table.add_column(column, overflow="fold")
    for p in rows:
        authors = ", ".join(p.authors[:2]) + (" et al." if len(p.authors) > 2 else "")
        hints = f"▲{p.signals['hf_upvotes']}" if "hf_upvotes" in p.signals else ""
        table.add_row(p.canonical_id, str(p.version), p.title[:90], authors, hints)
    Console().print(table)
    return 0
