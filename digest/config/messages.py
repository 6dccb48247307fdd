"""Turn pydantic validation errors into one plain message per problem, with a field path."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from digest.sources import TYPES

_TYPES = ", ".join(TYPES)


def field_path(loc: tuple[int | str, ...]) -> str:
    """('subscribers', 2, 'timezone') -> 'subscribers[2].timezone' (union tags dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in TYPES or part.startswith("function-"):
            continue
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per problem: the field path, what was wrong, and what is accepted."""
    problems = []
    for err in exc.errors(include_url=False):
        path = field_path(err["loc"])
        problems.append(f"{path}: {_message(err)}")
    return list(dict.fromkeys(problems))


def _message(err: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key; check the spelling against config/example.yaml"
    if kind == "union_tag_invalid":
        return (f"unknown source type {err['input'].get('type')!r}"
                if isinstance(err.get("input"), dict) else msg) + \
            f"; use one of {_TYPES}"
    if kind == "union_tag_not_found":
        return f"missing 'type'; use one of {_TYPES}"
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        if "email address" in msg:
            return f"{err.get('input')!r} is not a valid email address ({msg})"
    if kind.startswith("url_"):
        return f"{err.get('input')!r} is not a valid URL; use a full https://… address"
    return msg
