"""The whole daily cycle: from "today's papers are stored" to "every digest accepted by SMTP".

N subscribers (web sign-ups in the database, interests drawn from real corpus text: two topics,
two keyword phrases, three liked papers each), today's 2,000 papers of the real arXiv corpus
stored beside the earlier ones, an aiosmtpd sink in another process. Each run (a fresh
process, so its peak RSS is its own) composes every due digest (rank + render + queue) and
delivers the queue, then measures in the same process the bare floors of this stack: the
render of a fixed 10-paper digest per subscriber (Jinja + CSS inlining) and a bare aiosmtplib
loop sending one message per subscriber over one connection. The cycle is the daemon's own
(`digest.daemon.cycle.compose_and_deliver`: delivery runs while compose queues, compose in
child processes from a few thousand subscribers on). Prints min / median / max over the runs,
and total / floors. Peak RSS is the most the run's processes held at once: this process and
its compose workers (their resident sets summed, sampled every 0.1 s; the SMTP sink, the
mail server's side, is not counted), beside this process's own peak. The database is set
up (corpus parsed and stored, subscribers, embeddings) in a child process, so none of that
is in the cycle's memory.

    .venv/bin/python bench/cycle.py [--subscribers 10000] [--runs 3] [--db postgresql+psycopg://...]
        [--processes N]   (compose workers; 0: compose in the cycle's process; default: the daemon's)

`--db` runs on that PostgreSQL database and DROPS and recreates its `public` schema before each
run: give it a scratch database only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert
from sqlmodel import select

from digest.clock import utcnow
from digest.config import load_config
from digest.daemon.cycle import compose_and_deliver
from digest.rank import Interest
from digest.rank.stored import semantic_embedder, semantic_inputs
from digest.sources import jsonl
from digest.storage.db import open_database, reset_schema, session_scope
from digest.storage.models import Origin, Outbox, Paper, Subscriber, SubscriberStatus
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


def write_config(tmp: Path, port: int, db: str | None, connections: int | None,
                 lexical: bool = False) -> Path:
    """SMTP to the sink; the subscribers are in the database (web sign-ups)."""
    smtp: dict[str, Any] = {"host": "127.0.0.1", "port": port, "security": "none"}
    if connections:
        smtp["connections"] = connections
    doc: dict[str, Any] = {
        "database": db or f"sqlite:///{tmp}/cycle.db",
        "delivery": {"transport": "smtp", "from": "Paper Digest <digest@bench.example>",
                     "base_url": "https://digest.bench.example", "smtp": smtp}}
    if lexical:
        doc["ranking"] = {"semantic": {"enabled": False}}
    path = tmp / "cycle.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


class TreeRss:
    """Samples, every `every` seconds, the summed resident set of this process and its
    descendants (but `skip`'s), and keeps the highest."""

    def __init__(self, skip: int, every: float = 0.1) -> None:
        self.skip, self.every, self.peak_kib = skip, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(p) for p in self._tree()))

    def _tree(self) -> list[int]:
        parents: dict[int, list[int]] = {}
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(status.parent.name))
        out, todo = [], [os.getpid()]
        while todo:
            pid = todo.pop()
            if pid != self.skip:
                out.append(pid)
                todo += parents.get(pid, [])
        return out

    def stop(self) -> float:
        """Stop sampling; the peak in MiB."""
        self._stop.set()
        self._thread.join()
        return self.peak_kib / 1024


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def set_up(config: Any, subscribers: int, papers: int) -> None:
    """Store the corpus and the subscribers and, with the semantic ranker on, the stored papers'
    embeddings (computed when papers are stored, not in the cycle) and the subscribers'
    topics', in another process: the parsed corpus and the model are not the cycle's memory."""
    child = multiprocessing.get_context("spawn").Process(target=_set_up,
                                                         args=(config, subscribers, papers))
    child.start()
    child.join()
    if child.exitcode:
        sys.exit(f"setting up the database failed (exit code {child.exitcode})")


def _set_up(config: Any, subscribers: int, papers: int) -> None:
    engine = open_database(config.database)
    add_subscribers(engine, subscribers, store_papers(engine, papers))
    engine.dispose()
    if semantic_embedder(config) is not None:
        _embed(config)


