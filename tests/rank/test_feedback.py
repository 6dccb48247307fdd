"""The reader's votes steer the ranking: "more like this" lifts a paper's neighbours, "less
like this" demotes them, old votes count less, and no votes change nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from digest.rank import Candidate, Interest, Pick, RankParams, Vote, rank
from digest.rank.semantic import SemanticInputs
from tests.rank.test_independence import others
from tests.rank.test_liked_refines import unit
from tests.rank.test_rank import real_day

THEMES = {
    "protein": ("protein structure prediction", "amino acid residues, folding and binding "
                "pockets of protein structures predicted from sequence"),
    "traffic": ("traffic flow forecasting", "road sensors, congestion and travel times in "
                "urban traffic networks forecast hours ahead"),
    "speech": ("speech recognition", "acoustic models transcribe spoken utterances and "
               "accented speech into text"),
    "galaxy": ("galaxy morphology classification", "telescope images of galaxies sorted by "
               "spiral arms, bars and mergers"),
}


def paper(pid: str, theme: str, n: int) -> Candidate:
    """A small synthetic paper: a neural network applied to one theme (variant `n`)."""
    name, words = THEMES[theme]
    return Candidate(pid, f"A neural network for {name}, study {n}",
                     f"We train a neural network on {words}. Variant {n} adds "
                     f"{['attention', 'pretraining', 'augmentation', 'ensembling'][n % 4]}.")


DAY = [paper(f"{theme[:3]}{n}", theme, n) for n in range(1, 4) for theme in THEMES]
PAST = {"A": paper("A", "protein", 7), "B": paper("B", "traffic", 9)}
TEXTS = {c.id: (c.title, c.abstract) for c in PAST.values()}
READER = Interest("ann@example.org", keywords=("neural network",), max_papers=len(DAY))


def ids(picks: list[Pick]) -> list[str]:
    return [p.id for p in picks]


def ranked(interest: Interest, **kw: object) -> list[Pick]:
    return rank(DAY, [interest], liked_texts=TEXTS, **kw)[interest.key]  # type: ignore[arg-type]


def test_more_lifts_the_voted_papers_neighbours_and_less_demotes_its_neighbours() -> None:
    before = ids(ranked(READER))
    assert len(before) == len(DAY)  # every paper matches the keyword about equally well
    assert before[0] != "pro1" and before.index("tra3") < len(DAY) - 3
    picks = ranked(replace(READER, votes=(Vote("A", 1, 1.0), Vote("B", -1, 1.0))))
    after = ids(picks)
    score = {p.id: p.score for p in picks}
    assert after[0].startswith("pro")
    assert min(score[p] for p in after if p.startswith("pro")) > \
        max(score[p] for p in after if not p.startswith("pro"))
    others = [p for p in after if not p.startswith("tra")]
    for p in before:  # the neighbours of B: after every other paper, or out of the digest
        if p.startswith("tra"):
            assert p not in after or (after.index(p) > before.index(p)
                                      and score[p] < min(score[q] for q in others))


def test_without_votes_the_ranking_is_exactly_the_same() -> None:
    day = real_day()
    plain = others(6)
    voter = replace(plain[0], key="voter@example.org",
                    votes=(Vote(day[3].id, 1, 0.0), Vote(day[8].id, -1, 2.0)))
    texts = {c.id: (c.title, c.abstract) for c in day}
    alone = rank(day, plain, liked_texts=texts)
    beside = rank(day, [*plain[:3], voter, *plain[3:]], liked_texts=texts)
    for interest in plain:  # same chunk as a voter, yet bit-for-bit the same scores
        assert beside[interest.key] == alone[interest.key]
    assert ids(beside[voter.key]) != ids(alone[plain[0].key])


def test_an_old_vote_counts_less_than_a_fresh_one() -> None:
    params = RankParams(feedback_half_life=10.0)

    def lift(age: float) -> float:
        picks = ranked(replace(READER, votes=(Vote("A", 1, age),)), params=params)
        return next(r.score for r in picks[0].reasons if r.kind == "feedback")

    assert lift(0.0) > lift(5.0) > lift(10.0) > 0


def test_a_voter_ranked_alone_or_among_others_gets_the_same_list() -> None:
    day = real_day()
    crowd = [replace(o, votes=(Vote(day[(5 * n + 1) % len(day)].id, 1 if n % 2 else -1, n),))
             for n, o in enumerate(others(30))]
    target = replace(crowd[7], key="target@example.org",
                     votes=(Vote(day[10].id, 1, 0.0), Vote(day[20].id, 1, 3.0),
                            Vote(day[30].id, -1, 1.0)))
    texts = {c.id: (c.title, c.abstract) for c in day}
    alone = rank(day, [target], liked_texts=texts)[target.key]
    together = rank(day, [*crowd[:15], target, *crowd[15:]], liked_texts=texts)[target.key]
    assert len(alone) == target.max_papers
    assert ids(together) == ids(alone)
    assert [p.score for p in together] == pytest.approx([p.score for p in alone], abs=1e-5)
    assert [[(r.kind, r.label) for r in p.reasons] for p in together] == \
        [[(r.kind, r.label) for r in p.reasons] for p in alone]


def test_reasons_name_the_voted_paper_and_the_vote() -> None:
    picks = ranked(replace(READER, votes=(Vote("A", 1, 0.0), Vote("B", -1, 0.0))),
                   params=RankParams(w_feedback=0.2))  # weak enough to keep B's neighbours
    top = next(r for r in picks[0].reasons if r.kind == "feedback")
    assert top.label == f'close to "{PAST["A"].title}", which you marked more-like-this'
    assert top.terms == ("A",) and top.score > 0
    assert top.as_json()["score"] == round(top.score, 4)
    demoted = [r for p in picks for r in p.reasons if r.kind == "feedback" and r.score < 0]
    assert demoted and all(r.label == f'close to "{PAST["B"].title}", which you marked '
                           "less-like-this" for r in demoted)


def test_votes_alone_make_a_digest() -> None:
    only = Interest("new@example.org", votes=(Vote("A", 1, 0.0),), max_papers=3)
    assert not only.is_empty and Interest("x@example.org", votes=(Vote("A", -1),)).is_empty
    picks = ranked(only)
    assert ids(picks) and all(p.startswith("pro") for p in ids(picks))


def test_categories_of_voted_papers_can_join_the_model() -> None:
    day = [replace(c, categories=("q-bio.BM",) if c.id.startswith("pro") else ("cs.LG",))
           for c in DAY]
    voter = replace(READER, votes=(Vote("A", 1, 0.0),))

    def lift(weight: float) -> float:
        picks = rank(day, [voter], liked_texts=TEXTS, categories={"A": ("q-bio.BM",)},
                     params=RankParams(feedback_category=weight))[voter.key]
        return next(r.score for r in picks[0].reasons if r.kind == "feedback")

    assert picks_are_protein(day, voter) and lift(1.0) > lift(0.0) > 0


def picks_are_protein(day: list[Candidate], voter: Interest) -> bool:
    picks = rank(day, [voter], liked_texts=TEXTS, categories={"A": ("q-bio.BM",)},
                 params=RankParams(feedback_category=1.0))[voter.key]
    return all(p.id.startswith("pro") for p in picks[:3])


def test_the_stored_adapter_reads_voted_papers_for_the_model(engine: Engine) -> None:
    from datetime import timedelta

    from digest.clock import utcnow
    from digest.rank.stored import rank_papers
    from digest.sources import jsonl
    from digest.storage.db import session_scope
    from digest.storage.papers import papers_by_canonical_id, upsert_papers

    records = jsonl.parse((Path(__file__).parents[2] / "config/demo/2026-06-11.jsonl")
                          .read_bytes())
    with session_scope(engine) as s:
        upsert_papers(s, "demo", records, utcnow() - timedelta(hours=1))
    voted = next(c for c in real_day() if "splat" in c.title.lower())
    with session_scope(engine) as s:
        today = [p for p in papers_by_canonical_id(s, [c.id for c in real_day()])
                 if p.canonical_id != voted.id]  # the voted paper is from an earlier digest
        reader = Interest("v@example.org", votes=(Vote(voted.id, 1, 2.0),), max_papers=5)
        picks = rank_papers(s, today, [reader])[reader.key]
    assert picks
    said = [r for p in picks for r in p.reasons if r.kind == "feedback"]
    assert said and said[0].label == f'close to "{voted.title}", which you marked more-like-this'


def feedback_score(interest: Interest, params: RankParams, paper: str = "pro1") -> float:
    """The feedback reason's score (its share of the blended score) for one paper."""
    picks = {p.id: p for p in ranked(interest, params=params)}
    return next(r.score for r in picks[paper].reasons if r.kind == "feedback")


