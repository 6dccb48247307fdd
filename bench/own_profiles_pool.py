"""The judging pool for our own dev profiles (bench/data/profiles_own.yaml).

For each profile and digest day it takes the top `--depth` papers of several different
rankers and prints the union (the pool), with how many papers each ranker added:

* `lexical`  - paper-digest's lexical ranker (RankParams defaults), as `digest rank` runs it;
* `semantic` - paper-digest's lexical + MiniLM blend;
* `bm25`     - plain Okapi BM25 of the day's title + abstract against topics + keywords;
* `category` - the day's papers in the field's arXiv categories, newest id first;
* `minilm`   - MiniLM cosine of each paper to the nearest of the topics and liked papers.

`--show DIR` writes one file per profile listing its pooled papers (title, categories,
abstract) in id order, without saying which ranker found them, for blind judging;
`--json FILE` writes the pool as {profile: {day: [ids]}}.

    .venv/bin/python bench/own_profiles_pool.py [--depth 10] [--show DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rank_quality import DAYS, OWN_PROFILES, OWN_QRELS, ROOT, build_config, day_ranker, evaluate, load_qrels

from digest.config import load_config
from digest.ingest.poll import poll_sources
from digest.rank import RankParams
from digest.rank.semantic import Embedder, load_embedder, paper_text
from digest.storage.db import open_database

# The field's arXiv categories, for the category-only ranker (profiles' own `categories`
# are used when they set them; these fill in for profiles that do not).
FIELD_CATEGORIES = {
    "O06": ("cs.IT", "eess.SP", "cs.NI"),
    "O07": ("eess.IV", "physics.med-ph"),
    "O08": ("cs.CR",),
    "O10": ("physics.ao-ph", "physics.geo-ph", "physics.flu-dyn"),
}
TOKEN = re.compile(r"[a-z0-9]+")


def corpus_papers(shared: Path) -> dict[str, dict[str, Any]]:
    """Every corpus record by id (first occurrence), with its file's day as `day`."""
    papers: dict[str, dict[str, Any]] = {}
    for day_file in sorted((shared / "fixtures/corpus/arxiv_daily_dw-dengwei").glob("*.jsonl")):
        for line in day_file.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                papers.setdefault(row["id"], {**row, "day": day_file.stem})
    return papers


def bm25_top(query: str, docs: dict[str, str], k: int, k1: float = 1.2, b: float = 0.75) -> list[str]:
    """Plain Okapi BM25 over `docs` (id -> text), query words once each; the top k ids."""
    tokens = {i: TOKEN.findall(text.lower()) for i, text in docs.items()}
    avg = sum(len(t) for t in tokens.values()) / max(len(tokens), 1)
    df = Counter(w for t in tokens.values() for w in set(t))
    n = len(docs)
    terms = set(TOKEN.findall(query.lower()))
    scores = {}
    for i, toks in tokens.items():
        tf = Counter(toks)
        scores[i] = sum(math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
                        * tf[w] * (k1 + 1) / (tf[w] + k1 * (1 - b + b * len(toks) / avg))
                        for w in terms if tf[w])
    return [i for i in sorted(scores, key=lambda i: (-scores[i], i)) if scores[i] > 0][:k]


def minilm_top(embedder: Embedder, queries: list[str], docs: tuple[list[str], np.ndarray],
               k: int) -> list[str]:
    """Ids of the k docs (ids, unit vectors) with the highest cosine to their nearest query."""
    ids, vectors = docs
    best = (vectors @ embedder.encode(queries).T).max(axis=1)
    return [ids[n] for n in np.argsort(-best, kind="stable")[:k]]


