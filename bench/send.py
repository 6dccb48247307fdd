"""Delivery benchmark: render and deliver N digests of 10 papers to an aiosmtpd sink.

Beside it, in the same run, the floors of this stack: a bare aiosmtplib loop sending one
pre-rendered message N times over one connection to the same sink (another process), and the
bare render of a fixed 10-paper digest (Jinja + CSS inlining) N times; compose is also shown
against that render floor, and the whole (compose + deliver) against the sum of the floors.
Compose and the render floor are also given in CPU seconds of this process, which a shared
machine disturbs far less than wall time.

    .venv/bin/python bench/send.py [--digests 10000] [--db postgresql+psycopg://...]

`--db` runs on that PostgreSQL database instead of a temporary SQLite file, and DROPS and
recreates its `public` schema first: give it a scratch database only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import aiosmtplib
import yaml
from sqlalchemy.engine import Engine

from digest.clock import utcnow
from digest.compose.digests import compose_due
from digest.compose.render import renderer_for
from digest.compose.views import DigestView, paper_view
from digest.config import load_config
from digest.deliver.outbox import deliver_queue
from digest.sources import jsonl
from digest.storage.db import open_database, reset_schema, session_scope
from digest.storage.models import Outbox, Paper
from digest.storage.papers import upsert_papers

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from smtp_sink import free_port, start_sink, stop_sink  # noqa: E402

ROOT = HERE.parent


async def bare_ceiling(port: int, message: bytes, count: int) -> float:
    """Seconds for a bare aiosmtplib loop: one connection, one message, `count` times."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    start = time.perf_counter()
    for _ in range(count):
        await client.sendmail("digest@bench.example", ["reader@bench.example"], message)
    took = time.perf_counter() - start
    await client.quit()
    return took


def render_floor(engine: Engine, count: int) -> float:
    """CPU seconds to render (Jinja + CSS inlining) a fixed 10-paper digest `count` times, one
    recipient each: what any compose must at least do."""
    from sqlmodel import select
    with session_scope(engine) as s:
        papers = list(s.exec(select(Paper).order_by(Paper.id).limit(13)).all())  # type: ignore[arg-type]
        views = [paper_view(p, "matches your topic “large language models”") for p in papers]
    base = DigestView(day=date(2026, 6, 12), recipient="", name="Reader", papers=views[:10],
                      trending=views[10:], manage_url="https://digest.bench.example/manage/t",
                      unsubscribe_url="https://digest.bench.example/unsubscribe/t",
                      interests="large language models, benchmark")
    renderer = renderer_for(None)
    start = time.process_time()
    for i in range(count):
        renderer.render(replace(base, recipient=f"reader{i}@bench.example"))
    return time.process_time() - start


def write_config(tmp: Path, port: int, count: int, db: str | None = None) -> Path:
    """N subscribers with real-looking interests, SMTP to the sink."""
    topics = ["large language models", "diffusion models for images", "reinforcement learning",
              "graph neural networks", "speech recognition", "robot manipulation"]
    subs = [{"email": f"reader{i}@bench.example", "topics": [topics[i % len(topics)]],
             "keywords": ["benchmark"], "max_papers": 10} for i in range(count)]
    doc = {"database": db or f"sqlite:///{tmp}/send.db", "subscribers": subs,
           "delivery": {"transport": "smtp", "from": "Paper Digest <digest@bench.example>",
                        "base_url": "https://digest.bench.example",
                        "smtp": {"host": "127.0.0.1", "port": port, "security": "none"}}}
    path = tmp / "send.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def main() -> None:
    """Compose, then deliver and compare with the bare ceiling."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--digests", type=int, default=10_000)
    ap.add_argument("--db", help="a scratch PostgreSQL URL (its public schema is dropped)")
    args = ap.parse_args()
    if args.db:
        reset_schema(args.db)
    port = free_port()
    sink = start_sink(port)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = load_config(write_config(tmp, port, args.digests, args.db))
        engine = open_database(config.database)
        papers = jsonl.parse((ROOT / "config/demo/2026-06-11.jsonl").read_bytes())
        papers += jsonl.parse((ROOT / "config/demo/2026-06-12.jsonl").read_bytes())
        with session_scope(engine) as s:
            upsert_papers(s, "bench", papers, utcnow() - timedelta(minutes=5))
        start, cpu = time.perf_counter(), time.process_time()
        composed = compose_due(engine, config, force=True)
        compose_s, compose_cpu = time.perf_counter() - start, time.process_time() - cpu
        queued = sum(1 for c in composed if c.status == "queued")
        with session_scope(engine) as s:
            sample = s.get(Outbox, 1)
            message = sample.message if sample and sample.message else b""
        start = time.perf_counter()
        report = asyncio.run(deliver_queue(engine, config))
        deliver_s = time.perf_counter() - start
        bare_s = asyncio.run(bare_ceiling(port, message, args.digests))
        render_s = render_floor(engine, args.digests)
    received = len(stop_sink(sink))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"db": "postgresql" if args.db else "sqlite",
                      "digests": args.digests, "queued": queued, "delivered": report.sent,
                      "sink_received": received, "message_bytes": len(message)}))
    print(f"compose (rank + render + queue): {compose_s:6.1f} s  {queued / compose_s:7.0f} digests/s"
          f"  (CPU {compose_cpu:.1f} s: {queued / compose_cpu:.0f} digests/CPU-s)")
    print(f"deliver queued digests:          {deliver_s:6.1f} s  {report.sent / deliver_s:7.0f} msg/s")
    print(f"bare aiosmtplib ceiling:         {bare_s:6.1f} s  {args.digests / bare_s:7.0f} msg/s")
    print(f"deliver / ceiling: {(report.sent / deliver_s) / (args.digests / bare_s):.0%}   "
          f"render+deliver / ceiling: "
          f"{(queued / (compose_s + deliver_s)) / (args.digests / bare_s):.0%}")
    print(f"bare render floor (Jinja + CSS): {render_s:6.1f} CPU-s "
          f"{args.digests / render_s:5.0f} digests/CPU-s")
    print(f"compose CPU / render floor CPU: {compose_cpu / render_s:.1f}   "
          f"(compose + deliver) / (render floor + bare loop): "
          f"{(compose_s + deliver_s) / (render_s + bare_s):.1f}")
    print(f"peak RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
