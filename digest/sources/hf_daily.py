"""Hugging Face daily / trending papers (`/api/daily_papers` JSON); every field optional."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import Field

from digest.errors import ParseError
from digest.sources._xml import parse_date
from digest.sources.base import SourceBase, SourceType, each_record
from digest.sources.ids import normalize_arxiv_id, split_arxiv_id
from digest.sources.records import PaperRecord
from digest.text import MAX_AUTHORS, author_name, http_url, one_line, paragraph

DEFAULT_URL = "https://huggingface.co/api/daily_papers"


class HfDailySource(SourceBase):
    """Hugging Face daily papers (sort: date) or the trending list (sort: trending)."""

    type: Literal["hf_daily"]
    sort: Literal["date", "trending"] = "date"
    backfill_days: int = Field(0, ge=0, le=60)


def first_urls(src: HfDailySource, today: datetime,
               since: datetime | None = None) -> list[str]:
    """Trending, or today's list then `backfill_days` earlier days (unconditional)."""
    base = str(src.url) if src.url else DEFAULT_URL
    if src.sort == "trending":
        return [daily_url(base, sort="trending")]
    return [daily_url(base, today.date() - timedelta(days=n)) for n in range(src.backfill_days + 1)]


def daily_url(base: str, day: date | None = None, sort: str = "date", limit: int = 100) -> str:
    """URL of one day's list (or of the trending list when `sort` is 'trending')."""
    params: dict[str, Any] = {"limit": limit}
    if sort == "trending":
        params["sort"] = "trending"
    elif day is not None:
        params["date"] = day.isoformat()
    return base + ("&" if "?" in base else "?") + urlencode(params)


def parse(data: bytes) -> list[PaperRecord]:
    """Parse a daily-papers JSON array into records carrying HF signals."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"Hugging Face papers: not JSON ({exc})",
                         "check the source URL points at /api/daily_papers") from exc
    items = doc.get("papers", doc.get("data")) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ParseError("Hugging Face papers: expected a JSON list of papers",
                         "check the source URL points at /api/daily_papers")
    return each_record(_from_item, items)


def _from_item(item: Any) -> PaperRecord | None:
    if not isinstance(item, dict):
        return None
    nested = item.get("paper")
    paper: dict[str, Any] = nested if isinstance(nested, dict) else item
    raw_id = str(paper.get("id") or "")
    found = split_arxiv_id(raw_id)
    if not found or not paper.get("title"):
        return None
    arxiv_id = normalize_arxiv_id(found[0])
    authors = [author_name(str(a.get("name", ""))) for a in paper.get("authors") or []
               if isinstance(a, dict) and a.get("name")]
    return PaperRecord(
        canonical_id=arxiv_id, arxiv_id=arxiv_id, version=found[1] or 1,
        title=one_line(str(paper.get("title"))),
        abstract=paragraph(str(paper.get("summary") or item.get("summary") or "")),
        authors=authors[:MAX_AUTHORS],
        published=parse_date(str(paper.get("publishedAt") or item.get("publishedAt") or "")),
        url=f"https://arxiv.org/abs/{arxiv_id}", pdf_url=f"https://arxiv.org/pdf/{arxiv_id}",
        signals=_signals(item, paper, arxiv_id),
    )


def _signals(item: dict[str, Any], paper: dict[str, Any], arxiv_id: str) -> dict[str, Any]:
    keywords = paper.get("ai_keywords")
    signals: dict[str, Any] = {
        "hf_upvotes": _int(paper.get("upvotes")),
        "hf_comments": _int(item.get("numComments")),
        "ai_summary": one_line(str(paper["ai_summary"]), 1000) if paper.get("ai_summary") else None,
        "ai_keywords": [one_line(str(k), 80) for k in keywords][:30]
        if isinstance(keywords, list) else None,
        "github_repo": http_url(paper.get("githubRepo")),
        "github_stars": _int(paper.get("githubStars")),
        "project_page": http_url(paper.get("projectPage")),
        "hf_url": f"https://huggingface.co/papers/{arxiv_id}",
        "hf_day": str(paper.get("submittedOnDailyAt") or "")[:10] or None,
    }
    return {k: v for k, v in signals.items() if v is not None}


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


TYPE = SourceType("hf_daily", parse, first_urls, interval_minutes=180)
