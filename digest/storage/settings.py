"""Small key/value state the application generates itself (the signing key, cached corpus
statistics)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from digest.storage.db import delete_in, insert_on_conflict, rows_in
from digest.storage.models import Setting


def generated_secret(session: Session, key: str = "secret_key") -> str:
    """A random secret generated once and kept in the database (the same for every replica)."""
    row = session.get(Setting, key)
    if row is None:
        row = Setting(key=key, value=secrets.token_urlsafe(32))
        session.add(row)
        session.flush()
    return row.value


def read_setting(session: Session, key: str) -> str | None:
    """A stored value, or None."""
    row = session.get(Setting, key)
    return row.value if row is not None else None


def write_setting(session: Session, key: str, value: str) -> None:
    """Store a value (replacing it); a replica writing the same key at the same moment wins
    and this write is dropped, which is fine for derived state."""
    try:
        with session.begin_nested():
            row = session.get(Setting, key)
            if row is None:
                session.add(Setting(key=key, value=value))
            else:
                row.value = value
    except IntegrityError:
        pass


def add_settings(session: Session, values: dict[str, str]) -> None:
    """Store many new values in one statement; a key already stored keeps its value (derived
    state another replica wrote meanwhile is as good)."""
    if values:
        table = Setting.__table__  # type: ignore[attr-defined]
        session.execute(insert_on_conflict(session, table).on_conflict_do_nothing(
            index_elements=["key"]), [{"key": k, "value": v} for k, v in values.items()])


def read_settings(session: Session, keys: Sequence[str]) -> dict[str, str]:
    """The stored values of those of `keys` that are stored."""
    rows = rows_in(session, select(Setting), col(Setting.key), list(keys))
    return {row.key: row.value for row in rows}


def drop_settings(session: Session, prefix: str, keep: str) -> int:
    """Delete the values whose key starts with `prefix` but not with `keep` (derived state of
    something gone); how many. Neither may hold SQL LIKE wildcards (% or _)."""
    assert not any(c in prefix + keep for c in "%_"), "LIKE wildcards in a settings prefix"
    result = session.execute(delete(Setting).where(
        col(Setting.key).like(prefix + "%"), ~col(Setting.key).like(keep + "%")))
    return int(getattr(result, "rowcount", 0) or 0)


def setting_keys(session: Session, prefix: str) -> list[str]:
    """The stored keys that start with `prefix` (which may hold no LIKE wildcard: % or _)."""
    assert not any(c in prefix for c in "%_"), "LIKE wildcards in a settings prefix"
    return list(session.exec(select(Setting.key).where(col(Setting.key).like(prefix + "%"))))


def delete_settings(session: Session, keys: Sequence[str]) -> None:
    """Delete these keys' values (one statement per chunk)."""
    delete_in(session, Setting, col(Setting.key), keys)
