"""Signed links (itsdangerous): one salt per purpose, bound to a subscriber and their nonce."""

from __future__ import annotations

import os
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session

from digest.errors import TokenError
from digest.storage.models import Subscriber
from digest.storage.settings import generated_secret

Purpose = Literal["unsubscribe", "manage", "confirm"]
SALTS: dict[str, str] = {p: f"paper-digest/{p}/v1" for p in ("unsubscribe", "manage", "confirm")}


def secret_key(session: Session, env_name: str = "DIGEST_SECRET_KEY") -> str:
    """The signing key: from the environment, else one generated once and kept in the database."""
    from_env = os.environ.get(env_name)
    if from_env:
        return from_env
    return generated_secret(session)


def make_token(key: str, purpose: Purpose, subscriber: Subscriber) -> str:
    """A URL-safe token for `purpose`, bound to the subscriber's id and current nonce."""
    return URLSafeTimedSerializer(key, salt=SALTS[purpose]).dumps(
        {"s": subscriber.id, "n": subscriber.token_nonce})


def read_token(key: str, purpose: Purpose, token: str, max_age: int | None = None) -> tuple[int, str]:
    """(subscriber id, nonce) from a token; TokenError when invalid for this purpose or expired."""
    try:
        data = URLSafeTimedSerializer(key, salt=SALTS[purpose]).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenError("this link has expired", "ask for a new one") from exc
    except BadSignature as exc:
        raise TokenError("this link is not valid", "use the link from your latest email") from exc
    if not isinstance(data, dict) or not isinstance(data.get("s"), int):
        raise TokenError("this link is not valid", "use the link from your latest email")
    return data["s"], str(data.get("n", ""))
