"""PaperRecord: the plain dataclass every source parser returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class PaperRecord:
    """One paper as one source reported it; `canonical_id` is the dedupe key."""

    canonical_id: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    arxiv_id: str | None = None
    version: int = 1
    doi: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    url: str | None = None
    pdf_url: str | None = None
    comment: str | None = None
    source: str = ""
    signals: dict[str, Any] = field(default_factory=dict)
