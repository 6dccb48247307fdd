"""A short digest is filled with weaker matches, marked as such, after every evidenced pick;
never with a phrase keyword's single words, never when the subscriber set a minimum score."""

from __future__ import annotations

from dataclasses import replace

from digest.rank import Interest, RankParams, rank
from tests.rank.test_rank import real_day

WILDFIRE = Interest("a@x.org", topics=("wildfire smoke forecasting",), max_papers=10)


def weaker(pick_reasons: tuple[object, ...]) -> bool:
    return any(getattr(r, "kind", "") == "weaker" for r in pick_reasons)


def test_a_short_digest_is_filled_with_marked_weaker_matches_after_the_strong_ones() -> None:
    day = real_day()
    unfilled = rank(day, [WILDFIRE])["a@x.org"]
    strong = [p.id for p in unfilled if not weaker(p.reasons)]
    bare = rank(day, [WILDFIRE], params=RankParams(fill_evidence=1.0))["a@x.org"]
    assert [p.id for p in bare] == strong and len(bare) < 10  # evidence alone: a short list
    tail = [p for p in unfilled if weaker(p.reasons)]
    assert tail and [p.id for p in unfilled] == strong + [p.id for p in tail]  # after, in order
    assert all(p.score < min(q.score for q in bare) for p in tail)


def test_no_filling_with_a_minimum_score_nor_from_a_phrases_single_words() -> None:
    day = real_day()
    with_floor = rank(day, [replace(WILDFIRE, min_score=0.01)])["a@x.org"]
    assert with_floor and not any(weaker(p.reasons) for p in with_floor)
    # the day has 60 papers on "codes" and none on polar codes: no filler from "codes"
    assert not rank(day, [Interest("a@x.org", keywords=("polar codes",))])["a@x.org"]
