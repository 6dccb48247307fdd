"""Small key/value state the application generates itself (the signing key)."""

from __future__ import annotations

import secrets

from sqlmodel import Session

from digest.storage.models import Setting


def generated_secret(session: Session, key: str = "secret_key") -> str:
    """A random secret generated once and kept in the database (the same for every replica)."""
    row = session.get(Setting, key)
    if row is None:
        row = Setting(key=key, value=secrets.token_urlsafe(32))
        session.add(row)
        session.flush()
    return row.value
