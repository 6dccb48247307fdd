"""The whole daily cycle: from "today's papers are stored" to "every digest accepted by SMTP".

N subscribers (web sign-ups in the database, interests drawn from real corpus text: two topics,
two keyword phrases, three liked papers each), today's 2,000 papers of the real arXiv corpus
stored beside the earlier ones, an aiosmtpd sink in another process. Each run (a fresh
process, so its peak RSS is its own) composes every due digest (rank + render + queue) and
delivers the queue, then measures in the same process the bare floors of this stack: the
render of a fixed 10-paper digest per subscriber (Jinja + CSS inlining) and a bare aiosmtplib
loop sending one message per subscriber over one connection. The cycle is the daemon's own
(`digest.daemon.cycle.compose_and_deliver`: delivery runs while compose queues). Prints
min / median / max over
the runs, and total / floors.

    .venv/bin/python bench/cycle.py [--subscribers 10000] [--runs 3] [--db postgresql+psycopg://...]

`--db` runs on that PostgreSQL database and DROPS and recreates its `public` schema before each
run: give it a scratch database only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert

from digest.clock import utcnow
from digest.config import load_config
from digest.daemon.cycle import compose_and_deliver
from digest.sources import jsonl
from digest.storage.db import open_database, reset_schema, session_scope
from digest.storage.models import Origin, Outbox, Subscriber, SubscriberStatus
from digest.storage.papers import upsert_papers

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from send import bare_ceiling, render_floor  # noqa: E402
from smtp_sink import free_port, start_sink, stop_sink  # noqa: E402

CORPUS = HERE.parents[1] / "shared/fixtures/corpus/arxiv_daily_dw-dengwei"
FALLBACK = HERE.parent / "config/demo"  # the bundled days, when the shared corpus is not here
TOPICS = ["large language models", "diffusion models for image generation",
          "reinforcement learning from human feedback", "graph neural networks",
          "speech recognition", "robot manipulation", "retrieval-augmented generation",
          "federated learning privacy", "vision-language models", "time series forecasting",
          "medical image segmentation", "autonomous driving perception",
          "quantum machine learning", "causal inference", "code generation with LLMs",
          "3D reconstruction from images", "multi-agent systems", "adversarial robustness"]


def corpus_files() -> list[Path]:
    """The real daily corpus, oldest first."""
    files = sorted(CORPUS.glob("*.jsonl")) if CORPUS.is_dir() else []
    return files or sorted(FALLBACK.glob("*.jsonl"))


def store_papers(engine: Any, papers: int) -> list[tuple[str, str]]:
    """Store the corpus: the newest `papers` as today's, the rest as earlier days'. Returns
    (id, abstract) of the earlier papers, which subscribers like."""
    records = [r for f in corpus_files() for r in jsonl.parse(f.read_bytes())]
    distinct = list({r.canonical_id: r for r in records}.values())
    today, history = distinct[-papers:], distinct[:-papers]
    now = utcnow()
    with session_scope(engine) as s:
        upsert_papers(s, "bench", history, now - timedelta(days=30))
    with session_scope(engine) as s:
        upsert_papers(s, "bench", today, now - timedelta(minutes=5))
    return [(r.canonical_id, r.abstract) for r in history]


def add_subscribers(engine: Any, count: int, liked_pool: list[tuple[str, str]]) -> None:
    """`count` confirmed web subscribers with real-looking interests, inserted in bulk."""
    rng = random.Random(7)
    now = utcnow()
    rows = []
    for i in range(count):
        liked = rng.sample(liked_pool, 3) if len(liked_pool) >= 3 else []
        words = re.findall(r"[A-Za-z][A-Za-z\-]{3,}", liked[0][1]) if liked else ["benchmark"]
        start = rng.randrange(max(len(words) - 1, 1))
        rows.append({"email": f"reader{i}@bench.example", "origin": Origin.WEB,
                     "status": SubscriberStatus.ACTIVE, "token_nonce": f"{i:016x}",
                     "timezone": "UTC", "cadence": "daily", "weekly_day": "mon",
                     "send_at": "07:00", "created_at": now, "updated_at": now,
                     "interests": {"topics": rng.sample(TOPICS, 2),
                                   "keywords": [" ".join(words[start:start + 2]), "benchmark"],
                                   "liked": [pid for pid, _ in liked], "max_papers": 10}})
    with engine.begin() as conn:
        for first in range(0, len(rows), 5000):
            conn.execute(insert(Subscriber.__table__), rows[first:first + 5000])  # type: ignore[attr-defined]


def write_config(tmp: Path, port: int, db: str | None, connections: int | None) -> Path:
    """SMTP to the sink; the subscribers are in the database (web sign-ups)."""
    smtp: dict[str, Any] = {"host": "127.0.0.1", "port": port, "security": "none"}
    if connections:
        smtp["connections"] = connections
    doc = {"database": db or f"sqlite:///{tmp}/cycle.db",
           "delivery": {"transport": "smtp", "from": "Paper Digest <digest@bench.example>",
                        "base_url": "https://digest.bench.example", "smtp": smtp}}
    path = tmp / "cycle.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up, run the cycle, measure the floors; all in this process."""
    if args.db:
        reset_schema(args.db)
    port = free_port()
    sink = start_sink(port)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = load_config(write_config(tmp, port, args.db, args.connections))
        engine = open_database(config.database)
        liked_pool = store_papers(engine, args.papers)
        add_subscribers(engine, args.subscribers, liked_pool)
        rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        cycle = asyncio.run(compose_and_deliver(engine, config, force=True))
        total_s = time.perf_counter() - start
        compose_s, composed, report = cycle.compose_seconds, cycle.composed, cycle.delivery
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with session_scope(engine) as s:
            sample = s.get(Outbox, 1)
            message = sample.message if sample and sample.message else b""
        wall = time.perf_counter()
        render_floor(engine, args.subscribers)
        render_s = time.perf_counter() - wall
        bare_s = asyncio.run(bare_ceiling(port, message, args.subscribers))
        engine.dispose()
    received = len(stop_sink(sink))
    return {"compose_s": compose_s, "deliver_tail_s": total_s - compose_s, "total_s": total_s,
            "render_floor_s": render_s, "bare_loop_s": bare_s,
            "ratio": total_s / (render_s + bare_s), "peak_rss_mib": rss,
            "rss_after_setup_mib": rss_setup, "queued": sum(c.status == "queued" for c in composed),
            "sent": report.sent, "sink_received": received - args.subscribers, "message_bytes": len(message)}


