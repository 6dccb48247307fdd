"""Plain data the ranker takes and gives: interests, candidates, picks with reasons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

MAX_PAPERS = 100  # most papers one digest holds: the config's limit and the ranker's cap


@dataclass(frozen=True)
class Vote:
    """One "more like this" (+1) or "less like this" (-1) vote on a paper, `age_days` old."""

    paper_id: str
    value: int
    age_days: float = 0.0


@dataclass(frozen=True)
class Interest:
    """One subscriber's interests, as the ranker sees them."""

    key: str
    topics: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    categories_only: bool = False
    exclude: tuple[str, ...] = ()
    liked: tuple[str, ...] = ()
    min_score: float = 0.0
    max_papers: int = 10             # a digest holds this many, or every followed-author paper
    trending_weight: float = 0.1
    votes: tuple[Vote, ...] = ()     # the reader's feedback from digests (newest votes count most)

    @property
    def known_papers(self) -> tuple[str, ...]:
        """Liked and voted paper ids: the papers whose texts (and embeddings) the ranker needs."""
        return tuple(dict.fromkeys((*self.liked, *(v.paper_id for v in self.votes))))

    @property
    def is_empty(self) -> bool:
        """True when nothing in the profile could select a paper."""
        return not (self.topics or self.keywords or self.authors or self.liked or self.categories
                    or any(v.value > 0 for v in self.votes))


@dataclass(frozen=True)
class Candidate:
    """A paper that may go into today's digests."""

    id: str
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    upvotes: int | None = None
    version: int = 1


class Reason(NamedTuple):
    """Why a paper was picked: kind is topic | keyword | author | liked | category | trending |
    feedback (close to a paper the reader voted on) | weaker (below the evidence bar, picked
    only to fill a short digest)."""

    kind: str
    label: str
    terms: tuple[str, ...] = ()
    score: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = {"kind": self.kind, "label": self.label,
                               "score": round(self.score, 4)}
        if self.terms:
            out["terms"] = list(self.terms)
        return out


class Pick(NamedTuple):
    """One picked paper for one subscriber, with its score and reasons."""

    id: str
    score: float
    reasons: tuple[Reason, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """`{"id", "score", "reasons"}`, the stable `digest rank --json` shape."""
        return {"id": self.id, "score": round(self.score, 4),
                "reasons": [r.as_json() for r in self.reasons]}


@dataclass(frozen=True)
class RankParams:
    """Blend weights and knobs; defaults chosen on the dev set (bench/rank_quality.py)."""

    w_topic: float = 1.0
    w_keyword: float = 0.8
    w_keyword_extra: float = 0.1
    w_liked: float = 0.6
    w_category: float = 0.1
    w_semantic: float = 1.0          # topics by meaning (only when the semantic ranker is on)
    w_semantic_liked: float = 1.5    # liked papers by meaning
    min_semantic: float = 0.35       # cosine that counts as evidence on its own
    phrase_weight: float = 0.6       # a multi-word keyword's share for the phrase; its words: the rest
    phrase_window: float = 2         # words allowed between a phrase's words, in order (0: adjacent)
    idf_power: float = 1.0
    liked_terms: int = 64            # a liked paper is represented by its top tf-idf terms
    min_evidence: float = 0.3        # raw topic/keyword score a paper needs to count at all
    min_liked_cosine: float = 0.15   # ... or this cosine to a liked paper
    normalize: float = 1.0    # scale each signal by its best value of the day, per subscriber
    mmr_lambda: float = 0.8
    mmr_pool: int = 30
    duplicate_cosine: float = 0.9
    chunk: int = 64                  # subscribers scored together (one block of arrays at a time)
    workers: int = 0                 # threads for subscriber chunks; 0 = one per CPU
    followed_bonus: float = 1000.0
    fill_evidence: float = 0.5       # short digests are filled with papers reaching this share
                                     # of the evidence bar (1: no filling; never with min_score)
    liked_topic_low: float = 0.15    # semantic mode: a candidate whose cosine to every topic is at
    liked_topic_high: float = 0.3    # most `low` keeps `floor` of its closeness to liked papers,
    liked_topic_floor: float = 0.3   # one at least `high` from a topic all of it (floor 1: off)
    # the reader's votes (digest/rank/feedback.py); none of these matter without votes
    w_feedback: float = 2.0          # bound of the feedback component (tanh of the model's score)
    min_feedback: float = 0.1        # feedback that counts as evidence on its own
    feedback_half_life: float = 30.0  # days after which a vote counts half
    feedback_lambda: float = 0.3     # L2 regularisation of the per-subscriber model
    feedback_liked: float = 1.0      # weight of each liked paper as a positive
    feedback_negatives: float = 0.5  # the day's sampled papers (weak negatives) weigh this much
    #                                   together, per unit of the subscriber's votes and likes
    feedback_samples: int = 200      # how many of the day's papers are sampled as negatives
    feedback_semantic: float = 0.3   # weight of embedding cosine in the model's kernel
    feedback_category: float = 0.0   # weight of category cosine (0: on the dev set it only hurt)
    feedback_steps: int = 40         # gradient steps of the fit
    w_feedback_more: float = 1.0     # closeness to more-voted papers, scored like a liked paper's
    #                                   (1: the same weights; "less" neighbours: the model only,
    #                                   a closeness penalty hurt on the dev set)
    feedback_ramp: float = 5.0       # votes at which what they add counts half: n / (n + 5)
