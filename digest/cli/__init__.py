"""The `digest` command line: a thin layer that parses options and calls the library.

Every failure is a DigestError; the command prints it (with its hint) and exits with the
error's own `exit_code` (2 for a bad config or an unknown subscriber, 3 when another daemon
runs, 1 otherwise).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from digest import __version__
from digest.cli import daemon, feedback, ingest, rank, send, web
from digest.errors import ConfigError, DigestError

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
        return exc.exit_code
    except DigestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their options, in pipeline order."""
    parser = argparse.ArgumentParser(
        prog="digest", description="paper-digest: a daily, personal digest of new research papers.",
        epilog="Start with `digest check-config -c FILE`, then `digest poll`, `digest rank` and "
               "`digest preview` to see what a subscriber would get, and `digest run` for the "
               "daemon. `make demo` runs the whole pipeline offline. "
               "`digest COMMAND --help` explains each command.")
    parser.add_argument("--version", action="version", version=f"paper-digest {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (ingest, rank, feedback, send, web, daemon):
        module.add_parsers(sub)
    return parser
