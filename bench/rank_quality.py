"""Ranking quality on the judged dev set, through the same code path as `digest rank`.

Ingests the real corpus into a fresh SQLite database through the `jsonl` source,
configures the ten dev subscribers, ranks each digest day and prints nDCG@10,
P@10 and judged@10 per profile and overall (the protocol of ../shared/eval), then the
same for our own ten profiles in fields outside machine learning (bench/data/
profiles_own.yaml, judged in qrels_own.jsonl, notes in judging_notes_own.md), ranked
in the same call (a subscriber's list does not depend on who else is ranked).

It then ranks a small grid of weights (`--grid`, default GRID) and prints the
leave-one-profile-out figure: each profile scored with the grid point that is best on
the other nine, averaged. Ship weights this figure supports, not the ones that
maximise the full dev set.

    .venv/bin/python bench/rank_quality.py [--shared ../shared] [--set w_liked=0.8 ...]
        [--grid w_keyword=0.4,0.8,1.2 ...] [--no-lopo] [--semantic onnx off] [--db FILE]

The database (default var/bench/rank_quality.db) is kept between runs, so each paper is
embedded once per model (the first semantic run embeds the 7,200 corpus papers: minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from digest.config import load_config
from digest.ingest.poll import poll_sources
from digest.rank import RankParams
from digest.rank.minilm import OnnxMiniLM
from digest.rank.semantic import Embedder, load_embedder
from digest.rank.stored import interest_of, rank_papers
from digest.storage.db import open_database, session_scope
from digest.storage.papers import papers_published
from digest.storage.subscribers import sync_subscribers

ROOT = Path(__file__).parents[1]
DAYS = ["2026-06-02", "2026-06-04", "2026-06-09", "2026-06-11"]
OWN_PROFILES = ROOT / "bench/data/profiles_own.yaml"
OWN_QRELS = ROOT / "bench/data/qrels_own.jsonl"
GRID = {"w_keyword": (0.4, 0.8, 1.2), "w_liked": (0.3, 0.6, 0.9), "phrase_weight": (0.6, 0.8, 1.0)}


def subscriber_of(profile: dict[str, Any]) -> dict[str, Any]:
    """A dev profile as a subscriber entry (email = lower-case profile id @dev.example)."""
    entry = {"email": f"{profile['id'].lower()}@dev.example", "topics": profile.get("topics", []),
             "keywords": profile.get("keywords", []), "liked": profile.get("liked", []),
             "trending_weight": 0}
    entry.update({k: profile[k] for k in ("categories", "exclude") if profile.get(k)})
    return entry


def build_config(shared: Path, tmp: Path, extra_profiles: Path | None = None,
                 database: Path | None = None) -> Path:
    """Corpus files re-dated (file name = published date) and the dev profiles (plus
    `extra_profiles`, our own) as subscribers, in `database` (default: a file in `tmp`); the
    bench hands its embedder to the ranker itself, so the config's semantic ranker is off."""
    corpus = shared / "fixtures/corpus/arxiv_daily_dw-dengwei"
    sources = []
    for day_file in sorted(corpus.glob("*.jsonl")):
        day = day_file.stem
        out = tmp / f"{day}.jsonl"
        with out.open("w") as f:
            for line in day_file.read_text().splitlines():
                if line.strip():
                    f.write(json.dumps({**json.loads(line), "published": day}) + "\n")
        sources.append({"name": f"day-{day}", "type": "jsonl", "path": str(out)})
    profiles = yaml.safe_load((shared / "eval/profiles_dev.yaml").read_text())
    if extra_profiles is not None:
        profiles += yaml.safe_load(extra_profiles.read_text())
    subscribers = [subscriber_of(p) for p in profiles]
    path = tmp / "eval.yaml"
    path.write_text(yaml.safe_dump({
        "database": f"sqlite:///{database or tmp / 'eval.db'}", "sources": sources,
        "subscribers": subscribers, "ranking": {"semantic": {"enabled": False}}}))
    return path


def load_qrels(shared: Path, path: Path | None = None) -> dict[str, dict[str, int]]:
    """profile id -> paper id -> grade (the shared dev judgments unless `path` is given)."""
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for line in (path or shared / "eval/qrels_dev.jsonl").read_text().splitlines():
        row = json.loads(line)
        qrels[row["profile"]][row["id"]] = row["grade"]
    return qrels


def merge_qrels(dev: dict[str, dict[str, int]], extra: dict[str, dict[str, int]]
                ) -> dict[str, dict[str, int]]:
    """The dev judgments plus `extra`'s for pairs the dev set has no row for (dev wins)."""
    merged = {pid: dict(grades) for pid, grades in dev.items()}
    for pid, grades in extra.items():
        for paper, grade in grades.items():
            merged.setdefault(pid, {}).setdefault(paper, grade)
    return merged


def dcg(gains: list[int]) -> float:
    """Discounted cumulative gain with gain 2^grade - 1."""
    return sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(gains))


