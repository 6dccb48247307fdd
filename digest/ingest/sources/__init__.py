"""Source parsers: each a pure function `bytes -> list[PaperRecord]`, keyed by source type."""

from __future__ import annotations

from collections.abc import Callable

from digest.ingest.records import PaperRecord
from digest.ingest.sources import arxiv_api, arxiv_rss, hf_daily, jsonl, rss

Parser = Callable[[bytes], list[PaperRecord]]

PARSERS: dict[str, Parser] = {
    "arxiv_rss": arxiv_rss.parse,
    "arxiv_api": arxiv_api.parse,
    "hf_daily": hf_daily.parse,
    "rss": rss.parse,
    "jsonl": jsonl.parse,
}

__all__ = ["PARSERS", "Parser"]
