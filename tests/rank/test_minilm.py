"""The default semantic ranker: the shipped MiniLM on ONNX Runtime, with no torch installed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlmodel import Session, delete, select

from digest.cli import main
from digest.config import load_config
from digest.rank.minilm import MODEL_DIR, OnnxMiniLM
from digest.rank.semantic import load_embedder
from digest.rank.stored import embed_recent_papers, semantic_embedder
from digest.storage.db import open_database
from digest.storage.lock import EMBED_CLASS, claim_ids
from digest.storage.models import Paper, PaperEmbedding

DATA = Path(__file__).parents[1] / "data"
DEMO = Path(__file__).parents[2] / "config" / "demo"


def reference() -> dict[str, Any]:
    """Vectors sentence-transformers computed for a few texts (tests/data)."""
    doc: dict[str, Any] = json.loads((DATA / "minilm_reference.json").read_text())
    return doc


def test_the_shipped_model_gives_the_vectors_sentence_transformers_gives() -> None:
    ref = reference()
    ours = load_embedder("onnx", None).encode(ref["texts"])
    cosines = (ours * np.asarray(ref["vectors"], dtype=np.float32)).sum(axis=1)
    assert ours.shape == (len(ref["texts"]), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    assert cosines.min() >= 0.98, cosines


def test_meaning_not_words_decides_closeness() -> None:
    vectors = load_embedder("onnx", None).encode([
        "graph neural networks", "message passing on molecular graphs",
        "dark energy and the expansion of the universe"])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_a_text_encodes_the_same_alone_or_among_any_others() -> None:
    texts = reference()["texts"]
    embedder = load_embedder("onnx", None)
    assert isinstance(embedder, OnnxMiniLM)
    together = embedder._encode(texts)  # the forward pass itself, not the per-process memo
    alone = np.vstack([embedder._encode([t]) for t in texts])
    reversed_ = embedder._encode(texts[::-1])[::-1]
    assert np.array_equal(together, alone) and np.array_equal(together, reversed_)
    assert embedder.encode([]).shape == (0, 384)


def test_the_embedding_cache_is_keyed_by_the_model_itself(tmp_path: Path) -> None:
    same, changed = tmp_path / "a" / "minilm-l6", tmp_path / "b" / "minilm-l6"
    for copy in (same, changed):
        copy.mkdir(parents=True)
        for file in MODEL_DIR.iterdir():
            (copy / file.name).write_bytes(file.read_bytes())
    (changed / "tokenizer.json").write_text((changed / "tokenizer.json").read_text().replace(
        '"lowercase":true', '"lowercase":false'))
    assert load_embedder("onnx", str(same)).name == load_embedder("onnx", None).name
    assert load_embedder("onnx", str(changed)).name != load_embedder("onnx", None).name


def day_config(tmp_path: Path, papers: int, extra: dict[str, Any] | None = None) -> Path:
    """The demo day's first `papers` papers and one subscriber interested in rendering."""
    rows = [json.loads(x) for x in (DEMO / "2026-06-11.jsonl").read_text().splitlines()]
    data = tmp_path / "day.jsonl"
    data.write_text("".join(json.dumps({**x, "published": "2026-06-11"}) + "\n"
                            for x in rows[:papers]))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "database": f"sqlite:///{tmp_path}/d.db",
        "sources": [{"name": "day", "type": "jsonl", "path": str(data)}],
        "subscribers": [{"email": "ada@example.org",
                         "topics": ["differentiable rendering of 3D scenes"]}],
        **(extra or {})}))
    return config


