"""The ranker on a real day of arXiv papers."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest

from digest.rank import Candidate, Interest, rank
from digest.rank.authors import author_key

DAY = Path(__file__).parents[2] / "config" / "demo" / "2026-06-11.jsonl"


@lru_cache(maxsize=1)
def real_day() -> tuple[Candidate, ...]:
    """The 265 distinct papers of the 2026-06-11 arXiv listing."""
    seen: dict[str, Candidate] = {}
    for line in DAY.read_text().splitlines():
        doc = json.loads(line)
        seen.setdefault(doc["id"], Candidate(doc["id"], doc["title"], doc["summary"],
                                             tuple(doc["authors"]), tuple(doc["categories"])))
    return tuple(seen.values())


def by_id(paper_id: str) -> Candidate:
    return next(c for c in real_day() if c.id == paper_id)


def find(word: str) -> Candidate:
    """The first real paper whose title contains `word`."""
    return next(c for c in real_day() if word.lower() in c.title.lower())


SPLAT = Interest("ada@example.org", topics=("3D Gaussian splatting and scene reconstruction",),
                 keywords=("gaussian splatting", "NeRF"), max_papers=5)


def test_topic_and_keyword_pick_on_topic_papers_with_reasons() -> None:
    picks = rank(real_day(), [SPLAT])["ada@example.org"]
    assert len(picks) == 5
    assert all("splat" in (by_id(p.id).title + by_id(p.id).abstract).lower() for p in picks[:3])
    for pick in picks:
        text = (by_id(pick.id).title + " " + by_id(pick.id).abstract).lower()
        matched = [r for r in pick.reasons if r.kind in ("topic", "keyword")]
        assert matched and all(r.terms for r in matched)
        assert all(term.lower() in text for r in matched for term in r.terms)
    keyword = next(r for r in picks[0].reasons if r.kind == "keyword")
    assert keyword.label == "gaussian splatting" and "gaussian splatting" in keyword.terms


def test_followed_author_is_always_shown_and_marked() -> None:
    off_topic = next(c for c in real_day() if "splat" not in (c.title + c.abstract).lower()
                     and len(c.authors) > 1)
    author = off_topic.authors[-1]
    interest = replace(SPLAT, authors=(author,), max_papers=2)
    picks = rank(real_day(), [interest])["ada@example.org"]
    assert picks[0].id == off_topic.id
    assert picks[0].reasons[0].kind == "author" and picks[0].reasons[0].terms == (author,)
    assert len(picks) == 2  # the followed paper did not push the limit for the rest


def test_author_matching_forgives_accents_and_initials() -> None:
    assert author_key("Rebekah A. Gelpí") == author_key("Rebekah Gelpi")
    assert author_key("Y. LeCun") == author_key("Yann LeCun")
    assert author_key("Yann LeCun") != author_key("Xavier LeCun")


def test_exclude_vetoes() -> None:
    base = rank(real_day(), [SPLAT])["ada@example.org"]
    word = "feed-forward"
    vetoed = [p.id for p in base if word in (by_id(p.id).title + by_id(p.id).abstract).lower()]
    assert vetoed, "fixture day should have a feed-forward splatting paper"
    picks = rank(real_day(), [replace(SPLAT, exclude=(word,))])["ada@example.org"]
    assert picks and not set(vetoed) & {p.id for p in picks}


def test_categories_only_filters() -> None:
    interest = replace(SPLAT, categories=("cs.GR",), categories_only=True)
    picks = rank(real_day(), [interest])["ada@example.org"]
    assert picks and all("cs.GR" in by_id(p.id).categories for p in picks)


def test_duplicates_never_take_two_slots() -> None:
    paper = rank(real_day(), [SPLAT])["ada@example.org"][0]
    original = by_id(paper.id)
    twins = (replace(original, id="doi:10.1/twin", version=2),  # same title, another id
             replace(original, id="sha1:abc", title="A retitled copy: " + original.title))
    picks = rank(real_day() + twins, [SPLAT])["ada@example.org"]
    chosen = {p.id for p in picks}
    assert len(chosen & {original.id, *(t.id for t in twins)}) == 1


def test_already_sent_papers_are_not_picked_again() -> None:
    first = rank(real_day(), [SPLAT])["ada@example.org"]
    again = rank(real_day(), [SPLAT], already_sent={"ada@example.org": {first[0].id}})
    assert first[0].id not in {p.id for p in again["ada@example.org"]}


def test_trending_blends_in_but_cannot_fill_a_digest() -> None:
    viral = find("agent")
    day = tuple(replace(c, upvotes=5000) if c.id == viral.id else c for c in real_day())
    picks = rank(day, [replace(SPLAT, trending_weight=1.0)])["ada@example.org"]
    assert viral.id not in {p.id for p in picks}  # popular but off-topic


def test_deterministic_for_the_same_input() -> None:
    interests = [SPLAT, Interest("bob@example.org", topics=("speech recognition",),
                                 keywords=("ASR",), liked=("2606.11894",))]
    liked = {"2606.11894": (by_id("2606.11894").title, by_id("2606.11894").abstract)}
    runs = [rank(real_day(), interests, liked_texts=liked) for _ in range(2)]
    assert runs[0] == runs[1]


def test_liked_paper_reason_names_it() -> None:
    liked_paper = find("splat")
    interest = Interest("c@example.org", liked=(liked_paper.id,))
    picks = rank(real_day(), [interest],
                 liked_texts={liked_paper.id: (liked_paper.title, liked_paper.abstract)})
    assert picks["c@example.org"]
    assert any(r.kind == "liked" and r.label == liked_paper.id
               for p in picks["c@example.org"] for r in p.reasons)


def test_empty_profile_or_empty_day_gives_empty_results() -> None:
    assert rank(real_day(), [Interest("empty@example.org")]) == {"empty@example.org": []}
    assert rank([], [SPLAT]) == {"ada@example.org": []}
    assert rank(real_day(), []) == {}


def test_many_subscribers_in_chunks_equal_one_by_one() -> None:
    from digest.rank import RankParams

    interests = [SPLAT, Interest("b@x.org", topics=("reinforcement learning for reasoning",)),
                 Interest("c@x.org", keywords=("diffusion",), max_papers=3)]
    together = rank(real_day(), interests, params=RankParams(chunk=2))
    for interest in interests:
        alone = rank(real_day(), [interest])[interest.key]
        assert [p.id for p in together[interest.key]] == [p.id for p in alone]
        assert [p.score for p in together[interest.key]] == pytest.approx([p.score for p in alone])


def test_a_digest_holds_max_papers_up_to_the_configured_limit() -> None:
    broad = Interest("wide@example.org", keywords=("model", "learning", "data", "method"),
                     max_papers=80)
    picks = rank(real_day(), [broad])["wide@example.org"]
    assert len(picks) == 80  # the ranker used to cap every digest at 50 silently


def test_followed_authors_papers_all_come_even_beyond_max_papers() -> None:
    off_topic = [c for c in real_day() if "splat" not in (c.title + c.abstract).lower()][:3]
    authors = tuple(c.authors[0] for c in off_topic)
    picks = rank(real_day(), [replace(SPLAT, authors=authors, max_papers=1)])["ada@example.org"]
    followed = [p for p in picks if p.reasons[0].kind == "author"]
    assert {c.id for c in off_topic} <= {p.id for p in followed}
    assert len(picks) == len(followed)  # max_papers 1 < followed papers: those, and no more