def test_a_few_votes_beside_a_profile_count_a_share_that_grows_with_their_number() -> None:
    one = replace(READER, votes=(Vote("A", 1, 0.0),))
    full = feedback_score(one, RankParams(feedback_ramp=0.0))
    assert feedback_score(one, RankParams(feedback_ramp=5.0)) == pytest.approx(full / 6, rel=1e-4)
    assert feedback_score(one, RankParams(feedback_ramp=1.0)) == pytest.approx(full / 2, rel=1e-4)
    alone = Interest("new@example.org", votes=(Vote("A", 1, 0.0),), max_papers=len(DAY))
    assert feedback_score(alone, RankParams(feedback_ramp=5.0)) == \
        pytest.approx(feedback_score(alone, RankParams(feedback_ramp=0.0)))  # nothing to protect


def test_a_more_voted_paper_lifts_its_neighbours_like_a_liked_paper() -> None:
    voter = replace(READER, votes=(Vote("A", 1, 0.0), Vote("B", -1, 0.0)))
    params = RankParams(feedback_ramp=0.0)
    model_only = feedback_score(voter, replace(params, w_feedback_more=0.0))
    # the closest day paper to A scores the liked-paper signal's full weight on top (w_liked,
    # its tf-idf cosine scaled by the day's best), scaled by w_feedback_more
    closest = max((p for p in DAY if p.id.startswith("pro")),
                  key=lambda p: feedback_score(voter, params, p.id))
    for more in (1.0, 2.0):
        got = feedback_score(voter, replace(params, w_feedback_more=more), closest.id)
        base = feedback_score(voter, replace(params, w_feedback_more=0.0), closest.id)
        assert got - base == pytest.approx(more * params.w_liked, rel=1e-4)
    assert feedback_score(voter, params) > model_only > 0