def evaluate(run: dict[str, dict[str, list[str]]], qrels: dict[str, dict[str, int]],
             day_ids: dict[str, set[str]], k: int = 10,
             days: Sequence[str] = DAYS) -> dict[str, tuple[float, float, float]]:
    """Per judged profile in `run` (nDCG@k, P@k, judged@k), averaged over those of `days` it
    has relevant papers on."""
    out = {}
    for pid in sorted(p for p in qrels if p in run):
        nd, pk, jd = [], [], []
        for day in days:
            rel = {x: g for x, g in qrels[pid].items() if x in day_ids[day]}
            if not any(rel.values()):
                continue
            top = run[pid][day][:k]
            nd.append(dcg([rel.get(x, 0) for x in top]) / dcg(sorted(rel.values(), reverse=True)[:k]))
            pk.append(sum(1 for x in top if rel.get(x, 0) > 0) / k)
            jd.append(sum(1 for x in top if x in qrels[pid]) / k)
        out[pid] = (mean(nd), mean(pk), mean(jd))
    return out


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (0 for none)."""
    return sum(values) / len(values) if values else 0.0


def day_ranker(config_path: Path, embedder: Embedder | None = None
               ) -> tuple[Callable[[RankParams], dict[str, Any]], dict[str, set[str]]]:
    """A function ranking each digest day's papers for every dev subscriber with given params
    (the corpus is read once), and each day's paper ids."""
    config = load_config(config_path)
    engine = open_database(config.database)
    with session_scope(engine) as session:
        interests = [interest_of(r) for r in sync_subscribers(session, config.subscribers)]
        papers = {day: papers_published(session, date.fromisoformat(day), date.fromisoformat(day))
                  for day in DAYS}
        for rows in papers.values():
            for row in rows:
                session.expunge(row)
    day_ids = {day: {p.canonical_id for p in rows} for day, rows in papers.items()}

    def run_with(params: RankParams) -> dict[str, Any]:
        run: dict[str, dict[str, list[str]]] = defaultdict(dict)
        with session_scope(engine) as session:
            for day in DAYS:
                picks = rank_papers(session, papers[day], interests, params, embedder=embedder)
                for interest in interests:
                    pid = interest.key.split("@")[0].upper()
                    run[pid][day] = [p.id for p in picks[interest.key]]
        return run

    return run_with, day_ids


def parse_grid(pairs: list[str]) -> dict[str, tuple[float, ...]]:
    """`name=v1,v2,...` pairs for RankParams fields; GRID when none are given."""
    if not pairs:
        return dict(GRID)
    names = {f.name for f in fields(RankParams)}
    out = {}
    for pair in pairs:
        name, values = pair.split("=", 1)
        if name not in names:
            raise SystemExit(f"unknown RankParams field {name!r}; one of {sorted(names)}")
        out[name] = tuple(float(v) for v in values.split(","))
    return out


def leave_one_profile_out(per_point: list[dict[str, float]]) -> tuple[float, list[int]]:
    """Mean over profiles of each profile's nDCG at the grid point best on the other profiles
    (ties: the earlier point), and the point chosen for each profile."""
    profiles = sorted(per_point[0])
    held, chosen = [], []
    for pid in profiles:
        others = [sum(v for q, v in point.items() if q != pid) for point in per_point]
        best = max(range(len(per_point)), key=lambda n: (round(others[n], 9), -n))
        held.append(per_point[best][pid])
        chosen.append(best)
    return sum(held) / len(held), chosen


def parse_overrides(pairs: list[str]) -> dict[str, float]:
    """`name=value` pairs for RankParams fields."""
    names = {f.name for f in fields(RankParams)}
    out = {}
    for pair in pairs:
        name, value = pair.split("=", 1)
        if name not in names:
            raise SystemExit(f"unknown RankParams field {name!r}; one of {sorted(names)}")
        out[name] = float(value)
    return out


