"""`digest serve` and `digest subscribers list|export|remove`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from digest.config import Config, load_config
from digest.rank_cli import UnknownSubscriberError
from digest.storage.db import open_database, session_scope
from digest.storage.models import Subscriber
from digest.storage.outbox import cancel_queued
from digest.storage.subscribers import all_subscribers

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from starlette.applications import Starlette


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register serve and subscribers."""
    serve = sub.add_parser("serve", help="the subscription web app (subscribe/confirm/manage)")
    serve.add_argument("-c", "--config", required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(handler=cmd_serve)

    subs = sub.add_parser("subscribers", help="list, export or remove subscribers")
    actions = subs.add_subparsers(dest="action", required=True)
    for name, text in (("list", "a table of every subscriber"),
                       ("export", "every subscriber as JSON lines"),
                       ("remove", "delete one subscriber (and cancel their queued digests)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("-c", "--config", required=True)
        if name == "remove":
            action.add_argument("email", help="the subscriber's address")
        action.set_defaults(handler=cmd_subscribers)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web app with uvicorn."""
    import uvicorn

    from digest.daemon.logs import setup_logging

    setup_logging()
    config = load_config(args.config)
    engine = open_database(config.database)
    uvicorn.run(serve_app(config, engine), host=args.host, port=args.port,
                log_level="info", proxy_headers=config.web.trust_proxy_headers)
    return 0


def serve_app(config: Config, engine: Engine) -> Starlette:
    """The app `digest serve` runs: the web pages, and /healthz without a scheduler."""
    from digest.daemon.health import health_endpoint
    from digest.web.app import build_web_app

    return build_web_app(config, engine, health_endpoint(engine))


def cmd_subscribers(args: argparse.Namespace) -> int:
    """list: a table; export: JSON lines; remove: delete one (and cancel its queue)."""
    config = load_config(args.config)
    engine = open_database(config.database)
    with session_scope(engine) as session:
        rows = all_subscribers(session)
        if args.action == "remove":
            return _remove(session, rows, args.email)
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


def _remove(session: Session, rows: Sequence[Subscriber], email: str | None) -> int:
    target = next((r for r in rows if email and r.email == email.strip().lower()), None)
    if target is None:
        raise UnknownSubscriberError(f"no subscriber {email!r}",
                                     "see `digest subscribers list`")
    if target.origin == "config":
        print(f"note: {target.email} is listed in the config file; remove it there too, "
              "or it comes back on the next run", file=sys.stderr)
    cancel_queued(session, target.id or 0)
    session.delete(target)
    print(f"removed {target.email}")
    return 0
