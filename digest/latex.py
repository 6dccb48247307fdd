"""Readable text from abstracts that carry LaTeX ($\\alpha$, \\textbf{}, accents)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pylatexenc.latex2text import LatexNodes2Text

_HAS_TEX = re.compile(r"[\\$^_{}]")
_BARE_PERCENT = re.compile(r"(?<!\\)%")  # in abstracts % is a percent sign, not a comment


@lru_cache(maxsize=1)
def _converter() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="text", strict_latex_spaces=True)


@lru_cache(maxsize=20_000)  # the same abstracts appear in many subscribers' digests
def latex_to_text(text: str) -> str:
    """`$O(n^2)$ with $\\alpha$` -> `O(n^2) with α`; text without TeX is returned as is."""
    if not _HAS_TEX.search(text):
        return text
    try:
        out = _converter().latex_to_text(_BARE_PERCENT.sub(r"\\%", text))
    except Exception:  # pylatexenc is lenient; never let one abstract break a digest
        return text
    return " ".join(unicodedata.normalize("NFC", out).split())


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")


def first_sentences(text: str, count: int = 2, limit: int = 320) -> str:
    """The first `count` sentences of `text`, at most `limit` characters."""
    from digest.text import cut

    sentences = _SENTENCE_END.split(text.strip())
    return cut(" ".join(sentences[:count]), limit)
