"""After a model change every stored paper vector is a miss (the first cycles embed again);
the former model's vectors are dropped by the poll's embedding step once the new model has
been the poll's for two days (a rolling upgrade's old replicas keep theirs meanwhile)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from digest.cli import main
from digest.clock import utcnow
from digest.config import load_config
from digest.rank import stored
from digest.storage.db import open_database, session_scope
from digest.storage.models import PaperEmbedding
from digest.storage.settings import write_setting
from tests.rank.test_minilm import day_config

OLD = "onnx:minilm-l6@0123456789ab"  # the model of the release before


def models(engine: object) -> dict[str, int]:
    """Stored paper vectors per model."""
    with Session(engine) as s:  # type: ignore[arg-type]
        rows = s.exec(select(PaperEmbedding.model)).all()
    return {m: rows.count(m) for m in sorted(set(rows))}


def test_the_former_models_paper_vectors_go_two_days_after_a_change(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = db_url if db_url.startswith("postgresql") else f"sqlite:///{tmp_path}/d.db"
    config = load_config(day_config(tmp_path, 20, {"database": url}))
    assert main(["poll", "-c", str(tmp_path / "c.yaml")]) == 0  # embeds with the shipped model
    engine = open_database(url)
    embedder = stored.semantic_embedder(config)
    assert embedder is not None
    with session_scope(engine) as s:
        ids = [r.paper_id for r in s.exec(select(PaperEmbedding))]
        s.add_all(PaperEmbedding(paper_id=i, model=OLD, vector=b"\0" * 1536) for i in ids)
    monkeypatch.setattr(stored, "PRUNE_BATCH", 7)  # 20 rows: three batches

    def switched(model: str, ago: timedelta) -> dict[str, int]:
        with session_scope(engine) as s:  # the poll has embedded with `model` since
            write_setting(s, "paper_vectors_model", json.dumps(
                {"model": model, "since": (utcnow() - ago).isoformat()}))
        stored.embed_recent_papers(engine, config)
        return models(engine)

    assert switched(OLD, timedelta(days=10)) == {OLD: 20, embedder.name: 20}  # just changed
    assert switched(embedder.name, timedelta(days=1)) == {OLD: 20, embedder.name: 20}
    assert switched(embedder.name, timedelta(days=2, minutes=1)) == {embedder.name: 20}