def test_by_default_a_poll_embeds_the_new_papers_and_ranking_is_semantic(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = day_config(tmp_path, 30)
    assert main(["poll", "-c", str(config)]) == 0
    engine = open_database(load_config(config).database)
    with Session(engine) as session:
        models = session.exec(select(PaperEmbedding.model)).all()
        papers = session.exec(select(Paper)).all()
    assert len(models) == len(papers) == 30
    assert {m.split("@")[0] for m in models} == {"onnx:minilm-l6"}
    capsys.readouterr()
    assert main(["rank", "-c", str(config), "--subscriber", "ada@example.org",
                 "--since", "2026-06-11", "--json"]) == 0
    picks = json.loads(capsys.readouterr().out)
    assert picks and any(r["kind"] == "semantic" for p in picks for r in p["reasons"])


def test_without_its_model_ranking_falls_back_to_lexical_with_one_log_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    empty = tmp_path / "no-model"
    empty.mkdir()
    config = day_config(tmp_path, 30, {"ranking": {"semantic": {"model": str(empty)}}})
    with caplog.at_level(logging.WARNING):
        assert main(["poll", "-c", str(config)]) == 0
        assert semantic_embedder(load_config(config)) is None
        capsys.readouterr()
        assert main(["rank", "-c", str(config), "--subscriber", "ada@example.org",
                     "--since", "2026-06-11", "--json"]) == 0
    picks = json.loads(capsys.readouterr().out)
    assert picks and not any(r["kind"] == "semantic" for p in picks for r in p["reasons"])
    warnings = [r.getMessage() for r in caplog.records if "lexical-only" in r.getMessage()]
    assert len(warnings) == 1 and str(empty) in warnings[0]


def test_a_damaged_model_file_means_lexical_ranking_and_the_poll_still_succeeds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "model.onnx").write_bytes(b"\x08\x07not an onnx graph" * 100)
    (damaged / "tokenizer.json").write_bytes((MODEL_DIR / "tokenizer.json").read_bytes())
    config = day_config(tmp_path, 30, {"ranking": {"semantic": {"model": str(damaged)}}})
    with caplog.at_level(logging.WARNING):
        assert main(["poll", "-c", str(config)]) == 0
        capsys.readouterr()
        assert main(["rank", "-c", str(config), "--subscriber", "ada@example.org",
                     "--since", "2026-06-11", "--json"]) == 0
    picks = json.loads(capsys.readouterr().out)
    assert picks and not any(r["kind"] == "semantic" for p in picks for r in p["reasons"])
    assert any("cannot load the model" in r.getMessage() and "lexical-only" in r.getMessage()
               for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


def test_replicas_embedding_at_once_share_the_papers(tmp_path: Path, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    config = day_config(tmp_path, 12, {"database": db_url})
    assert main(["poll", "-c", str(config)]) == 0  # embeds all twelve
    engine = open_database(db_url)
    with Session(engine) as session:
        session.exec(delete(PaperEmbedding))  # type: ignore[call-overload]
        session.commit()
        ids = sorted(p.id for p in session.exec(select(Paper)).all())
    other = ids[::2]
    with claim_ids(engine, EMBED_CLASS, other) as held:  # another replica is embedding these
        assert held == other
        assert embed_recent_papers(engine, load_config(config)) == len(ids) - len(other)
    with Session(engine) as session:
        embedded = {e.paper_id for e in session.exec(select(PaperEmbedding)).all()}
    assert embedded == set(ids) - set(other)
    assert embed_recent_papers(engine, load_config(config)) == len(other)  # released: the rest
    assert embed_recent_papers(engine, load_config(config)) == 0


def test_status_says_what_ranks_the_digests(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    default = day_config(tmp_path, 1)
    capsys.readouterr()
    assert main(["status", "-c", str(default)]) == 0
    assert "ranker: lexical + semantic (onnx:minilm-l6@" in capsys.readouterr().out
    (tmp_path / "off").mkdir()
    off = day_config(tmp_path / "off", 1, {"ranking": {"semantic": {"enabled": False}}})
    assert main(["status", "-c", str(off)]) == 0
    assert "ranker: lexical-only (ranking.semantic.enabled is false)" in capsys.readouterr().out
    (tmp_path / "gone").mkdir()
    gone = day_config(tmp_path / "gone", 1,
                      {"ranking": {"semantic": {"model": str(tmp_path / "nowhere")}}})
    assert main(["status", "-c", str(gone)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "ranker: lexical-only: the semantic ranker (onnx) is unavailable: no ONNX model" in out
