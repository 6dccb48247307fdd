"""Bodies built from the real captures of the scholarly APIs, re-targeted at chosen ids."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import read_data

BIORXIV = "other/biorxiv_api_details_2026-08-01_to_08-05.json"
MEDRXIV = "other/medrxiv_api_details_2026-08-01_to_08-05.json"
EUROPEPMC = "other/europepmc_rest_search_2026-08.json"
OPENALEX = "other/openalex_works_search_2026-08.json"
S2 = "other/semantic_scholar_paper_search_transformer_2026-06.json"
PREPRINT = "10.1101/2025.04.11.648403"  # the bioRxiv capture's third posting (v2)
JOURNAL = "10.1128/msystems.00123-26"  # a journal DOI given to its published version


def biorxiv_posting(version: int, published: str = "NA", **fields: Any) -> bytes:
    """The bioRxiv capture's third posting alone, as `version` with `published`."""
    doc = json.loads(read_data(BIORXIV))
    item = doc["collection"][2]
    item.update(version=str(version), published=published, **fields)
    doc["collection"] = [item]
    return json.dumps(doc).encode()


def europepmc_article(doi: str, **fields: Any) -> bytes:
    """The Europe PMC capture's first article alone, re-targeted at `doi`."""
    doc = json.loads(read_data(EUROPEPMC))
    result = doc["resultList"]["result"][0]
    result.update(doi=doi, **fields)
    doc["resultList"]["result"] = [result]
    return json.dumps(doc).encode()


def s2_paper(arxiv_id: str) -> bytes:
    """The Semantic Scholar capture's first paper alone, re-targeted at `arxiv_id`."""
    doc = json.loads(read_data(S2))
    paper = doc["data"][0]
    paper["externalIds"]["ArXiv"] = arxiv_id
    doc["data"] = [paper]
    return json.dumps(doc).encode()


def openalex_works(*works: dict[str, Any]) -> bytes:
    """An OpenAlex response (the capture's meta) holding `works`."""
    doc = json.loads(read_data(OPENALEX))
    doc["results"] = list(works)
    return json.dumps(doc).encode()


def openalex_work(index: int, **fields: Any) -> dict[str, Any]:
    """One work of the OpenAlex capture, with `fields` replaced."""
    work: dict[str, Any] = json.loads(read_data(OPENALEX))["results"][index]
    work.update(fields)
    return work


def preprint_location(doi: str) -> dict[str, Any]:
    """An OpenAlex location for a preprint server copy of a work."""
    return {"id": f"doi:{doi}", "landing_page_url": f"https://doi.org/{doi}",
            "version": "submittedVersion", "source": {"type": "repository",
                                                      "display_name": "bioRxiv"}}
