"""The feedback model's cost with many voters: 1,000 subscribers x 20 votes each, ranked
against the same 1,000 subscribers without votes (the floor), in the same run.

Subscribers are rank_scale's (topics, keyword phrases and liked papers from real corpus text);
each voter's votes are on earlier papers of the corpus (a pool shared by every voter, as
digests share papers), half "more", half "less", 0-30 days old. Both rankings go through
`rank` chunk by chunk as compose does; each is timed 3 times (min / median / max), with
the load average beside them, since other jobs may share the machine. `--semantic` adds
random unit embeddings (the cost of the embedding kernel, not its quality).

    .venv/bin/python bench/feedback_scale.py [--voters 1000] [--votes 20] [--papers 1000]
        [--semantic]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from rank_scale import load_corpus, sample_interests  # bench/ is on the path as a script

from digest.compose.digests import COMPOSE_CHUNK
from digest.rank import Candidate, CorpusStats, Interest, Pick, Vote, rank
from digest.rank.semantic import SemanticInputs
from digest.rank.textfeat import doc_terms

ROOT = Path(__file__).parents[1]
VOTE_POOL = 2_000  # the earlier papers votes are drawn from


def with_votes(interests: list[Interest], pool: list[str], votes: int,
               rng: random.Random) -> list[Interest]:
    """Each subscriber with `votes` votes on distinct papers of `pool`."""
    return [replace(i, votes=tuple(Vote(p, 1 if n % 2 == 0 else -1, rng.uniform(0, 30))
                                   for n, p in enumerate(rng.sample(pool, votes))))
            for i in interests]


def timed(run: Callable[[], int], repeat: int = 3) -> tuple[list[float], int]:
    """Wall seconds of `repeat` runs, and the picks the last one made."""
    times, picks = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        picks = run()
        times.append(time.perf_counter() - start)
    return times, picks


def spread(times: list[float]) -> str:
    return f"{min(times):.2f} / {statistics.median(times):.2f} / {max(times):.2f} s"


def main() -> None:
    """Sample subscribers and votes, rank with and without the votes, print both."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--voters", type=int, default=1_000)
    ap.add_argument("--votes", type=int, default=20)
    ap.add_argument("--papers", type=int, default=1_000)
    ap.add_argument("--chunk", type=int, default=COMPOSE_CHUNK)
    ap.add_argument("--semantic", action="store_true", help="random 384-d unit embeddings too")
    ap.add_argument("--corpus", type=Path,
                    default=ROOT.parent / "shared/fixtures/corpus/arxiv_daily_dw-dengwei")
    args = ap.parse_args()
    rng = random.Random(7)
    corpus = load_corpus(args.corpus)
    day, history = corpus[-args.papers:], corpus[:-args.papers]
    candidates = [Candidate(d["id"], d["title"], d["summary"], tuple(d["authors"]),
                            tuple(d["categories"])) for d in day]
    plain = sample_interests(args.voters, history, rng)
    pool = [d["id"] for d in history[-VOTE_POOL:]]
    voters = with_votes(plain, pool, args.votes, rng)
    texts = {d["id"]: (d["title"], d["summary"]) for d in history}
    stats = CorpusStats.fit(doc_terms(d["title"], d["summary"], frozenset()) for d in corpus)
    semantic = None
    if args.semantic:
        def unit(n: int) -> np.ndarray:
            v = np.random.default_rng(n).standard_normal((n, 384)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)
        known = sorted({p for i in voters for p in i.known_papers})
        topics = sorted({t for i in voters for t in i.topics})
        semantic = SemanticInputs(unit(len(candidates)), dict(zip(topics, unit(len(topics)),
                                                                   strict=True)),
                                  dict(zip(known, unit(len(known)), strict=True)))

    def ranking(interests: list[Interest]) -> Callable[[], int]:
        def run() -> int:
            picks: dict[str, list[Pick]] = {}
            for first in range(0, len(interests), args.chunk):  # as compose does
                picks.update(rank(candidates, interests[first:first + args.chunk],
                                  stats=stats, liked_texts=texts, semantic=semantic))
            return sum(len(v) for v in picks.values())
        return run

    ranking(plain[:50])()  # warm the day's cached matrices for both
    load = os.getloadavg()
    floor, floor_picks = timed(ranking(plain))
    fed, fed_picks = timed(ranking(voters))
    load_after = os.getloadavg()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mode = "lexical + random 384-d embeddings" if semantic is not None else "lexical"
    print(f"{len(candidates)} papers x {args.voters} subscribers ({mode}), "
          f"{args.chunk} per call, min / median / max of 3")
    print(f"without votes (floor):       {spread(floor)}  ({floor_picks} picks)")
    print(f"with {args.votes} votes each:       {spread(fed)}  ({fed_picks} picks)  "
          f"x{statistics.median(fed) / statistics.median(floor):.2f} the floor")
    print(f"peak RSS {rss:.0f} MiB; load average before {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
