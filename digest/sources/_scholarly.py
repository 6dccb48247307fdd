"""What the scholarly JSON APIs (bioRxiv/medRxiv, Europe PMC, OpenAlex, Semantic Scholar)
share: their config base (a date window, a result cap, an API key variable), JSON loading,
dates that may be null or "NA", DOIs that are arXiv ids, preprint/journal relations, markup."""

from __future__ import annotations

import html
import json
import os
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import Field, field_validator

from digest.errors import ParseError, PermanentFetchError
from digest.sources._xml import parse_date
from digest.sources.base import SourceBase
from digest.sources.ids import normalize_doi, split_arxiv_id
from digest.text import MAX_AUTHORS, author_name, one_line, paragraph

# Signals that tie a preprint to its journal version; storage joins rows through them.
PREPRINT_DOI, PUBLISHED_DOI = "preprint_doi", "published_doi"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(?P<id>.+)$", re.I)
_HEADING = re.compile(r"<h[1-6][^>]*>(.*?)</h[1-6]>", re.I | re.S)
_BREAK = re.compile(r"<(?:br\s*/?|/p|p(?:\s[^>]*)?)>", re.I)
_TAG = re.compile(r"</?(?:a|b|i|u|em|strong|sup|sub|sc|span|div|font|mml:\w+|math)\b[^<>]{0,300}>",
                  re.I)  # inline markup only: "p < 0.05 and q > 1" is text, not a tag


class WindowedSource(SourceBase):
    """An API source that asks for papers since the last successful poll, up to a cap.

    The first poll looks back `days_back` days; later polls ask from the day before the last
    success (a day of overlap: services index late, and a paper seen twice is still one row).
    """

    days_back: int = Field(2, ge=1, le=90)
    max_results: int = Field(500, ge=1, le=10_000)


class KeyedSource(WindowedSource):
    """A windowed source whose service offers an API key, read from the variable named here."""

    api_key_env: str | None = None

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("name an environment variable (e.g. OPENALEX_API_KEY), not the key")
        return value


def api_key(src: KeyedSource) -> str | None:
    """The API key from the variable `src.api_key_env` names (None when none is named)."""
    if src.api_key_env is None:
        return None
    key = os.environ.get(src.api_key_env, "").strip()
    if not key:
        raise PermanentFetchError(f"environment variable {src.api_key_env} is not set",
                                  f"export it, or remove api_key_env from sources[{src.name}]")
    return key


def window_start(src: WindowedSource, since: datetime | None, today: datetime) -> date:
    """First day to ask for: the day before the last success, else `days_back` days ago."""
    if since is not None:
        return min((since.astimezone(UTC) - timedelta(days=1)).date(), utc_day(today))
    return utc_day(today) - timedelta(days=src.days_back)


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of an aware (or naive UTC) datetime."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()


def with_params(base: str, params: dict[str, Any]) -> str:
    """`base` with `params` appended as a query string (None values left out)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return base + ("&" if "?" in base else "?") + query if query else base


def load_json(data: bytes, what: str, hint: str) -> Any:
    """Decode a JSON body or raise ParseError naming the service."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"{what}: not JSON ({exc})", hint) from exc


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (every API field is optional)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def as_int(value: Any) -> int | None:
    """An integer from a number or numeric string, else None."""
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        return None


def day(value: Any) -> datetime | None:
    """A date such as '2026-08-01' as midnight UTC; None for null, '' and 'NA'."""
    text = str(value or "").strip()
    return None if text.upper() in {"", "NA", "N/A", "NULL", "NONE"} else parse_date(text)


def arxiv_of_doi(doi: str | None) -> str | None:
    """The arXiv id behind an arXiv DOI (10.48550/arXiv.2510.08703), else None."""
    m = _ARXIV_DOI.match(doi or "")
    found = split_arxiv_id(m.group("id")) if m else None
    return found[0] if found else None


def identity(arxiv_id: str | None, doi_text: Any) -> tuple[str | None, str | None]:
    """(arXiv id, DOI) of a work; an arXiv DOI counts as the arXiv id, not as a DOI."""
    doi = normalize_doi(str(doi_text or ""))
    from_doi = arxiv_of_doi(doi)
    return (arxiv_id or from_doi, None) if from_doi else (arxiv_id, doi)


def relation(preprint: str | None, published: str | None) -> dict[str, str]:
    """The signals tying a preprint DOI to its journal DOI, when both are known and differ."""
    if not preprint or not published or preprint == published:
        return {}
    return {PREPRINT_DOI: preprint, PUBLISHED_DOI: published}


def markup_text(text: Any, keep_paragraphs: bool = True) -> str:
    """Plain text of a title or abstract holding inline HTML (<i>, <sup>, <h4>), even escaped."""
    raw = html.unescape(str(text or ""))
    raw = _HEADING.sub(lambda m: f"\n\n{m.group(1).strip().rstrip(':')}: ", raw)
    raw = _TAG.sub("", _BREAK.sub("\n\n", raw))
    return paragraph(raw) if keep_paragraphs else one_line(raw)


def title_text(text: Any) -> str:
    """A one-line title without markup or the trailing full stop PubMed adds."""
    title = markup_text(text, keep_paragraphs=False)
    return title[:-1] if title.endswith(".") and not title.endswith("..") else title


def names(raw: list[str]) -> list[str]:
    """Clean author names, empty ones dropped, at most MAX_AUTHORS."""
    return [n for n in (author_name(r) for r in raw) if n][:MAX_AUTHORS]


def given_first(name: str) -> str:
    """'Loconsole, M.' -> 'M. Loconsole' (a name without exactly one comma is kept)."""
    parts = [p.strip() for p in name.split(",")]
    return f"{parts[1]} {parts[0]}" if len(parts) == 2 and all(parts) else name.strip()
