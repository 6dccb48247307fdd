"""Forgiving author matching: 'Gelpí' = 'Gelpi', 'Y. LeCun' ~ 'Yann LeCun'."""

from __future__ import annotations

import re
from functools import lru_cache

from anyascii import anyascii

_TOKEN = re.compile(r"[a-z]+")


@lru_cache(maxsize=100_000)
def author_key(name: str) -> str | None:
    """Surname plus first initial, accent-folded: 'Yann LeCun' and 'Y. LeCun' -> 'lecun|y'."""
    tokens = _TOKEN.findall(anyascii(name).lower())
    if not tokens:
        return None
    initial = tokens[0][0] if len(tokens) > 1 else ""
    return f"{tokens[-1]}|{initial}"
