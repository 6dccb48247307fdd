"""Does "more / less like this" make tomorrow's ten papers better? A simulated reader on the
judged dev set (issue 13), through the same code path as `digest rank`.

For each dev profile, the four judged days in order: day 1 is ranked without votes; the
reader votes "more" on every shown (top-10) paper graded 2 and "less" on every shown paper
graded 0 (unjudged: no vote); days 2-4 are ranked with all votes so far (aged from the day
dates), and the reader votes again. Printed: mean nDCG@10 and P@10 on days 3-4 with
feedback against the same ranker without it, for the lexical ranker and the semantic blend,
per-profile deltas, profiles worse by more than 0.05, the mean delta's standard error over
the profiles (with how many gained or lost, and the mean without the largest gain), a
leave-one-profile-out figure over a small grid of the feedback knobs, and a "library-only"
cold start (liked papers read from a BibTeX file of each profile's liked ids, no topics or
keywords) against the profile as given. The same with-vs-without table follows for our own
ten profiles (bench/data/profiles_own.yaml, judged in qrels_own.jsonl, whose pools came from
runs without feedback: watch their judged@10), which no grid or default was chosen on: a
held-out check of the dev figures.

`--extra-qrels FILE` adds judgments (rows as in qrels_dev.jsonl, e.g. bench/data/
qrels_feedback_pool.jsonl: the papers the feedback runs put in a top 10 that the dev set had
not judged) to the dev set's for scoring only; a dev row wins where both judge a pair. The
simulated reader still votes from the dev judgments alone, so the runs are the same and only
their scores change; the table titles say which judgments scored them.

    .venv/bin/python bench/feedback_quality.py [--shared ../shared] [--no-semantic]
        [--backend onnx] [--set w_feedback=2 ...] [--grid w_feedback=1,2,3 ...] [--no-lopo]
        [--workdir DIR] [--extra-qrels FILE] [--no-own]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import rank_quality
from rank_quality import (  # bench/ is on the path when this runs as a script
    DAYS,
    OWN_PROFILES,
    OWN_QRELS,
    ROOT,
    build_config,
    leave_one_profile_out,
    load_qrels,
    mean,
    merge_qrels,
    parse_grid,
    parse_overrides,
    standard_error,
)

from digest.config import load_config
from digest.config.model import SemanticConfig
from digest.ingest.poll import poll_sources
from digest.rank import Interest, RankParams, Vote
from digest.rank.semantic import Embedder, load_embedder
from digest.rank.stored import interest_of, rank_papers
from digest.storage.db import open_database, session_scope
from digest.storage.models import Paper
from digest.storage.papers import papers_published
from digest.storage.subscribers import sync_subscribers

SCORED = DAYS[2:]          # days 3-4: after two days of votes
GRID = {"w_feedback": (1.0, 2.0, 3.0), "w_feedback_more": (0.0, 1.0), "feedback_ramp": (0.0, 5.0)}
Run = dict[str, dict[str, list[str]]]     # profile -> day -> ids, best first
Qrels = dict[str, dict[str, int]]


def profile_of(key: str) -> str:
    """'p01@dev.example' -> 'P01'."""
    return key.split("@")[0].upper()


@dataclass
class World:
    """The ingested corpus: each day's papers, the dev subscribers, the judgments: `qrels`
    (the dev set's) drive the simulated reader's votes; `scoring` (the dev set's, plus any
    extra judgments) score the runs, and `qrels_label` names them ("" for the dev set alone)."""

    engine: object
    papers: dict[str, list[Paper]]
    interests: list[Interest]
    qrels: Qrels
    scoring: Qrels = field(default_factory=dict)
    qrels_label: str = ""

    def __post_init__(self) -> None:
        if not self.scoring:
            self.scoring = self.qrels

    def rank_day(self, day: str, interests: Sequence[Interest], params: RankParams,
                 embedder: Embedder | None) -> dict[str, list[str]]:
        """Each subscriber's ten (or max_papers) ids for `day`."""
        with session_scope(self.engine) as session:  # type: ignore[arg-type]
            picks = rank_papers(session, self.papers[day], interests, params, embedder=embedder)
        return {key: [p.id for p in chosen] for key, chosen in picks.items()}


def simulate(world: World, interests: Sequence[Interest], params: RankParams,
             embedder: Embedder | None, feedback: bool = True) -> Run:
    """Rank the four days in order; after each, the reader votes on what was shown."""
    votes: dict[str, list[tuple[str, int, date]]] = {i.key: [] for i in interests}
    run: Run = {}
    for day in DAYS:
        today = date.fromisoformat(day)
        voted = [replace(i, votes=tuple(Vote(p, v, float((today - when).days))
                                        for p, v, when in votes[i.key])) for i in interests]
        ranked = world.rank_day(day, voted, params, embedder)
        for interest in interests:
            pid = profile_of(interest.key)
            if pid not in world.qrels:
                continue
            shown = ranked[interest.key][:10]
            run.setdefault(pid, {})[day] = shown
            if not feedback:
                continue
            for paper in shown:
                grade = world.qrels[pid].get(paper)
                if grade == 2:
                    votes[interest.key].append((paper, 1, today))
                elif grade == 0:
                    votes[interest.key].append((paper, -1, today))
    return run


def with_extra_qrels(world: World, path: Path) -> World:
    """`world` scored on its dev judgments merged with the rows of `path`."""
    extra = load_qrels(path.parent, path)
    dev = world.qrels
    rows = sum(len(g) for g in extra.values())
    new = sum(1 for pid, g in extra.items() for paper in g if paper not in dev.get(pid, {}))
    label = (f"qrels: dev + {path} ({rows} rows, {new} new, {rows - new} already judged in dev, "
             "dev wins)")
    return replace(world, scoring=merge_qrels(dev, extra), qrels_label=label)


def titled(title: str, world: World) -> str:
    """A table title, with the judgments that scored it when they are not the dev set's alone."""
    return f"{title} [{world.qrels_label}]" if world.qrels_label else title


def day_ids(world: World) -> dict[str, set[str]]:
    """Each digest day's paper ids."""
    return {day: {p.canonical_id for p in rows} for day, rows in world.papers.items()}


def evaluate(run: Run, qrels: Qrels, ids: dict[str, set[str]],
             days: Sequence[str] = SCORED) -> dict[str, tuple[float, float, float]]:
    """rank_quality's per-profile figures, over the scored days by default."""
    return rank_quality.evaluate(run, qrels, ids, days=days)


def bibtex_of(ids: Sequence[str]) -> str:
    """A BibTeX library holding the given arXiv ids, the way reference managers export them."""
    entries = []
    for n, paper in enumerate(ids):
        entries.append(f"@article{{liked{n},\n  title = {{Liked paper {n}}},\n"
                       f"  author = {{Doe, Jane}},\n  year = {{2026}},\n"
                       f"  eprint = {{{paper}}},\n  archivePrefix = {{arXiv}},\n"
                       f"  primaryClass = {{cs.LG}},\n}}\n")
    return "\n".join(entries)


def library_ids(path: Path) -> tuple[list[str], str]:
    """arXiv ids read from a BibTeX file: by digest.library when it is there, else by a regex
    here; and which one read them."""
    try:
        from digest.library import read_library
    except ImportError:
        text = path.read_text()
        return re.findall(r"eprint\s*=\s*[{\"]([0-9]{4}\.[0-9]{4,5})", text), "a regex (no digest.library)"
    parsed = read_library(path.read_bytes(), path.name)
    return [i.arxiv_id for i in parsed.items if i.arxiv_id], "digest.library.read_library"


def library_only(world: World, tmp: Path) -> tuple[list[Interest], str]:
    """Each dev profile as only its liked papers, read back from a BibTeX export."""
    out, how = [], ""
    for interest in world.interests:
        bib = tmp / f"{profile_of(interest.key)}.bib"
        bib.write_text(bibtex_of(interest.liked))
        ids, how = library_ids(bib)
        out.append(Interest(interest.key, liked=tuple(ids), trending_weight=0.0))
    return out, how


def load_world(shared: Path, tmp: Path) -> tuple[World, World]:
    """Ingest the corpus into a fresh SQLite database and read back the subscribers: the dev
    set's, and our own ten profiles (bench/data/profiles_own.yaml, judged in qrels_own.jsonl)
    as a second world on the same papers."""
    config_path = build_config(shared, tmp, OWN_PROFILES)
    config = load_config(config_path)
    engine = open_database(config.database)
    asyncio.run(poll_sources(config, engine, force=True))
    qrels, own_qrels = load_qrels(shared), load_qrels(shared, OWN_QRELS)
    with session_scope(engine) as session:
        everyone = [interest_of(r) for r in sync_subscribers(session, config.subscribers)]
        papers = {day: papers_published(session, date.fromisoformat(day),
                                        date.fromisoformat(day)) for day in DAYS}
        for day_rows in papers.values():
            for row in day_rows:
                session.expunge(row)
    return (World(engine, papers, [i for i in everyone if profile_of(i.key) in qrels], qrels),
            World(engine, papers, [i for i in everyone if profile_of(i.key) in own_qrels],
                  own_qrels, qrels_label=f"our own profiles, judged in {OWN_QRELS.name}; "
                  "never in the grid"))


def report(title: str, world: World, params: RankParams, embedder: Embedder | None,
           grid: dict[str, tuple[float, ...]], lopo: bool) -> None:
    """One mode's table: with vs without feedback on days 3-4, per profile and mean."""
    ids = day_ids(world)
    base = evaluate(simulate(world, world.interests, params, embedder, feedback=False),
                    world.scoring, ids)
    fed = evaluate(simulate(world, world.interests, params, embedder), world.scoring, ids)
    print(f"\n{titled(title, world)}: days 3-4 ({', '.join(SCORED)}), votes from the days before")
    print(f"{'profile':8s} {'nDCG no-fb':>10s} {'nDCG fb':>8s} {'delta':>7s} "
          f"{'P@10 no-fb':>10s} {'P@10 fb':>8s} {'judged no-fb':>12s} {'judged fb':>9s}")
    for pid in base:
        (nb, pb, jb), (nf, pf, jf) = base[pid], fed[pid]
        print(f"{pid:8s} {nb:10.3f} {nf:8.3f} {nf - nb:+7.3f} {pb:10.3f} {pf:8.3f} "
              f"{jb:12.2f} {jf:9.2f}")
    deltas = [fed[p][0] - base[p][0] for p in base]

    def avg(table: dict[str, tuple[float, float, float]], n: int) -> float:
        return mean([v[n] for v in table.values()])

    print(f"{'mean':8s} {avg(base, 0):10.3f} {avg(fed, 0):8.3f} {mean(deltas):+7.3f} "
          f"{avg(base, 1):10.3f} {avg(fed, 1):8.3f} {avg(base, 2):12.2f} {avg(fed, 2):9.2f}")
    print(f"profiles worse by > 0.05: {sum(d < -0.05 for d in deltas)}"
          f"  (worst delta {min(deltas):+.3f})")
    print(spread(dict(zip(base, deltas, strict=True))))
    if not lopo:
        return
    points = [replace(params, **dict(zip(grid, values, strict=True)))  # type: ignore[arg-type]
              for values in itertools.product(*grid.values())]
    per_point = [{p: v[0] - base[p][0] for p, v in evaluate(simulate(
        world, world.interests, point, embedder), world.scoring, ids).items()} for point in points]
    held, chosen = leave_one_profile_out(per_point)

    def label(n: int) -> str:
        return ", ".join(f"{k}={getattr(points[n], k):g}" for k in grid)

    print(f"leave-one-profile-out delta nDCG@10 {held:+.3f} over {len(points)} points of "
          f"{', '.join(grid)} (chosen: {' | '.join(sorted({label(n) for n in chosen}))})")


def spread(deltas: dict[str, float]) -> str:
    """How far the mean delta is from noise: its standard error over the profiles, how many
    profiles gained or lost, and the mean without the profile that gained most (is the mean
    one profile's gain?)."""
    values = list(deltas.values())
    n, avg, se = len(values), mean(values), standard_error(values)
    top = max(deltas, key=lambda p: deltas[p])
    rest = mean([v for p, v in deltas.items() if p != top])
    return (f"delta {avg:+.3f} +/- {se:.3f} (standard error over {n} profiles); "
            f"better {sum(v > 0.0005 for v in values)}, worse {sum(v < -0.0005 for v in values)}; "
            f"without {top} (the largest gain) {rest:+.3f}")


def cold_start(world: World, tmp: Path, params: RankParams, embedder: Embedder | None,
               title: str) -> None:
    """Library-only profiles (liked papers from a .bib) against the profiles as given."""
    ids = day_ids(world)
    interests, how = library_only(world, tmp)
    rows: list[tuple[str, Callable[[], Run]]] = [
        ("profile as given", lambda: simulate(world, world.interests, params, embedder, False)),
        ("library-only", lambda: simulate(world, interests, params, embedder, False)),
        ("library-only + feedback", lambda: simulate(world, interests, params, embedder))]
    print(f"\n{titled(title, world)} cold start (liked ids parsed by {how}), nDCG@10 / P@10")
    print(f"{'':26s} {'all 4 days':>14s} {'days 3-4':>14s}")
    for name, make in rows:
        run = make()
        every, late = evaluate(run, world.scoring, ids, DAYS), evaluate(run, world.scoring, ids)
        print(f"{name:26s} {mean([v[0] for v in every.values()]):6.3f} / "
              f"{mean([v[1] for v in every.values()]):5.3f} "
              f"{mean([v[0] for v in late.values()]):6.3f} / {mean([v[1] for v in late.values()]):5.3f}")


def main() -> None:
    """Ingest, simulate the reader, print the tables."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--set", nargs="*", default=[], help="RankParams overrides, name=value")
    ap.add_argument("--grid", nargs="*", default=[],
                    help=f"feedback knobs to cross-validate, name=v1,v2,... (default {GRID})")
    ap.add_argument("--no-semantic", action="store_true", help="the lexical ranker only")
    ap.add_argument("--backend", default=SemanticConfig().backend,
                    help="semantic backend (default: the config's, %(default)s)")
    ap.add_argument("--no-lopo", action="store_true", help="skip the leave-one-profile-out grid")
    ap.add_argument("--no-own", action="store_true",
                    help="skip the table of our own profiles (held out from any tuning)")
    ap.add_argument("--workdir", type=Path, help="keep the database (and its cached embeddings) "
                    "here between runs instead of in a temporary folder")
    ap.add_argument("--extra-qrels", type=Path, metavar="FILE",
                    help="more judgments (qrels_dev.jsonl rows) merged into the dev set's for "
                    "scoring only, dev rows winning (default: none)")
    args = ap.parse_args()
    params = replace(RankParams(), **parse_overrides(args.set))  # type: ignore[arg-type]
    grid = parse_grid(args.grid) if args.grid else dict(GRID)
    modes: list[tuple[str, Embedder | None]] = [("lexical ranker", None)]
    if not args.no_semantic:
        semantic = load_embedder(args.backend, None)
        modes.append((f"lexical + {semantic.name}", semantic))
    with tempfile.TemporaryDirectory() as scratch:
        tmp = (args.workdir or Path(scratch)).resolve()  # the config names files under it
        tmp.mkdir(parents=True, exist_ok=True)
        world, own = load_world(args.shared, tmp)
        if args.extra_qrels:
            world = with_extra_qrels(world, args.extra_qrels)
        print("feedback knobs: " + ", ".join(f"{k}={getattr(params, k):g}" for k in (
            "w_feedback", "min_feedback", "feedback_half_life", "feedback_lambda",
            "feedback_liked", "feedback_negatives", "feedback_samples", "feedback_semantic",
            "w_feedback_more", "feedback_ramp")))
        for title, embedder in modes:
            report(title, world, params, embedder, grid, not args.no_lopo)
            if not args.no_own:
                report(title, own, params, embedder, grid, False)
        for title, embedder in modes:
            cold_start(world, tmp, params, embedder, title)


if __name__ == "__main__":
    main()