def test_closeness_to_a_more_voted_paper_by_meaning_is_gated_like_a_liked_papers() -> None:
    """Semantic mode: a liked paper's pull counts as far as the candidate is also near a topic
    (score.topic_gate); a more-voted paper counts like a liked paper, so its twin far from every
    topic gets less from the vote than with the gate off (liked_topic_floor 1), and a
    subscriber without topics keeps all of it."""
    dim = 8
    axes = np.eye(dim, dtype=np.float32)
    vectors = {"near": unit(axes[0] + axes[1]), "twin": unit(0.05 * axes[0] + axes[1]),
               "other": unit(axes[2])}
    day = [Candidate(pid, f"Paper {word}", f"An abstract about {word} things.")
           for pid, word in zip(vectors, ("alpha", "bravo", "charlie"), strict=True)]
    semantic = SemanticInputs(np.vstack(list(vectors.values())), {"crops": axes[0]},
                              {"voted": axes[1]})
    texts = {"voted": ("A voted paper", "About drones and detection.")}

    def pull(interest: Interest, floor: float) -> float:
        params = RankParams(liked_topic_floor=floor, w_feedback=1.0, feedback_ramp=0.0)
        picks = rank(day, [interest], liked_texts=texts, semantic=semantic, params=params)
        return sum(r.score for p in picks[interest.key] if p.id == "twin" for r in p.reasons
                   if r.kind == "feedback")  # 0 when the twin is not picked at all

    voter = Interest("v@example.org", topics=("crops",), votes=(Vote("voted", 1, 0.0),))
    assert pull(voter, 1.0) > 1.0 > pull(voter, 0.0) + 0.5
    alone = Interest("w@example.org", votes=(Vote("voted", 1, 0.0),))
    assert pull(alone, 0.0) == pytest.approx(pull(alone, 1.0))
