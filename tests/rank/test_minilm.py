"""The default semantic ranker: the shipped MiniLM on ONNX Runtime, with no torch installed."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlmodel import Session, delete, select

from digest.cli import main
from digest.compose.digests import ComposeStatus, compose_due
from digest.config import load_config
from digest.rank.minilm import MODEL_DIR, OnnxMiniLM
from digest.rank.semantic import load_embedder, paper_text
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
    config = day_config(tmp_path, 30, {"ranking": {"semantic": {"model": str(damaged_model(tmp_path))}}})
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


def test_threads_encoding_at_once_all_succeed_with_the_same_vectors() -> None:
    texts = reference()["texts"]
    embedder = load_embedder("onnx", None)
    assert isinstance(embedder, OnnxMiniLM)
    expected = embedder._encode(texts)
    many = [f"{t} ({n})" for n in range(40) for t in texts[:2]]
    with ThreadPoolExecutor(max_workers=6) as pool:  # the poll, compose and previews at once
        jobs = [pool.submit(embedder._encode, many if n % 2 else texts) for n in range(12)]
        results = [job.result() for job in jobs]
    for n, result in enumerate(results):
        assert result.shape == ((len(many) if n % 2 else len(texts)), 384)
        if not n % 2:
            assert np.array_equal(result, expected)


def damaged_model(tmp_path: Path) -> Path:
    """A model folder whose graph file is not an ONNX graph."""
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "model.onnx").write_bytes(b"\x08\x07not an onnx graph" * 100)
    (damaged / "tokenizer.json").write_bytes((MODEL_DIR / "tokenizer.json").read_bytes())
    return damaged


def test_status_says_lexical_only_when_the_model_cannot_load(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = day_config(tmp_path, 1, {"ranking": {"semantic": {"model": str(damaged_model(tmp_path))}}})
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "ranker: lexical-only: the semantic ranker (onnx) is unavailable: cannot load the model" in out


def test_compose_in_worker_processes_with_a_broken_model_composes_lexically(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test")
    config_path = day_config(tmp_path, 30, {
        "ranking": {"semantic": {"model": str(damaged_model(tmp_path))}},
        "delivery": {"from": "Digest <digest@lab.example>", "base_url": "https://d.example",
                     "outbox_dir": str(tmp_path / "outbox")}})
    assert main(["poll", "-c", str(config_path)]) == 0
    config = load_config(config_path)
    composed = compose_due(open_database(config.database), config, force=True, processes=1)
    assert [(c.status, c.error) for c in composed] == [(ComposeStatus.QUEUED, "")]


def test_a_poll_stops_embedding_when_asked_and_the_next_one_goes_on(tmp_path: Path) -> None:
    config_path = day_config(tmp_path, 30, {"ranking": {"semantic": {"enabled": False}}})
    assert main(["poll", "-c", str(config_path)]) == 0  # stored, not embedded
    config = load_config(day_config(tmp_path, 30))
    engine = open_database(config.database)
    asked: list[int] = []

    def stop_after_first_batch() -> bool:
        asked.append(1)
        return len(asked) > 1

    assert embed_recent_papers(engine, config, batch=8, should_stop=stop_after_first_batch) == 8
    assert embed_recent_papers(engine, config, batch=8) == 22


def test_an_abstract_filled_in_later_gets_a_new_vector(tmp_path: Path) -> None:
    rows = [json.loads(x) for x in (DEMO / "2026-06-11.jsonl").read_text().splitlines()]
    row = next(r for r in rows if len(r.get("abstract") or r.get("summary") or "") > 500)
    data = tmp_path / "day.jsonl"
    bare = {k: v for k, v in row.items() if k not in ("abstract", "summary")}
    data.write_text(json.dumps({**bare, "published": "2026-06-11"}) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"database": f"sqlite:///{tmp_path}/d.db", "sources": [
        {"name": "day", "type": "jsonl", "path": str(data)}]}))
    assert main(["poll", "-c", str(config)]) == 0
    engine = open_database(load_config(config).database)
    with Session(engine) as session:
        title_only = session.exec(select(PaperEmbedding)).one().vector
    data.write_text(json.dumps({**row, "published": "2026-06-11"}) + "\n")
    assert main(["poll", "-c", str(config), "--force"]) == 0
    with Session(engine) as session:
        paper = session.exec(select(Paper)).one()
        vector = session.exec(select(PaperEmbedding)).one().vector
    assert paper.abstract and vector != title_only
    expected = load_embedder("onnx", None).encode([paper_text(paper.title, paper.abstract)])[0]
    assert np.allclose(np.frombuffer(vector, dtype=np.float32), expected)
