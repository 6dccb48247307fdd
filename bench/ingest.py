"""Ingest benchmark: a full-size rss.arxiv.org feed built from the real corpus, and the
scholarly API parsers on their real captures.

Prints parse and store throughput (items/s), peak RSS, and the time of a bare
`feedparser.parse` of the same bytes, so our own overhead is visible; then items/s for each
bioRxiv / medRxiv / Europe PMC / OpenAlex / Semantic Scholar parser (each capture's items
repeated to `--items`), and the store rate of bioRxiv postings joining that database
(new papers: every DOI is also looked up among stored rows and their DOI relations).

    .venv/bin/python bench/ingest.py [--corpus bench/data/2025-06-03.jsonl] [--db URL] [--items N]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser

from digest.sources import TYPES, arxiv_rss, openalex
from digest.sources.records import PaperRecord
from digest.storage.db import open_database, session_scope
from digest.storage.papers import upsert_papers
from digest.text import tex_to_unicode

HERE = Path(__file__).parent
CAPTURES = HERE.parent / "tests" / "data" / "other"
SCHOLARLY = {  # parser -> (capture, the JSON path of its item list)
    "biorxiv": ("biorxiv_api_details_2026-08-01_to_08-05.json", ("collection",)),
    "medrxiv": ("medrxiv_api_details_2026-08-01_to_08-05.json", ("collection",)),
    "europepmc": ("europepmc_rest_search_2026-08.json", ("resultList", "result")),
    "openalex": ("openalex_works_search_2026-08.json", ("results",)),
    "semantic_scholar": ("semantic_scholar_paper_search_transformer_2026-06.json", ("data",)),
}


def build_feed(records: list[dict[str, Any]]) -> bytes:
    """An RSS 2.0 document in the current rss.arxiv.org format, one item per record."""
    day = format_datetime(datetime(2025, 6, 3, 4, 0, tzinfo=UTC))
    items = []
    for n, rec in enumerate(records):
        arxiv_id = rec["url"].rsplit("/", 1)[-1]
        kind = "new" if arxiv_id.startswith("2506") else ("replace" if n % 2 else "replace-cross")
        version = 1 if kind == "new" else 2
        description = f"arXiv:{arxiv_id}v{version} Announce Type: {kind} \nAbstract: {rec['abstract']}"
        items.append(f"""    <item>
      <title>{escape(rec["title"])}</title>
      <link>https://arxiv.org/abs/{arxiv_id}</link>
      <description>{escape(description)}</description>
      <guid isPermaLink="false">oai:arXiv.org:{arxiv_id}v{version}</guid>
      <category>cs.LG</category>
      <category>cs.AI</category>
      <pubDate>{day}</pubDate>
      <arxiv:announce_type>{kind}</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>{escape(", ".join(rec["authors"]))}</dc:creator>
    </item>""")
    head = f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" \
xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" \
version="2.0">
  <channel>
    <title>cs updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/cs</link>
    <description>cs updates on the arXiv.org e-print archive.</description>
    <language>en-us</language>
    <lastBuildDate>{day}</lastBuildDate>
    <pubDate>{day}</pubDate>
"""
    return (head + "\n".join(items) + "\n  </channel>\n</rss>\n").encode()


def scaled_capture(name: str, items: int) -> bytes:
    """The capture of parser `name` with its items repeated until there are `items` of them."""
    capture, path = SCHOLARLY[name]
    doc = json.loads((CAPTURES / capture).read_text())
    holder = doc
    for key in path[:-1]:
        holder = holder[key]
    real = holder[path[-1]]
    if name == "openalex":  # the source asks for these fields only (select=)
        real = [{k: v for k, v in w.items() if k in openalex.SELECT.split(",")} for w in real]
    holder[path[-1]] = [real[n % len(real)] for n in range(items)]
    return json.dumps(doc).encode()


def unique_postings(count: int) -> list[PaperRecord]:
    """`count` bioRxiv records from the capture, each under its own DOI."""
    records = TYPES["biorxiv"].parse(scaled_capture("biorxiv", count))
    for n, rec in enumerate(records):
        rec.doi = f"{rec.doi}.{n}"
        rec.canonical_id = f"doi:{rec.doi}"
    return records


def bench_scholarly(items: int, runs: int) -> None:
    """Items/s of each scholarly API parser on its capture scaled to `items` items."""
    for name in SCHOLARLY:
        body = scaled_capture(name, items)
        took, papers = best_of(runs, partial(TYPES[name].parse, body))
        print(f"parse {name + ':':18}{took * 1000:7.0f} ms  {items / took:9.0f} items/s"
              f"  ({len(papers)} papers kept of {items}, {len(body) / 1e6:.1f} MB)")


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest wall time of `runs` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Build the feed, time parse / store / bare feedparser, print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(HERE / "data" / "2025-06-03.jsonl"))
    ap.add_argument("--db", default=None, help="database URL (default: a temp SQLite file)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--items", type=int, default=2000, help="items per scholarly capture")
    args = ap.parse_args()
    records = [json.loads(line) for line in Path(args.corpus).read_text().splitlines() if line]
    feed = build_feed(records)
    print(f"feed: {len(records)} items, {len(feed) / 1e6:.1f} MB (rss.arxiv.org format)")
    print(f"peak RSS before parsing: {peak_rss_mb():.0f} MiB")

    def cold_parse() -> list[Any]:
        tex_to_unicode.cache_clear()  # no help from earlier runs' author-name cache
        return arxiv_rss.parse(feed)

    parse_s, papers = best_of(args.runs, cold_parse)
    tracemalloc.start()
    arxiv_rss.parse(feed)
    parse_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"parse (ours):       {parse_s * 1000:7.0f} ms  {len(papers) / parse_s:9.0f} items/s"
          f"  (python heap peak {parse_peak:.0f} MiB)")
    fp_s, parsed = best_of(1, lambda: feedparser.parse(feed))
    print(f"feedparser.parse:   {fp_s * 1000:7.0f} ms  {len(parsed.entries) / fp_s:9.0f} items/s"
          f"  (bare, for comparison)")

    with tempfile.TemporaryDirectory() as tmp:
        engine = open_database(args.db or f"sqlite:///{tmp}/bench.db")
        for label in ("store (all new)", "store (all known)"):
            start = time.perf_counter()
            with session_scope(engine) as session:
                result = upsert_papers(session, "bench", papers)
            took = time.perf_counter() - start
            print(f"{label + ':':20}{took * 1000:7.0f} ms  {len(papers) / took:9.0f} items/s"
                  f"  (new {len(result.new)}, updated {len(result.updated)})")
        bench_scholarly(args.items, args.runs)
        postings = unique_postings(args.items)
        start = time.perf_counter()
        with session_scope(engine) as session:
            result = upsert_papers(session, "bench-biorxiv", postings)
        took = time.perf_counter() - start
        print(f"{'store (bioRxiv, new):':20}{took * 1000:7.0f} ms  {len(postings) / took:9.0f} "
              f"items/s  (new {len(result.new)}, beside {len(papers)} stored arXiv papers)")
        engine.dispose()
    print(f"peak RSS overall: {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
