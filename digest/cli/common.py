"""What every command shares: the -c/--config option, loading it, opening the database."""

from __future__ import annotations

import argparse

from sqlalchemy.engine import Engine

from digest.config import Config, load_config
from digest.storage.db import open_database

Subparsers = argparse._SubParsersAction


def add_command(sub: Subparsers, name: str, help: str, handler: object,
                config: bool = True) -> argparse.ArgumentParser:
    """A subcommand with its handler and (unless `config` is False) the -c/--config option."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=help[0].upper() + help[1:] + ".")
    if config:
        parser.add_argument("-c", "--config", required=True, metavar="FILE",
                            help="the YAML config file (its relative paths are read from its "
                                 "folder); see config/example.yaml")
    parser.set_defaults(handler=handler)
    return parser


def open_config(args: argparse.Namespace) -> tuple[Config, Engine]:
    """The validated config named by -c, and its database, migrated."""
    config = load_config(args.config)
    return config, open_database(config.database)
