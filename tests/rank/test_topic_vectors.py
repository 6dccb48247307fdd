"""Topic vectors are kept per model (the key names the model's tag): after a model change the
poll's embedding step drops the other models' ones, and once a day those no subscriber's
topics need; the ranking output stays the same."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from digest.cli import main
from digest.config import load_config
from digest.rank import stored
from digest.rank.minilm import MODEL_DIR
from digest.rank.semantic import load_embedder
from digest.rank.stored import (
    embed_recent_papers,
    model_tag,
    prune_text_vectors,
    semantic_embedder,
    text_key,
    text_vectors,
)
from digest.storage.db import open_database, session_scope
from digest.storage.models import Setting
from digest.storage.settings import add_settings
from tests.rank.test_minilm import day_config
from tests.rank.test_semantic import rank


def topic_keys(config_path: Path) -> list[str]:
    engine = open_database(load_config(config_path).database)
    with Session(engine) as s:
        return sorted(r.key for r in s.exec(select(Setting).where(col(Setting.key).like("emb:%"))))


def test_a_model_change_drops_the_other_models_topic_vectors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shipped = day_config(tmp_path, 20)
    assert main(["poll", "-c", str(shipped)]) == 0
    picks = rank(shipped, capsys)
    model = semantic_embedder(load_config(shipped))
    assert model is not None
    topic = "differentiable rendering of 3D scenes"
    assert topic_keys(shipped) == [text_key(model.name, topic)]
    engine = open_database(load_config(shipped).database)
    with session_scope(engine) as s:  # a vector stored before keys named their model
        add_settings(s, {"emb:" + "0" * 40: "AAAA"})
    other = tmp_path / "other" / "minilm-l6"  # the same graph, another tokenizer setting
    other.mkdir(parents=True)
    (other / "model.onnx").write_bytes((MODEL_DIR / "model.onnx").read_bytes())
    (other / "tokenizer.json").write_text((MODEL_DIR / "tokenizer.json").read_text().replace(
        '"lowercase":true', '"lowercase":false'))
    (tmp_path / "b").mkdir()
    changed = load_config(day_config(tmp_path / "b", 20, {
        "database": load_config(shipped).database, "ranking": {"semantic": {"model": str(other)}}}))
    embedder = semantic_embedder(changed)
    assert embedder is not None and model_tag(embedder.name) != model_tag(model.name)
    embed_recent_papers(engine, changed)  # after a poll: the other model's vectors go
    assert topic_keys(shipped) == []
    assert rank(shipped, capsys) == picks  # back to the shipped model: the same ranking
    assert topic_keys(shipped) == [text_key(model.name, topic)]


def test_two_processes_storing_one_new_topic_at_once_both_succeed(engine: Engine) -> None:
    """Both encode the topic; the second's write starts while the first's is uncommitted (it
    waits for it: the row lock on PostgreSQL, the write lock on SQLite) and then stores
    nothing, without an error."""
    embedder = load_embedder("onnx", None)
    topic = "message passing on molecular graphs"
    first, second = Session(engine), Session(engine)
    writes: list[list[Any]] = [[], []]
    got = [text_vectors(s, embedder, [topic], w) for s, w in zip((first, second), writes,
                                                                  strict=True)]
    for write in writes[0]:
        write()  # the first's insert, not committed yet
    failed: list[BaseException] = []

    def store_second() -> None:
        try:
            for write in writes[1]:
                write()
            second.commit()
        except BaseException as exc:
            failed.append(exc)

    racer = threading.Thread(target=store_second)
    racer.start()
    racer.join(0.5)
    assert racer.is_alive()  # it really waits on the first's write
    first.commit()
    racer.join(30)
    first.close()
    second.close()
    assert not racer.is_alive() and failed == []
    assert np.array_equal(got[0][topic], got[1][topic])
    with Session(engine) as s:
        assert [r.key for r in s.exec(select(Setting).where(col(Setting.key).like("emb:%")))] \
            == [text_key(embedder.name, topic)]
        assert text_vectors(s, embedder, [topic], []).keys() == {topic}


def test_topic_vectors_no_subscriber_needs_are_dropped_once_a_day(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = day_config(tmp_path, 20)
    assert main(["poll", "-c", str(before)]) == 0
    rank(before, capsys)
    (tmp_path / "b").mkdir()  # the subscriber edits their topics
    after = day_config(tmp_path / "b", 20, {"database": load_config(before).database})
    doc = after.read_text().replace("differentiable rendering of 3D scenes", "protein folding")
    after.write_text(doc)
    rank(after, capsys)
    model = semantic_embedder(load_config(after))
    assert model is not None
    new, old = (text_key(model.name, t) for t in
                ("protein folding", "differentiable rendering of 3D scenes"))
    assert topic_keys(after) == sorted([new, old])
    engine = open_database(load_config(after).database)
    today = date(2026, 6, 12)
    with session_scope(engine) as s:
        assert prune_text_vectors(s, model.name, today) == 1
    assert topic_keys(after) == [new]
    stray = text_key(model.name, "a topic nobody has")
    with session_scope(engine) as s:
        add_settings(s, {stray: "AAAA"})
        assert prune_text_vectors(s, model.name, today) == 0  # done for today
        assert prune_text_vectors(s, model.name, today + timedelta(days=1)) == 1
    assert topic_keys(after) == [new]


def test_a_worker_says_how_many_topics_it_left_out(
        engine: Engine, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    embedder = load_embedder("onnx", None)
    with session_scope(engine) as s:  # stored before the cycle: the worker reads it
        add_settings(s, {text_key(embedder.name, "graph neural networks"): base64.b64encode(
            embedder.encode(["graph neural networks"])[0].tobytes()).decode()})
    monkeypatch.setattr(stored, "STORED_ONLY", True)
    with caplog.at_level(logging.INFO, logger="digest.rank.stored"), Session(engine) as s:
        got = text_vectors(s, embedder, ["graph neural networks", "new one", "new two"], [])
    assert list(got) == ["graph neural networks"]
    assert [r.getMessage() for r in caplog.records if "left out" in r.getMessage()] == [
        "2 topics have no stored vector (new since this cycle began); they are left out of "
        "the semantic signals this time"]


PRUNE = """
import re, sys
from datetime import date
from digest.rank.stored import prune_text_vectors, text_key
from digest.storage.db import make_engine, session_scope
from digest.storage.settings import add_settings
engine = make_engine(sys.argv[1])
with session_scope(engine) as s:
    add_settings(s, {text_key("m", t): "AAAA" for t in ("graphs", "gone")})
