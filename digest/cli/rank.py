"""`digest rank` (rank stored papers for one subscriber; sends nothing) and `digest semantic`."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from digest.cli.common import Subparsers, add_command, open_config
from digest.compose.select import rank_window
from digest.config import load_config
from digest.ingest.poll import store_missing_liked
from digest.rank import Pick
from digest.sources.jsonl import SOURCE_ID
from digest.storage.models import Paper


def add_parsers(sub: Subparsers) -> None:
    """Register rank and semantic distill."""
    p = add_command(sub, "rank", "rank stored papers for one subscriber (sends nothing)", cmd_rank)
    p.add_argument("--subscriber", required=True, metavar="EMAIL",
                   help="the subscriber's email address")
    p.add_argument("--since", type=date.fromisoformat, metavar="DATE",
                   help="first published date (YYYY-MM-DD); default: the papers first seen "
                        "since the subscriber's last digest, or in the last 24 hours")
    p.add_argument("--until", type=date.fromisoformat, metavar="DATE",
                   help="last published date (YYYY-MM-DD)")
    p.add_argument("--top", type=int, metavar="N",
                   help="how many papers (default: the subscriber's max_papers)")
    p.add_argument("--json", action="store_true", help='print [{"id", "score", "reasons"[, "source_id"]}]')
    semantic = add_command(sub, "semantic", "set up the optional semantic ranker", None,
                           config=False)
    actions = semantic.add_subparsers(dest="action", required=True)
    distill = add_command(actions, "distill", "distil the static (model2vec) model once, "
                                              "from the installed all-MiniLM-L6-v2", cmd_distill)
    distill.add_argument("--source", metavar="MODEL",
                         help="sentence-transformers model (default: packaged MiniLM)")


def cmd_distill(args: argparse.Namespace) -> int:
    """Write the model2vec model where `ranking.semantic.model` points."""
    from digest.rank.semantic import distill_static

    config = load_config(args.config)
    target = Path(config.ranking.semantic.model or "models/minilm-m2v")
    print(f"distilled model written to {distill_static(args.source, target)}")
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    """Fetch the subscriber's missing liked papers, rank the window, print."""
    config, engine = open_config(args)
    asyncio.run(store_missing_liked(config, engine, emails=[args.subscriber]))
    ranked = rank_window(engine, config, args.subscriber, args.since, args.until)
    picks = ranked.picks[: args.top or None]
    if args.json:
        print(json.dumps([with_source_id(p.as_json(), ranked.papers[p.id]) for p in picks],
                         indent=2, ensure_ascii=False))
    else:
        print_picks(picks, ranked.papers)
    return 0


def with_source_id(pick: dict[str, Any], paper: Paper) -> dict[str, Any]:
    """A pick's JSON plus `source_id`, the id a `jsonl` file gave the paper when the stored
    key is another (a DOI or a content hash)."""
    source_id = paper.signals.get(SOURCE_ID)
    return {**pick, SOURCE_ID: source_id} if isinstance(source_id, str) else pick


def print_picks(picks: list[Pick], papers: dict[str, Paper]) -> None:
    """Human table: rank, score, id, title, why."""
    table = Table(title=f"{len(picks)} picked of {len(papers)} candidate papers")
    for column in ("#", "score", "id", "title", "why"):
        table.add_column(column, overflow="fold")
    for n, pick in enumerate(picks, 1):
        why = "; ".join(f"{r.kind}: {r.label}" + (f" ({', '.join(r.terms)})" if r.terms else "")
                        for r in pick.reasons)
        shown = with_source_id({}, papers[pick.id]).get(SOURCE_ID, pick.id)
        table.add_row(str(n), f"{pick.score:.3f}", shown, papers[pick.id].title[:100], why)
    Console(width=160).print(table)