def _embed(config: Any) -> None:
    embedder = semantic_embedder(config)
    assert embedder is not None
    engine = open_database(config.database)
    with session_scope(engine) as s:
        papers = list(s.exec(select(Paper)).all())
        semantic_inputs(s, embedder, papers, [Interest("setup", topics=tuple(TOPICS))])
    engine.dispose()


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up, run the cycle, measure the floors; all in this process."""
    if args.db:
        reset_schema(args.db)
    port = free_port()
    sink = start_sink(port)
    try:
        return _measure(args, port, sink)
    finally:
        if sink.poll() is None:
            sink.kill()


def _measure(args: argparse.Namespace, port: int, sink: Any) -> dict[str, Any]:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = load_config(write_config(tmp, port, args.db, args.connections, args.lexical))
        set_up(config, args.subscribers, args.papers)
        engine = open_database(config.database)
        rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tree = TreeRss(skip=sink.pid)
        start = time.perf_counter()
        cycle = asyncio.run(compose_and_deliver(engine, config, force=True,
                                                processes=args.processes))
        total_s = time.perf_counter() - start
        compose_s, composed, report = cycle.compose_seconds, cycle.composed, cycle.delivery
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rss_tree = tree.stop()
        with session_scope(engine) as s:
            sample = s.get(Outbox, 1)
            message = sample.message if sample and sample.message else b""
        render_s = bare_s = math.nan
        if not args.no_floors:
            wall = time.perf_counter()
            render_floor(engine, args.subscribers)
            render_s = time.perf_counter() - wall
            bare_s = asyncio.run(bare_ceiling(port, message, args.subscribers))
        engine.dispose()
    received = len(stop_sink(sink)) - (0 if args.no_floors else args.subscribers)  # the cycle's
    return {"compose_s": compose_s, "deliver_tail_s": total_s - compose_s, "total_s": total_s,
            "render_floor_s": render_s, "bare_loop_s": bare_s,
            "ratio": total_s / (render_s + bare_s), "peak_rss_mib": rss_tree,
            "own_peak_rss_mib": rss,
            "rss_after_setup_mib": rss_setup, "queued": sum(c.status == "queued" for c in composed),
            "sent": report.sent, "sink_received": received, "message_bytes": len(message),
            "load_before": load, "load_after": os.getloadavg()[0]}


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
    ap.add_argument("--lexical", action="store_true", help="the semantic ranker off")
    ap.add_argument("--no-floors", action="store_true",
                    help="skip the floors (at 100,000 subscribers they take ~10 minutes)")
    ap.add_argument("--processes", type=int, default=None,
                    help="compose worker processes (0: none; default: the daemon's choice)")
    ap.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_run:
        print(json.dumps(one_run(args)))
        return
    runs = []
    for n in range(args.runs):
        cmd = [sys.executable, __file__, "--one-run", "--subscribers", str(args.subscribers),
               "--papers", str(args.papers)] + (["--db", args.db] if args.db else []) \
            + (["--connections", str(args.connections)] if args.connections else []) \
            + (["--processes", str(args.processes)] if args.processes is not None else []) \
            + (["--lexical"] if args.lexical else []) \
            + (["--no-floors"] if args.no_floors else [])
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"run {n + 1} failed:\n{done.stderr}")
        out = done.stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        print(f"run {n + 1}: {json.dumps({k: round(v, 2) for k, v in runs[-1].items()})}",
              flush=True)
    col = {k: [r[k] for r in runs] for k in runs[0]}
    n = args.subscribers
    print(f"\n{n:,} subscribers, {args.papers:,} papers, "
          f"{'PostgreSQL' if args.db else 'SQLite'}, "
          f"{'lexical ranker' if args.lexical else 'the default ranker'}, compose workers: "
          f"{'auto' if args.processes is None else args.processes}, "
          f"{args.runs} runs (min / median / max)")
    print(f"compose (rank + render + queue): {spread(col['compose_s'], '.1f')} s "
          "(delivering meanwhile)")
    print(f"delivery after compose ended:    {spread(col['deliver_tail_s'], '.1f')} s")
    print(f"full cycle:                      {spread(col['total_s'], '.1f')} s")
    print(f"floor: render 10 papers x N:     {spread(col['render_floor_s'], '.1f')} s")
    print(f"floor: bare aiosmtplib loop:     {spread(col['bare_loop_s'], '.1f')} s")
    print(f"total / floors:                  {spread(col['ratio'], '.2f')}")
    print(f"peak RSS, cycle + compose workers: {spread(col['peak_rss_mib'], '.0f')} MiB "
          f"(the cycle's process alone: {spread(col['own_peak_rss_mib'], '.0f')} MiB; "
          f"after setup: {spread(col['rss_after_setup_mib'], '.0f')} MiB)")
    print("load average (1 min) before / after each run: "
          + ", ".join(f"{r['load_before']:.1f} / {r['load_after']:.1f}" for r in runs))
    print(f"every digest accepted: {all(r['sink_received'] == r['sent'] == n for r in runs)}")


if __name__ == "__main__":
    main()