def peak():  # this process's own (ru_maxrss may start from the parent's at the fork)
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
before = peak()
with session_scope(engine) as s:
    print(prune_text_vectors(s, "m", date(2026, 6, 12)))
print((peak() - before) // 1024)
"""


def test_the_daily_prune_reads_only_the_subscribers_topics(db_url: str, tmp_path: Path) -> None:
    """Subscribers with imported libraries (~1 KB a paper) cost the prune nothing: the database
    hands it the topics only (before: every subscriber's whole interests, ~1.3 MB of Python
    objects for a 500-paper library)."""
    url = db_url if db_url.startswith("postgresql") else f"sqlite:///{tmp_path}/d.db"
    engine = open_database(url)
    library = [{"id": f"doi:10.1000/x{i}", "title": f"A paper about graph networks {i}",
                "via": "doi", "year": 2020, "abstract": "word " * 200} for i in range(300)]
    interests = json.dumps({"topics": ["graphs"], "library": library})
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (email, origin, status, timezone, send_at, cadence, "
            "token_nonce, interests, failure_streak, created_at, updated_at, weekly_day) VALUES "
            "(:e, 'web', 'active', 'UTC', '07:00', 'daily', 'x', :i, 0, '2026-01-01', "
            "'2026-01-01', 0)"), [{"e": f"s{n}@x.org", "i": interests} for n in range(200)])
    out = subprocess.run([sys.executable, "-c", PRUNE, url], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2]).stdout.split()
    assert out[0] == "1"  # "gone" went, "graphs" stays
    assert int(out[1]) < 40, f"the prune grew by {out[1]} MiB"
