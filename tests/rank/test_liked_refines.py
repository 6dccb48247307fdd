"""Liked papers refine the stated topics: closeness to a liked paper counts only as far as the
candidate is also close to one of the subscriber's topics (semantic mode)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from digest.rank import Candidate, Interest, RankParams, rank
from digest.rank.semantic import SemanticInputs

DIM = 384
TOPIC = "remote sensing of crops"


def axis(n: int) -> np.ndarray:
    """The n-th unit vector."""
    out = np.zeros(DIM, dtype=np.float32)
    out[n] = 1.0
    return out


def unit(vector: np.ndarray) -> np.ndarray:
    """`vector` scaled to length one."""
    return (vector / np.linalg.norm(vector)).astype(np.float32)


# the topic points along axis 0, the liked paper along axis 1 (far from the topic)
PAPERS = {
    "both": unit(axis(0) + axis(1)),            # close to the topic and to the liked paper
    "liked-only": unit(0.05 * axis(0) + axis(1)),  # the liked paper's twin, off every topic
    "topic-only": unit(0.6 * axis(0) + 0.8 * axis(2)),
}
CANDIDATES = [Candidate(pid, f"Paper {word}", f"An abstract about {word} things.")
              for pid, word in zip(PAPERS, ("alpha", "bravo", "charlie"), strict=True)]


def order(interest: Interest, params: RankParams | None = None) -> list[str]:
    """The subscriber's picks, best first, with the vectors above."""
    semantic = SemanticInputs(np.vstack(list(PAPERS.values())), topics={TOPIC: axis(0)},
                              liked={"liked-1": axis(1)})
    picks = rank(CANDIDATES, [interest], params=params, semantic=semantic,
                 liked_texts={"liked-1": ("A liked paper", "About drones and detection.")})
    return [p.id for p in picks[interest.key]]


def test_a_liked_papers_twin_far_from_every_topic_ranks_below_a_paper_on_the_topic() -> None:
    """The paper only a liked paper vouches for comes after the one on the stated topic; with
    the gate off (floor 1) the liked paper's pull would put it second."""
    sub = Interest("a@example.org", topics=(TOPIC,), liked=("liked-1",))
    assert order(sub) == ["both", "topic-only", "liked-only"]
    assert order(sub, replace(RankParams(), liked_topic_floor=1.0)) == \
        ["both", "liked-only", "topic-only"]


def test_a_subscriber_without_topics_keeps_the_whole_pull_of_liked_papers() -> None:
    """With liked papers only there is nothing to refine: the twin comes first."""
    sub = Interest("b@example.org", liked=("liked-1",))
    assert order(sub)[0] == "liked-only"


def test_topics_without_vectors_still_gate_the_liked_pull(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A compose worker leaves out topics new since its parent stored their vectors: the
    subscriber still has topics, so the liked papers' pull stays gated (at the floor: near no
    topic), never ungated as for a subscriber without topics."""
    from digest.rank import score

    seen: list[list[bool]] = []
    real = score.topic_gate

    def spy(cosine: np.ndarray, has_topics: np.ndarray, params: RankParams) -> np.ndarray:
        seen.append(has_topics.tolist())
        return real(cosine, has_topics, params)

    monkeypatch.setattr(score, "topic_gate", spy)
    with_vector = Interest("a@example.org", topics=(TOPIC,), liked=("liked-1",))
    without = Interest("b@example.org", topics=("a topic new since",), liked=("liked-1",))
    no_topics = Interest("c@example.org", liked=("liked-1",))
    semantic = SemanticInputs(np.vstack(list(PAPERS.values())), topics={TOPIC: axis(0)},
                              liked={"liked-1": axis(1)})
    liked = {"liked-1": ("A liked paper", "About drones and detection.")}
    rank(CANDIDATES, [with_vector, without, no_topics], semantic=semantic, liked_texts=liked)
    rank(CANDIDATES, [without], semantic=replace(semantic, topics={}), liked_texts=liked)
    assert seen == [[True, True, False], [True]]