def spread(values: list[float], fmt: str) -> str:
    """min / median / max."""
    return " / ".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    """Run the cycle `--runs` times, each in a fresh process, and print the spread."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--papers", type=int, default=2_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=None,
                    help="SMTP connections per replica (default: the config's default)")
    ap.add_argument("--db", help="a scratch PostgreSQL URL (its public schema is dropped)")
    ap.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_run:
        print(json.dumps(one_run(args)))
        return
    runs = []
    for n in range(args.runs):
        cmd = [sys.executable, __file__, "--one-run", "--subscribers", str(args.subscribers),
               "--papers", str(args.papers)] + (["--db", args.db] if args.db else []) \
            + (["--connections", str(args.connections)] if args.connections else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        print(f"run {n + 1}: {json.dumps({k: round(v, 2) for k, v in runs[-1].items()})}",
              flush=True)
    col = {k: [r[k] for r in runs] for k in runs[0]}
    n = args.subscribers
    print(f"\n{n:,} subscribers, {args.papers:,} papers, "
          f"{'PostgreSQL' if args.db else 'SQLite'}, {args.runs} runs (min / median / max)")
    print(f"compose (rank + render + queue): {spread(col['compose_s'], '.1f')} s "
          "(delivering meanwhile)")
    print(f"delivery after compose ended:    {spread(col['deliver_tail_s'], '.1f')} s")
    print(f"full cycle:                      {spread(col['total_s'], '.1f')} s")
    print(f"floor: render 10 papers x N:     {spread(col['render_floor_s'], '.1f')} s")
    print(f"floor: bare aiosmtplib loop:     {spread(col['bare_loop_s'], '.1f')} s")
    print(f"total / floors:                  {spread(col['ratio'], '.2f')}")
    print(f"peak RSS:                        {spread(col['peak_rss_mib'], '.0f')} MiB "
          f"(after setup: {spread(col['rss_after_setup_mib'], '.0f')} MiB)")
    print(f"every digest accepted: {all(r['sink_received'] == r['sent'] == n for r in runs)}")


if __name__ == "__main__":
    main()
