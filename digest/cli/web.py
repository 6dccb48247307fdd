"""`digest serve` and `digest subscribers list|export|remove|import-library`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from digest.cli.common import Subparsers, add_command, open_config
from digest.errors import UnknownSubscriberError
from digest.library.parse import load_file
from digest.library.resolve import LIBRARY_LIMIT, import_library
from digest.storage.db import session_scope
from digest.storage.models import Origin
from digest.storage.subscribers import all_subscribers, remove_subscriber


def add_parsers(sub: Subparsers) -> None:
    """Register serve and subscribers."""
    serve = add_command(sub, "serve", "the subscription web app (subscribe/confirm/manage)",
                        cmd_serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default %(default)s; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=8080,
                       help="port to listen on (default %(default)s)")
    subs = add_command(sub, "subscribers", "list, export, remove subscribers or import a "
                                           "library", None, config=False)
    actions = subs.add_subparsers(dest="action", required=True)
    add_command(actions, "list", "a table of every subscriber", cmd_subscribers)
    add_command(actions, "export", "every subscriber as JSON lines", cmd_subscribers)
    remove = add_command(actions, "remove", "delete one subscriber (and cancel their queued "
                                            "digests)", cmd_subscribers)
    remove.add_argument("email", metavar="EMAIL", help="the subscriber's address")
    imp = add_command(actions, "import-library",
                      "make the papers of a BibTeX, RIS or CSL-JSON export (Zotero, Mendeley, "
                      "JabRef, ...) a subscriber's liked papers", cmd_import_library)
    imp.add_argument("email", metavar="EMAIL", help="the subscriber's address")
    imp.add_argument("file", metavar="FILE", help="the exported library (.bib, .ris or .json; "
                                                  "the format is read from the content)")
    imp.add_argument("--replace", action="store_true",
                     help=f"replace the papers imported before instead of adding to them "
                          f"(at most {LIBRARY_LIMIT} are kept, the newest first)")


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web app with uvicorn."""
    import uvicorn

    from digest.daemon.health import serve_app
    from digest.daemon.logs import setup_logging

    setup_logging()
    config, engine = open_config(args)
    uvicorn.run(serve_app(config, engine), host=args.host, port=args.port,
                log_level="info", proxy_headers=config.web.trust_proxy_headers)
    return 0


def cmd_subscribers(args: argparse.Namespace) -> int:
    """list: a table; export: JSON lines; remove: delete one (and cancel its queue)."""
    _, engine = open_config(args)
    if args.action == "remove":
        return _remove(engine, args.email)
    with session_scope(engine) as session:
        rows = all_subscribers(session)
    if args.action == "export":
        for r in rows:
            print(json.dumps({"email": r.email, "name": r.name, "status": r.status,
                              "origin": r.origin, "timezone": r.timezone, "send_at": r.send_at,
                              "cadence": r.cadence, "weekly_day": r.weekly_day,
                              **r.interests}, ensure_ascii=False))
        return 0
    table = Table(title=f"{len(rows)} subscriber(s)")
    for column in ("email", "status", "origin", "time zone", "send at", "last digest"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.email, r.status, r.origin, r.timezone, r.send_at,
                      str(r.last_digest_date or "-"))
    Console(width=140).print(table)
    return 0


def cmd_import_library(args: argparse.Namespace) -> int:
    """Import a library export as liked papers and print what became of its entries."""
    config, engine = open_config(args)
    report = import_library(engine, args.email, load_file(Path(args.file)), args.file,
                            replace=args.replace, configured=config.subscribers)
    print("\n".join(report.lines()))
    return 0


def _remove(engine: Engine, email: str) -> int:
    with session_scope(engine) as session:
        target = remove_subscriber(session, email)
    if target is None:
        raise UnknownSubscriberError(f"no subscriber {email!r}", "see `digest subscribers list`")
    if target.origin == Origin.CONFIG:
        print(f"note: {target.email} is listed in the config file; remove it there too, "
              "or it comes back on the next run", file=sys.stderr)
    print(f"removed {target.email}")
    return 0
