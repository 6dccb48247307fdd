"""Compose workers rank with the vectors their parent stored and never load the model."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from digest.cli import main
from digest.compose import digests
from digest.compose.digests import ComposeStatus, compose_due
from digest.config import load_config
from digest.rank import stored
from digest.storage.db import open_database, session_scope
from digest.storage.models import Paper
from tests.rank.test_minilm import day_config

MARK = "DIGEST_TEST_WORKER_MARK"


def change_then_compose(engine: Any, config: Any, chunk: Sequence[tuple[int, date]],
                        since: datetime, now: datetime, dry_run: bool) -> Any:
    """A compose worker's job during which a poll stores a new version of one paper; it then
    notes whether the worker loaded ONNX Runtime and whether it ranked lexical-only (no
    stored vectors read: the warning said once per process)."""
    with session_scope(engine) as session:
        paper = session.exec(select(Paper).order_by(Paper.id)).first()  # type: ignore[arg-type]
        assert paper is not None
        paper.version += 1
        paper.title = paper.title + " (revised)"
        session.add(paper)
    out = digests._compose_chunk(engine, config, chunk, since, now, dry_run)
    Path(os.environ[MARK]).write_text(json.dumps({
        "model loaded": "onnxruntime" in sys.modules,
        "lexical-only": stored._warn_lexical_only.cache_info().currsize > 0}))
    return out


def test_a_compose_worker_never_loads_the_model_when_a_paper_changes_mid_cycle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test")
    monkeypatch.setenv(MARK, str(tmp_path / "loaded"))
    config_path = day_config(tmp_path, 30, {
        "delivery": {"from": "Digest <digest@lab.example>", "base_url": "https://d.example",
                     "outbox_dir": str(tmp_path / "outbox")}})
    assert main(["poll", "-c", str(config_path)]) == 0  # every paper embedded
    config = load_config(config_path)
    monkeypatch.setattr(digests, "CHILD_COMPOSE", change_then_compose)
    composed = compose_due(open_database(config.database), config, force=True, processes=1)
    assert [(c.status, c.error) for c in composed] == [(ComposeStatus.QUEUED, "")]
    assert json.loads((tmp_path / "loaded").read_text()) == {
        "model loaded": False, "lexical-only": False}
