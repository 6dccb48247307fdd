"""Ranking at scale: 2,000 candidate papers x N subscribers, top-10 with reasons.

Interests are sampled from real corpus titles and abstracts (two topics, three
keyword phrases, three liked papers each). Ranks chunk by chunk as compose does (`--chunk`),
and prints wall time, peak RSS and, in the same run, a bare floor.

    .venv/bin/python bench/rank_scale.py [--subscribers 10000] [--papers 2000]
    .venv/bin/python bench/rank_scale.py --subscribers 100000
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import time
from pathlib import Path

import numpy as np

from digest.compose.digests import COMPOSE_CHUNK
from digest.rank import Candidate, CorpusStats, Interest, rank
from digest.rank.textfeat import Vocabulary, doc_matrices, doc_terms

ROOT = Path(__file__).parents[1]


def load_corpus(folder: Path) -> list[dict[str, str]]:
    """Distinct papers of the real daily corpus."""
    seen: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            doc = json.loads(line)
            seen.setdefault(doc["id"], doc)
    return list(seen.values())


def sample_interests(n: int, pool: list[dict[str, str]], rng: random.Random) -> list[Interest]:
    """n subscribers with topics, keyword phrases and liked papers drawn from real text."""
    out = []
    for i in range(n):
        docs = rng.sample(pool, 5)
        words = re.findall(r"[A-Za-z][A-Za-z\-]{3,}", docs[2]["summary"])
        phrases = [" ".join(words[j:j + 2]) for j in rng.sample(range(max(len(words) - 1, 1)), 3)]
        out.append(Interest(f"s{i}@bench.example", topics=(docs[0]["title"], docs[1]["title"]),
                            keywords=tuple(phrases), liked=tuple(d["id"] for d in docs[2:5]),
                            max_papers=10))
    return out


def bare_floor(candidates: list[Candidate], interests: list[Interest],
               stats: CorpusStats) -> float:
    """Seconds for the least any ranker does: tf-idf rows of the papers and of each
    subscriber's topics and keywords, one sparse product, the top 10 per subscriber."""
    start = time.perf_counter()
    vocab = Vocabulary()
    papers = doc_matrices([doc_terms(c.title, c.abstract, frozenset()) for c in candidates],
                          vocab, stats)[1]
    queries = doc_matrices([doc_terms(" ".join(i.topics), " ".join(i.keywords), frozenset())
                            for i in interests], vocab, stats)[1]
    papers.resize((papers.shape[0], len(vocab)))
    for first in range(0, len(interests), 1000):
        scores = (queries[first:first + 1000] @ papers.T).toarray()
        np.argpartition(-scores, 10, axis=1)[:, :10]
    return time.perf_counter() - start


def main() -> None:
    """Sample, rank, print wall time and peak RSS."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--papers", type=int, default=2_000)
    ap.add_argument("--chunk", type=int, default=COMPOSE_CHUNK,
                    help="subscribers per ranking call (compose's chunk by default)")
    ap.add_argument("--corpus", type=Path,
                    default=ROOT.parent / "shared/fixtures/corpus/arxiv_daily_dw-dengwei")
    args = ap.parse_args()
    rng = random.Random(7)
    corpus = load_corpus(args.corpus)
    day = corpus[-args.papers:]
    history = corpus[:-args.papers]
    candidates = [Candidate(d["id"], d["title"], d["summary"], tuple(d["authors"]),
                            tuple(d["categories"]), rng.choice([None, None, 3, 40])) for d in day]
    interests = sample_interests(args.subscribers, history, rng)
    liked = {d["id"]: (d["title"], d["summary"]) for d in history}
    stats = CorpusStats.fit(doc_terms(d["title"], d["summary"], frozenset()) for d in corpus)
    floor = bare_floor(candidates, interests, stats)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    filled = 0
    for first in range(0, len(interests), args.chunk):  # as compose does, chunk by chunk
        picks = rank(candidates, interests[first:first + args.chunk], stats=stats,
                     liked_texts=liked)
        filled += sum(len(v) for v in picks.values())
        del picks
    took = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(candidates)} papers x {len(interests)} subscribers -> {filled} picks "
          f"({filled / len(interests):.1f} per subscriber), with reasons, "
          f"{args.chunk} subscribers per call")
    print(f"rank wall time: {took:.2f} s   peak RSS: {rss:.0f} MiB "
          f"(before ranking: {rss_before:.0f} MiB)")
    print(f"bare floor (tf-idf, one sparse product, top-10): {floor:.2f} s   "
          f"rank / floor: {took / floor:.1f}")


if __name__ == "__main__":
    main()
