"""Embedding runtimes side by side on real abstracts: the shipped int8 MiniLM on ONNX Runtime
(the default), the same graph in float32 (`--float FILE`, an export before quantisation), and
sentence-transformers on CPU torch (the `semantic` extra), when installed.

Prints, per runtime: milliseconds per paper (median of 3 passes over the same texts, after a
warm-up), the cosine to torch's vectors (min and mean), and the process's peak RSS after it.

    .venv/bin/python bench/embed.py [--papers 256] [--float /tmp/minilm-float.onnx]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from digest.rank.minilm import MODEL_DIR, OnnxMiniLM, load_runtime
from digest.rank.semantic import load_embedder, packaged_minilm, paper_text

ROOT = Path(__file__).parents[1]
CORPUS = ROOT.parent / "shared/fixtures/corpus/arxiv_daily_dw-dengwei"


def abstracts(count: int) -> list[str]:
    """The first `count` corpus papers with an abstract, as the ranker embeds them."""
    texts = []
    for day in sorted(CORPUS.glob("*.jsonl")):
        for line in day.read_text().splitlines():
            row = json.loads(line)
            abstract = row.get("abstract") or row.get("summary") or ""
            if abstract:
                texts.append(paper_text(row["title"], abstract))
            if len(texts) == count:
                return texts
    return texts


def timed(encode: Callable[[Sequence[str]], np.ndarray], texts: list[str]
          ) -> tuple[float, np.ndarray]:
    """Median seconds of three passes (after a warm-up on a few texts), and the vectors."""
    encode(texts[:4])
    times, vectors = [], np.zeros(0)
    for _ in range(3):
        start = time.perf_counter()
        vectors = encode(texts)
        times.append(time.perf_counter() - start)
    return statistics.median(times), vectors


def unmemoised(embedder: OnnxMiniLM) -> Callable[[Sequence[str]], np.ndarray]:
    """The embedder's forward pass without its per-process memo (each pass really encodes)."""
    return embedder._encode


def main() -> None:
    """Time each available runtime on the same texts."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=256)
    ap.add_argument("--float", type=Path, help="a float32 export of the same graph")
    args = ap.parse_args()
    texts = abstracts(args.papers)
    runtimes: dict[str, Callable[[Sequence[str]], np.ndarray]] = {}
    shipped = load_embedder("onnx", None)
    assert isinstance(shipped, OnnxMiniLM)
    runtimes[f"onnx int8 (shipped, {MODEL_DIR.name})"] = unmemoised(shipped)
    if args.float:
        folder = args.float.parent / "float-model"
        folder.mkdir(exist_ok=True)
        for name, source in (("model.onnx", args.float), ("tokenizer.json",
                                                          MODEL_DIR / "tokenizer.json")):
            (folder / name).write_bytes(source.read_bytes())
        runtimes["onnx float32"] = unmemoised(replace(shipped, folder=folder))
    if importlib.util.find_spec("sentence_transformers") and packaged_minilm():
        runtimes["sentence-transformers, torch CPU"] = load_embedder("sentence-transformers", None).encode
    print(f"{len(texts)} abstracts, mean {np.mean([len(t) for t in texts]):.0f} characters; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    results = {}
    for name, encode in runtimes.items():
        seconds, vectors = timed(encode, texts)
        results[name] = vectors
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name:38s} {1000 * seconds / len(texts):6.1f} ms/paper   peak RSS so far {rss:5.0f} MiB")
    reference = results.get("sentence-transformers, torch CPU")
    if reference is not None:
        for name, vectors in results.items():
            cosine = (vectors * reference).sum(axis=1)
            print(f"cosine to torch: {name:38s} min {cosine.min():.4f} mean {cosine.mean():.4f}")
    load_runtime.cache_clear()


if __name__ == "__main__":
    main()
