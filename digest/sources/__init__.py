"""Source types: each module holds its config, its request plan and its pure parser;
`records` is what every parser returns, `ids` the canonical paper ids.

Adding a source type: a module here with a `SourceBase` subclass, `parse` and `TYPE`, then one
line in `SourceConfig` and `TYPES` below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import Field

from digest.sources import (
    arxiv_api,
    arxiv_rss,
    biorxiv,
    europepmc,
    hf_daily,
    jsonl,
    medrxiv,
    openalex,
    rss,
    semantic_scholar,
)
from digest.sources.base import SourceBase, SourceType
from digest.sources.records import PaperRecord

Parser = Callable[[bytes], list[PaperRecord]]

SourceConfig = Annotated[
    arxiv_rss.ArxivRssSource | arxiv_api.ArxivApiSource | hf_daily.HfDailySource
    | rss.RssSource | jsonl.JsonlSource | biorxiv.BiorxivSource | medrxiv.MedrxivSource
    | europepmc.EuropePmcSource | openalex.OpenAlexSource | semantic_scholar.SemanticScholarSource,
    Field(discriminator="type"),
]
TYPES: dict[str, SourceType] = {t.name: t for t in (
    arxiv_rss.TYPE, arxiv_api.TYPE, hf_daily.TYPE, rss.TYPE, jsonl.TYPE, biorxiv.TYPE, medrxiv.TYPE,
    europepmc.TYPE, openalex.TYPE, semantic_scholar.TYPE)}
PARSERS: dict[str, Parser] = {name: t.parse for name, t in TYPES.items()}

__all__ = ["PARSERS", "TYPES", "Parser", "SourceBase", "SourceConfig", "SourceType"]
