"""`digest --help` and every command's help explain every option."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from digest.cli import build_parser


def commands(parser: argparse.ArgumentParser, path: str = "digest"
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command's parser, with its full name."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}")


def test_every_option_of_every_command_has_help() -> None:
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}"
               for path, parser in commands(build_parser()) for a in parser._actions
               if not isinstance(a, argparse._SubParsersAction) and not (a.help or "").strip()]
    assert missing == []


def test_every_command_says_what_it_does() -> None:
    named = dict(commands(build_parser()))
    assert len(named) >= 15
    assert [path for path, parser in named.items() if not parser.description] == []
    assert "(more commands" not in build_parser().format_help()
    assert "check-config" in (build_parser().epilog or "")
