"""`digest run`: the daemon, or one cycle with --once."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from digest.cli.common import Subparsers, add_command
from digest.config import check_environment, load_config


def add_parsers(sub: Subparsers) -> None:
    """Register run."""
    run = add_command(sub, "run", "the daemon: poll, compose and deliver on schedule", cmd_run)
    run.add_argument("--once", action="store_true",
                     help="one full cycle now (poll due sources, compose due, deliver) and exit")
    run.add_argument("--force", action="store_true",
                     help="with --once: poll every source and compose for every subscriber")
    run.add_argument("--log-json", action="store_true",
                     help="one JSON object per log line on stderr (for log collectors)")


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon (or one cycle)."""
    from digest.daemon.logs import setup_logging
    from digest.daemon.run import Daemon

    setup_logging(json_lines=args.log_json,
                  level=logging.DEBUG if args.verbose else logging.INFO)
    check_environment(load_config(args.config))  # a bad config exits 2 before anything starts
    return asyncio.run(Daemon(Path(args.config), once=args.once, force=args.force).run())
