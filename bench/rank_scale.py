"""Ranking at scale: 2,000 candidate papers x N subscribers, top-10 with reasons.

Interests are sampled from real corpus titles and abstracts (two topics, three
keyword phrases, three liked papers each). Prints wall time and peak RSS.

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

from digest.rank import Candidate, CorpusStats, Interest, rank
from digest.rank.textfeat import doc_terms

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


def main() -> None:
    """Sample, rank, print wall time and peak RSS."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--papers", type=int, default=2_000)
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
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    picks = rank(candidates, interests, stats=stats, liked_texts=liked)
    took = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    filled = sum(len(v) for v in picks.values())
    print(f"{len(candidates)} papers x {len(interests)} subscribers -> {filled} picks "
          f"({filled / len(interests):.1f} per subscriber), with reasons")
    print(f"rank wall time: {took:.2f} s   peak RSS: {rss:.0f} MiB "
          f"(before ranking: {rss_before:.0f} MiB)")


if __name__ == "__main__":
    main()