def pool(shared: Path, depth: int) -> tuple[dict[str, dict[str, dict[str, list[str]]]],
                                             dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """profile -> day -> ranker -> top ids; the corpus; the profiles."""
    profiles = yaml.safe_load(OWN_PROFILES.read_text())
    papers = corpus_papers(shared)
    embedder = load_embedder("sentence-transformers", None)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = build_config(shared, Path(tmp), OWN_PROFILES)
        config = load_config(config_path)
        asyncio.run(poll_sources(config, open_database(config.database), force=True))
        ours = {"lexical": day_ranker(config_path)[0](RankParams()),
                "semantic": day_ranker(config_path, embedder)[0](RankParams())}
    texts = {day: {i: paper_text(p["title"], p["summary"]) for i, p in papers.items() if p["day"] == day}
             for day in DAYS}
    vectors = {day: (sorted(docs), embedder.encode([docs[i] for i in sorted(docs)]))
               for day, docs in texts.items()}
    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    for profile in profiles:
        pid = profile["id"]
        cats = set(profile.get("categories") or FIELD_CATEGORIES.get(pid, ()))
        query = " ".join([*profile.get("topics", []), *profile.get("keywords", [])])
        queries = [*profile.get("topics", []),
                   *(paper_text(papers[i]["title"], papers[i]["summary"]) for i in profile["liked"])]
        out[pid] = {}
        for day in DAYS:
            docs = {i: f"{p['title']} {p['summary']}" for i, p in papers.items() if p["day"] == day}
            out[pid][day] = {
                **{name: run[pid][day][:depth] for name, run in ours.items()},
                "bm25": bm25_top(query, docs, depth),
                "category": sorted((i for i in docs if cats & set(papers[i]["categories"])),
                                   reverse=True)[:depth],
                "minilm": minilm_top(embedder, queries, vectors[day], depth),
            }
    return out, papers, profiles


def main() -> None:
    """Pool, print the pool sizes, optionally write the blind judging sheets."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--show", type=Path, help="write blind judging sheets here")
    ap.add_argument("--json", type=Path, help="write the pool here")
    args = ap.parse_args()
    runs, papers, profiles = pool(args.shared, args.depth)
    merged = {pid: {day: sorted({i for ids in by_ranker.values() for i in ids})
                    for day, by_ranker in days.items()} for pid, days in runs.items()}
    print(f"pool depth {args.depth}; rankers: {', '.join(next(iter(next(iter(runs.values())).values())))}")
    total = 0
    for pid, days in runs.items():
        sizes = [len(merged[pid][day]) for day in DAYS]
        total += sum(sizes)
        alone = Counter(name for day in DAYS for name, ids in days[day].items() for i in ids
                        if sum(i in other for other in days[day].values()) == 1)
        print(f"{pid}  pool per day {sizes}  total {sum(sizes)}  found by one ranker only: "
              f"{dict(sorted(alone.items()))}")
    print(f"total pooled (profile, paper) pairs: {total}")
    if OWN_QRELS.exists():  # each pooled ranker on the judgments (nDCG@10, P@10, judged@10)
        qrels = load_qrels(args.shared, OWN_QRELS)
        day_ids = {day: {i for i, p in papers.items() if p["day"] == day} for day in DAYS}
        for name in next(iter(next(iter(runs.values())).values())):
            scores = evaluate({pid: {day: runs[pid][day][name] for day in DAYS} for pid in runs},
                              qrels, day_ids).values()
            means = [sum(v[i] for v in scores) / len(scores) for i in range(3)]
            print(f"{name:9s} nDCG@10 {means[0]:.3f}  P@10 {means[1]:.3f}  judged@10 {means[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(merged, indent=1))
    if args.show:
        args.show.mkdir(parents=True, exist_ok=True)
        for profile in profiles:
            pid = profile["id"]
            lines = [yaml.safe_dump({k: v for k, v in profile.items() if k != "liked"}, sort_keys=False)]
            lines += [f"liked: {papers[i]['title']}" for i in profile["liked"]]
            for i in sorted({i for day in DAYS for i in merged[pid][day]}):
                p = papers[i]
                lines.append(f"\n## {i}  [{', '.join(p['categories'])}]  {p['title']}\n"
                             f"{' '.join(p['summary'].split())[:900]}")
            (args.show / f"{pid}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
