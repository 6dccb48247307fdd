"""Signed links (itsdangerous): one salt per purpose, bound to a subscriber and their nonce."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from sqlmodel import Session

from digest.errors import TokenError
from digest.storage.feedback import VoteAction
from digest.storage.models import Subscriber
from digest.storage.settings import generated_secret

Purpose = Literal["unsubscribe", "manage", "confirm", "vote"]
SALTS: dict[str, str] = {p: f"paper-digest/{p}/v1"
                         for p in ("unsubscribe", "manage", "confirm", "vote")}
VOTE_MAX_AGE = 365 * 86_400  # seconds a vote link in a digest stays valid
VOTE_ACTIONS = (VoteAction.MORE, VoteAction.LESS)


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
    data = _load(key, purpose, token, max_age)
    return data["s"], str(data.get("n", ""))


def _load(key: str, purpose: Purpose, token: str, max_age: int | None) -> dict[str, Any]:
    """The signed payload of a token for `purpose`, naming a subscriber id; else TokenError."""
    try:
        data = URLSafeTimedSerializer(key, salt=SALTS[purpose]).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenError("this link has expired", "ask for a new one") from exc
    except BadSignature as exc:
        raise TokenError("this link is not valid", "use the link from your latest email") from exc
    if not isinstance(data, dict) or not isinstance(data.get("s"), int):
        raise TokenError("this link is not valid", "use the link from your latest email")
    return data


class VoteSigner:
    """Signs vote links for many (subscriber, paper, action)s: one signer made once, and the
    payload left uncompressed (itsdangerous's zlib attempt costs four times the signature);
    the tokens are ordinary URL-safe timed tokens that `read_vote_token` reads."""

    def __init__(self, key: str) -> None:
        self._signer = URLSafeTimedSerializer(key, salt=SALTS["vote"]).make_signer()

    def token(self, subscriber: Subscriber, paper_id: str, action: VoteAction) -> str:
        """The token of one vote link, bound to the subscriber's current nonce."""
        payload = json.dumps({"s": subscriber.id, "n": subscriber.token_nonce, "p": paper_id,
                              "a": str(action)}, separators=(",", ":"))
        return self._signer.sign(base64_encode(payload.encode())).decode("ascii")


@lru_cache(maxsize=4)
def vote_signer(key: str) -> VoteSigner:
    """The shared VoteSigner for this key (compose signs many digests' links with it)."""
    return VoteSigner(key)


@dataclass(frozen=True)
class VoteClaim:
    """What a vote token says: who votes how on which paper (the nonce must still match)."""

    subscriber_id: int
    nonce: str
    paper_id: str
    action: VoteAction


def read_vote_token(key: str, token: str, max_age: int | None = VOTE_MAX_AGE) -> VoteClaim:
    """The vote a link's token carries; TokenError when forged, altered, expired or not a vote."""
    data = _load(key, "vote", token, max_age)
    paper, action = data.get("p"), data.get("a")
    if not isinstance(paper, str) or not paper or action not in VOTE_ACTIONS:
        raise TokenError("this link is not valid", "use the link from your latest email")
    return VoteClaim(data["s"], str(data.get("n", "")), paper, VoteAction(action))
