"""A subscriber's ranking never depends on who else is ranked in the same call."""

from __future__ import annotations

import pytest

from digest.rank import Interest, RankParams, rank
from tests.rank.test_rank import real_day


def others(n: int) -> list[Interest]:
    """`n` subscribers with multi-word keywords, exclusions and liked papers from the day."""
    day = real_day()
    out = []
    for k in range(n):
        paper = day[(7 * k + 3) % len(day)]
        title = [w for w in paper.title.split() if w.isalpha()]
        keywords = tuple(" ".join(title[s:s + 2]) for s in range(0, min(len(title) - 1, 6), 2))
        out.append(Interest(f"other{k}@example.org", topics=(paper.title,), keywords=keywords,
                            exclude=(" ".join(title[-2:]),) if k % 3 == 0 else (),
                            liked=(day[(11 * k + 5) % len(day)].id,), max_papers=5 + k % 7))
    return out


def test_one_subscriber_alone_and_among_fifty_others_gets_the_same_list() -> None:
    day = real_day()
    liked_paper = next(c for c in day if "splat" in c.title.lower())
    target = Interest("ada@example.org", topics=("3D Gaussian splatting and scene reconstruction",),
                      keywords=("gaussian splatting", "neural radiance field", "NeRF"),
                      liked=(liked_paper.id,), max_papers=10)
    crowd = others(50)
    texts = {c.id: (c.title, c.abstract) for c in day}
    alone = rank(day, [target], liked_texts=texts)[target.key]
    together = rank(day, [*crowd[:25], target, *crowd[25:]], liked_texts=texts)[target.key]
    assert len(alone) == 10
    assert [p.id for p in together] == [p.id for p in alone]
    assert [p.score for p in together] == pytest.approx([p.score for p in alone], abs=1e-5)
    assert [[(r.kind, r.label, r.terms) for r in p.reasons] for p in together] == \
        [[(r.kind, r.label, r.terms) for r in p.reasons] for p in alone]
    for other in crowd[:5]:  # and each of the others, alone, as among the crowd
        solo = rank(day, [other], liked_texts=texts)[other.key]
        crowded = rank(day, crowd, liked_texts=texts)[other.key]
        assert [p.id for p in crowded] == [p.id for p in solo]


def test_a_long_digest_in_the_same_block_does_not_change_a_short_one() -> None:
    """Each subscriber's picks come from their own candidate pool (max(mmr_pool, their digest
    size)): a subscriber who takes 100 papers, ranked in the same block, leaves a ten-paper
    digest as it is alone (diversity weighed strongly, so papers past the 30th could win)."""
    day = real_day()
    params = RankParams(mmr_lambda=0.1)
    target = Interest("ada@example.org", topics=("large language models for reasoning",),
                      keywords=("reasoning", "language model"), max_papers=10)
    greedy = Interest("bob@example.org", topics=("learning",), max_papers=100)
    alone = rank(day, [target], params=params)[target.key]
    together = rank(day, [greedy, target], params=params)[target.key]
    assert len(alone) == 10
    assert [p.id for p in together] == [p.id for p in alone]


def test_tied_scores_break_the_same_way_alone_and_in_a_block() -> None:
    """A category-only subscriber's papers all score the same: which ten they get must not
    depend on a 100-paper digest ranked in the same block (ties go to the earlier paper)."""
    day = real_day()
    counts: dict[str, int] = {}
    for paper in day:
        for cat in paper.categories:
            counts[cat] = counts.get(cat, 0) + 1
    busiest = max(counts, key=lambda c: counts[c])
    assert counts[busiest] > 40  # far more tied papers than the digest or the MMR pool holds
    target = Interest("cat@example.org", categories=(busiest,), max_papers=10)
    greedy = Interest("bob@example.org", topics=("learning",), max_papers=100)
    alone = rank(day, [target])[target.key]
    together = rank(day, [greedy, target])[target.key]
    assert len(alone) == 10
    assert [p.id for p in together] == [p.id for p in alone]
