"""Canonical ids: versions dropped, old-style ids normalised, DOIs lower-cased."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.sources.ids import canonical_id, content_hash, normalize_doi, split_arxiv_id


@pytest.mark.parametrize(("text", "expected"), [
    ("2306.15626", ("2306.15626", None)),
    ("2306.15626v3", ("2306.15626", 3)),
    ("oai:arXiv.org:2609.26811v1", ("2609.26811", 1)),
    ("http://arxiv.org/abs/2607.28628v1", ("2607.28628", 1)),
    ("https://arxiv.org/pdf/0704.0001", ("0704.0001", None)),
    ("math.GT/0309136", ("math/0309136", None)),
    ("http://arxiv.org/abs/cond-mat/0412498v1", ("cond-mat/0412498", 1)),
    ("astro-ph/0601001v1", ("astro-ph/0601001", 1)),
    ("no id here", None),
])
def test_split_arxiv_id(text: str, expected: tuple[str, int | None] | None) -> None:
    assert split_arxiv_id(text) == expected


def test_doi_forms() -> None:
    assert normalize_doi("https://doi.org/10.1093/Bioinformatics/btac431") == \
        "10.1093/bioinformatics/btac431"
    assert normalize_doi("doi:10.1101/2026.08.01.123456.") == "10.1101/2026.08.01.123456"
    assert normalize_doi("nothing") is None


def test_canonical_id_prefers_arxiv_then_doi_then_hash() -> None:
    assert canonical_id("2306.15626", "10.1/x", "T", None) == "2306.15626"
    assert canonical_id(None, "10.1/x", "T", None) == "doi:10.1/x"
    assert canonical_id(None, None, "T", None).startswith("sha1:")


@given(st.from_regex(r"\d{4}\.\d{5}", fullmatch=True), st.integers(1, 99))
def test_any_versioned_new_id_round_trips(base: str, version: int) -> None:
    assert split_arxiv_id(f"{base}v{version}") == (base, version)


@given(st.text(max_size=200))
def test_content_hash_ignores_case_and_punctuation(title: str) -> None:
    assert content_hash(title) == content_hash(title.upper() + " !")


def test_one_record_that_raises_is_skipped_alone(caplog: pytest.LogCaptureFixture) -> None:
    from digest.sources.base import each_record

    def convert(item: int) -> Any:
        if item == 2:
            raise ValueError("bad item")
        return item

    assert each_record(convert, [1, 2, 3]) == [1, 3]
    assert "skipped an item" in caplog.text
