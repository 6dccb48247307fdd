"""Factories that build feed bodies from the real captures, re-targeted at chosen ids."""

from __future__ import annotations

import json
import re
from typing import Any

from digest.sources.records import PaperRecord
from tests.conftest import read_data

RSS_4 = "arxiv_rss_cs.LG+cs.AI+cs.CL+stat.ML_2026-09-24_4items.xml"
API_100 = "arxiv_api_query_all-testing_100entries_2026-04-12.atom.xml"
HF_DAY = "hf_daily_papers_2026-06-12_full.json"


def rss_feed_with(arxiv_id: str, version: int, title: str = "An early title") -> bytes:
    """The real 4-item RSS capture with its first item re-targeted at `arxiv_id`v`version`."""
    xml = read_data(RSS_4).decode()
    xml = xml.replace("2609.26811v1", f"{arxiv_id}v{version}", 2)
    xml = xml.replace("https://arxiv.org/abs/2609.26811", f"https://arxiv.org/abs/{arxiv_id}", 1)
    xml = re.sub(r"<title>The Drift Contract[^<]*</title>", f"<title>{title}</title>", xml, count=1)
    return xml.encode()


def hf_feed_with(arxiv_id: str, upvotes: int, **paper_fields: Any) -> bytes:
    """The real HF day capture with its first paper re-targeted at `arxiv_id`."""
    doc = json.loads(read_data(HF_DAY))
    doc[0]["paper"].update(id=arxiv_id, upvotes=upvotes, **paper_fields)
    return json.dumps(doc).encode()


def record(canonical_id: str = "2601.00001", **fields: Any) -> PaperRecord:
    """A minimal PaperRecord for store-level tests."""
    fields.setdefault("title", f"Paper {canonical_id}")
    is_arxiv = not canonical_id.startswith(("doi:", "sha1:"))
    fields.setdefault("arxiv_id", canonical_id if is_arxiv else None)
    return PaperRecord(canonical_id=canonical_id, **fields)