def print_table(scores: dict[str, tuple[float, float, float]], mean: str = "mean") -> None:
    """One line per profile (nDCG@10, P@10, judged@10), their mean, and the mean nDCG@10's
    standard error over the profiles (how far apart two rankers must be to mean anything)."""
    for pid, (n, p, j) in scores.items():
        print(f"{pid:8s} {n:.3f}    {p:.3f}  {j:.2f}")
    means = [sum(v[i] for v in scores.values()) / len(scores) for i in range(3)]
    print(f"{mean:8s} {means[0]:.3f}    {means[1]:.3f}  {means[2]:.2f}"
          f"   (nDCG@10 standard error {standard_error([v[0] for v in scores.values()]):.3f})")


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean of `values` (0 for fewer than two)."""
    if len(values) < 2:
        return 0.0
    avg = mean(values)
    return math.sqrt(sum((v - avg) ** 2 for v in values) / (len(values) - 1) / len(values))


def main() -> None:
    """Ingest, rank, score, print: the default (semantic) ranker and lexical-only."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--set", nargs="*", default=[], help="RankParams overrides, name=value")
    ap.add_argument("--semantic", nargs="*", default=["onnx", "off"],
                    choices=["onnx", "model2vec", "sentence-transformers", "off"],
                    help="rankers to score: the semantic backends, off = lexical-only "
                         "(default: onnx, the shipped default, and off)")
    ap.add_argument("--model", help="model path (model2vec: a distilled folder)")
    ap.add_argument("--grid", nargs="*", default=[],
                    help=f"weights to cross-validate, name=v1,v2,... (default {GRID})")
    ap.add_argument("--no-lopo", action="store_true", help="skip the leave-one-profile-out grid")
    ap.add_argument("--max-tokens", type=int, help="onnx: truncate texts at this many tokens")
    ap.add_argument("--extra-qrels", type=Path,
                    help="more dev judgments of our own (e.g. bench/data/qrels_dev_pool.jsonl), "
                         "added to the shared ones for this run")
    ap.add_argument("--db", type=Path, default=ROOT / "var/bench/rank_quality.db",
                    help="SQLite file kept between runs: papers are embedded once per model")
    args = ap.parse_args()
    params = replace(RankParams(), **parse_overrides(args.set))  # type: ignore[arg-type]
    args.db.parent.mkdir(parents=True, exist_ok=True)
    scored: list[tuple[str, dict[str, dict[str, float]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        config_path = build_config(args.shared, Path(tmp), OWN_PROFILES, args.db.resolve())
        asyncio.run(poll_sources(load_config(config_path), open_database(
            load_config(config_path).database), force=True))
        for backend in args.semantic:
            embedder = load_embedder(backend, args.model) if backend != "off" else None
            if isinstance(embedder, OnnxMiniLM) and args.max_tokens:
                embedder = replace(embedder, name=f"{embedder.name}/t{args.max_tokens}",
                                   max_tokens=args.max_tokens)
            scored.append((embedder.name if embedder else "lexical-only",
                           score_ranker(args, config_path, embedder, params)))
    print_paired(scored)


def print_paired(scored: list[tuple[str, dict[str, dict[str, float]]]]) -> None:
    """Each ranker after the first against the first, profile by profile (paired): the mean
    nDCG@10 difference and its standard error, on the dev set and on our own profiles."""
    if len(scored) < 2:
        return
    first, base = scored[0]
    for name, sets in scored[1:]:
        for label, ours in sets.items():
            diffs = [ours[p] - base[label][p] for p in ours]
            print(f"{name} - {first} on {label}: nDCG@10 {mean(diffs):+.3f} "
                  f"+/- {standard_error(diffs):.3f} (paired standard error, {len(diffs)} profiles)")


def score_ranker(args: argparse.Namespace, config_path: Path, embedder: Embedder | None,
                 params: RankParams) -> dict[str, dict[str, float]]:
    """Print one ranker's tables: dev, own profiles, leave-one-profile-out; return its nDCG@10
    per profile on the dev set and on our own profiles."""
    qrels = load_qrels(args.shared)
    if args.extra_qrels:
        qrels = merge_qrels(qrels, load_qrels(args.shared, args.extra_qrels))
    run_with, day_ids = day_ranker(config_path, embedder)
    run = run_with(params)
    grid = parse_grid(args.grid)
    points = [replace(params, **dict(zip(grid, values, strict=True)))  # type: ignore[arg-type]
              for values in itertools.product(*grid.values())] if not args.no_lopo else []
    per_point = [{pid: v[0] for pid, v in evaluate(run_with(p), qrels, day_ids).items()}
                 for p in points]
    kind = f"lexical + {embedder.name}" if embedder else "lexical-only ranker"
    print(f"\n{kind} ({', '.join(args.set) or 'defaults'})")
    print(f"{'profile':8s} nDCG@10  P@10   judged@10")
    dev = evaluate(run, qrels, day_ids)
    print_table(dev)
    # our own profiles, fields outside machine learning: never in the grid or the LOPO figure
    print(f"own profiles ({OWN_PROFILES.relative_to(ROOT)}, judged in {OWN_QRELS.name})")
    own = evaluate(run, load_qrels(args.shared, OWN_QRELS), day_ids)
    print_table(own, "own mean")
    result = {"dev": {p: v[0] for p, v in dev.items()}, "own": {p: v[0] for p, v in own.items()}}
    if not per_point:
        return result
    lopo, chosen = leave_one_profile_out(per_point)
    means_at = [sum(point.values()) / len(point) for point in per_point]
    best = max(range(len(points)), key=lambda n: (round(means_at[n], 9), -n))

    def label(n: int) -> str:
        return ", ".join(f"{k}={getattr(points[n], k):g}" for k in grid)

    print(f"grid: {len(points)} points over {', '.join(grid)}")
    print(f"leave-one-profile-out nDCG@10 {lopo:.3f}  (points chosen: "
          f"{' | '.join(sorted({label(n) for n in chosen}))})")
    print(f"best on the full dev set      {means_at[best]:.3f}  ({label(best)})")
    return result


if __name__ == "__main__":
    main()
