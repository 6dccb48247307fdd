"""Votes in storage and on their way to the ranker, and `digest feedback`: SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from digest.cli import main
from digest.compose import select as compose_select
from digest.compose.digests import compose_due
from digest.compose.select import rank_window
from digest.config import load_config
from digest.rank import Interest
from digest.rank.model import Vote
from digest.rank.stored import interests_with_votes
from digest.storage import db as storage_db
from digest.storage.db import make_engine, open_database, session_scope
from digest.storage.feedback import (
    VoteAction,
    clear_votes,
    record_vote,
    resolve_paper_ids,
    votes_of,
)
from digest.storage.models import Outbox, PaperVote, Subscriber
from tests.factories import record
from tests.test_email import ADA, T0, make_config, store_real_papers


def add_subscribers(engine: Engine, count: int) -> list[Subscriber]:
    with session_scope(engine) as s:
        rows = [Subscriber(email=f"s{n}@example.org") for n in range(count)]
        s.add_all(rows)
        s.flush()
    return rows


def stored(engine: Engine) -> list[tuple[int, str, int]]:
    with Session(engine) as s:
        rows = s.exec(select(PaperVote).order_by(col(PaperVote.paper_id))).all()
    return [(v.subscriber_id, v.paper_id, v.value) for v in rows]


def test_a_vote_is_idempotent_the_opposite_replaces_it_clear_removes_it(engine: Engine) -> None:
    sub = add_subscribers(engine, 1)[0].id or 0
    with session_scope(engine) as s:
        assert record_vote(s, sub, "2606.00467", VoteAction.MORE, T0) is True
    with session_scope(engine) as s:
        assert record_vote(s, sub, "2606.00467", VoteAction.MORE, T0 + timedelta(days=1)) is False
    with Session(engine) as s:
        row = s.exec(select(PaperVote)).one()
    assert row.updated_at == T0 and row.created_at == T0  # the same vote again changes nothing
    with session_scope(engine) as s:
        assert record_vote(s, sub, "2606.00467", VoteAction.LESS, T0 + timedelta(days=2))
        record_vote(s, sub, "2606.12451", VoteAction.MORE, T0)
    assert stored(engine) == [(sub, "2606.00467", -1), (sub, "2606.12451", 1)]
    with session_scope(engine) as s:
        assert record_vote(s, sub, "2606.12451", VoteAction.CLEAR) is True
        assert clear_votes(s, sub, ["2606.12451", "never-voted"]) == 0
    assert stored(engine) == [(sub, "2606.00467", -1)]


def test_votes_are_read_one_query_per_chunk_of_subscribers_with_their_ages(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = add_subscribers(engine, 5)
    ids = [r.id or 0 for r in rows]
    with session_scope(engine) as s:
        for n, sid in enumerate(ids[:4]):
            record_vote(s, sid, "2606.00467", VoteAction.MORE, T0 - timedelta(days=n))
        record_vote(s, ids[0], "2606.12451", VoteAction.LESS, T0 - timedelta(hours=12))
    queries: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM votes" in statement:
            queries.append(statement)

    monkeypatch.setattr(storage_db, "IN_CHUNK", 2)
    event.listen(engine, "before_cursor_execute", count)
    try:
        with Session(engine) as s:
            found = votes_of(s, ids)
            interests = interests_with_votes(s, rows, now=T0)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(queries) == 6  # 5 subscribers, 2 per query, twice
    assert [(v.paper_id, v.value) for v in found[ids[0]]] == [("2606.00467", 1),
                                                              ("2606.12451", -1)]
    assert ids[4] not in found
    assert interests[0].votes == (Vote("2606.00467", 1, 0.0), Vote("2606.12451", -1, 0.5))
    assert interests[3].votes == (Vote("2606.00467", 1, 3.0),)
    assert interests[4].votes == () and interests[1].key == "s1@example.org"


def test_votes_survive_a_restart_and_reach_the_next_digests_ranking(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/votes.db"
    store_real_papers(db)
    config_path = make_config(tmp_path, db, [ADA])
    assert main(["feedback", "-c", str(config_path), "--subscriber", "ada@example.org",
                 "--more", "2606.00467", "--", "2606.12451v1"]) == 0
    assert main(["feedback", "-c", str(config_path), "--subscriber", "ada@example.org",
                 "--less", "2606.13681"]) == 0
    capsys.readouterr()
    open_database(db).dispose()
    ranked: list[list[Interest]] = []
    real = compose_select.rank_configured

    def spy(session: Any, config: Any, papers: Any, interests: list[Interest],
            *args: Any, **kwargs: Any) -> Any:
        ranked.append(list(interests))
        return real(session, config, papers, interests, *args, **kwargs)

    monkeypatch.setattr(compose_select, "rank_configured", spy)
    restarted = make_engine(db)  # a new engine on the same file: a restarted daemon
    config = load_config(config_path)
    composed = compose_due(restarted, config, T0 + timedelta(hours=3))
    assert [c.status for c in composed] == ["queued"]
    with Session(restarted) as s:
        raw = s.exec(select(Outbox.message)).one()
    text = message_from_bytes(raw or b"", policy=email_policy.default)
    body = text.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "which you marked more like this" in body  # the why-line names the vote
    rank_window(restarted, config, "ada@example.org", now=T0 + timedelta(hours=3))
    assert len(ranked) == 2
    for interests in ranked:
        assert [i.key for i in interests] == ["ada@example.org"]
        votes = {v.paper_id: v.value for v in interests[0].votes}
        assert votes == {"2606.00467": 1, "2606.12451": 1, "2606.13681": -1}
        assert all(0 <= v.age_days < 1 for v in interests[0].votes)


def test_feedback_refuses_unknown_subscribers_and_papers_and_takes_arxiv_ids(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/votes.db"
    store_real_papers(db, [record("doi:10.1000/xyz", arxiv_id=None, doi="10.1000/xyz",
                                  title="A journal paper")])
    config = str(make_config(tmp_path, db, [ADA]))
    feedback = ["feedback", "-c", config, "--subscriber"]
    assert main([*feedback, "nobody@example.org", "--more", "2606.00467"]) == 2
    assert "no subscriber 'nobody@example.org'" in capsys.readouterr().err
    assert main([*feedback, "ada@example.org", "--more", "2606.00467", "not-a-paper",
                 "doi:10.9/unknown"]) == 2
    err = capsys.readouterr().err
    assert "'not-a-paper'" in err and "'doi:10.9/unknown'" in err and "2606.00467" not in err
    engine = open_database(db)
    assert stored(engine) == []  # nothing recorded when one id is unknown
    assert main([*feedback, "ada@example.org", "--less", "arXiv:2501.99999v3",
                 "https://doi.org/10.1000/XYZ"]) == 0
    assert capsys.readouterr().out.splitlines() == ["2501.99999\tless\trecorded",
                                                    "doi:10.1000/xyz\tless\trecorded"]
    assert [(p, v) for _, p, v in stored(engine)] == [("2501.99999", -1),
                                                      ("doi:10.1000/xyz", -1)]
    assert main([*feedback, "ada@example.org", "--clear", "2501.99999", "2606.00467"]) == 0
    assert capsys.readouterr().out.splitlines() == ["2501.99999\tclear\tcleared",
                                                    "2606.00467\tclear\tno vote"]
    with pytest.raises(SystemExit):
        main([*feedback, "ada@example.org", "--more", "--less", "2606.00467"])


def test_paper_ids_resolve_on_every_backend(engine: Engine) -> None:
    from digest.storage.papers import upsert_papers

    with session_scope(engine) as s:
        upsert_papers(s, "x", [record("2606.00467"),
                               record("doi:10.1000/abc", arxiv_id=None, doi="10.1000/abc")])
        ids = resolve_paper_ids(s, ["2606.00467", "2606.00467v2", "10.1000/ABC",
                                    "math.GT/0309136", "nothing"])
    assert ids.found == {"2606.00467": "2606.00467", "2606.00467v2": "2606.00467",
                         "10.1000/ABC": "doi:10.1000/abc", "math.GT/0309136": "math/0309136"}
    assert ids.unknown == ["nothing"]
