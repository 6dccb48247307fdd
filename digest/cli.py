"""The `digest` command line: check-config, poll, papers (more commands join per stage)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from digest import __version__, rank_cli, send_cli, web_cli
from digest.config import Config, load_config
from digest.errors import ConfigError, DigestError
from digest.ingest.poll import PollReport, poll_sources
from digest.storage.db import open_database, session_scope
from digest.storage.papers import newest_papers

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `digest` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    handler: Command = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {exc.path}: {problem}", file=sys.stderr)
        return 2
    except DigestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their options."""
    parser = argparse.ArgumentParser(prog="digest", description=__doc__)
    parser.add_argument("--version", action="version", version=f"paper-digest {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check-config", help="validate a config file and summarise it")
    _config_arg(check)
    check.set_defaults(handler=cmd_check_config)

    poll = sub.add_parser("poll", help="poll every due source once and store new papers")
    _config_arg(poll)
    poll.add_argument("--force", action="store_true", help="poll every source, due or not")
    poll.add_argument("--source", action="append", help="only this source (repeatable)")
    poll.add_argument("--json", action="store_true", help="print the report as JSON")
    poll.set_defaults(handler=cmd_poll)

    rank_cli.add_parser(sub)
    rank_cli.add_semantic_parser(sub)
    send_cli.add_parsers(sub)
    web_cli.add_parsers(sub)

    run = sub.add_parser("run", help="the daemon: poll, compose and deliver on schedule")
    _config_arg(run)
    run.add_argument("--once", action="store_true",
                     help="one full cycle now (poll due sources, compose due, deliver) and exit")
    run.add_argument("--force", action="store_true",
                     help="with --once: poll every source and compose for every subscriber")
    run.add_argument("--log-json", action="store_true", help="JSON log lines on stderr")
    run.set_defaults(handler=cmd_run)

    papers = sub.add_parser("papers", help="list stored papers, newest first")
    _config_arg(papers)
    papers.add_argument("--limit", type=int, default=20)
    papers.set_defaults(handler=cmd_papers)
    return parser


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="path to the YAML config file")


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config; print a short summary."""
    config = load_config(args.config)
    print(f"{args.config}: OK")
    print(f"  database:    {config.database}")
    print(f"  sources:     {len(config.sources)} "
          f"({', '.join(f'{s.name}:{s.type}' for s in config.sources) or 'none'})")
    print(f"  subscribers: {len(config.subscribers)}")
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    """Poll sources and print a table (or JSON) of what happened."""
    config = load_config(args.config)
    engine = open_database(config.database)
    reports = asyncio.run(poll_sources(config, engine, force=args.force, names=args.source))
    if args.json:
        print(json.dumps([r.as_json() for r in reports], indent=2))
    else:
        print_poll_table(reports, config)
    return 0


def print_poll_table(reports: list[PollReport], config: Config) -> None:
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


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon (or one cycle)."""
    from pathlib import Path

    from digest.daemon.logs import setup_logging
    from digest.daemon.run import Daemon

    setup_logging(json_lines=args.log_json,
                  level=logging.DEBUG if args.verbose else logging.INFO)
    load_config(args.config)  # a bad config exits 2 before anything starts
    return asyncio.run(Daemon(Path(args.config), once=args.once, force=args.force).run())


def cmd_papers(args: argparse.Namespace) -> int:
    """List the most recently stored papers."""
    config = load_config(args.config)
    engine = open_database(config.database)
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


if __name__ == "__main__":
    sys.exit(main())
