"""Warm `digest rank` wall time on the dev corpus, lexical and semantic, beside the floor.

The real arXiv corpus (about 7,200 papers; the newest 300 as the window) is stored once per
mode; one dev profile subscribes. The first call of each mode fits the corpus statistics and
(semantic) encodes the papers; the warm calls after it are what a user waits for. The floor,
in the same run, is a bare `python -c "import digest.cli"` (interpreter + imports).

    .venv/bin/python bench/rank_cli.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from cycle import store_papers  # noqa: E402

from digest.storage.db import open_database  # noqa: E402

PROFILES = HERE.parents[1] / "shared/eval/profiles_dev.yaml"
DIGEST = str(Path(sys.executable).with_name("digest"))


def timed(cmd: list[str]) -> float:
    """Wall seconds of one command (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def subscriber() -> dict[str, object]:
    """The first dev profile, as a config subscriber."""
    doc = yaml.safe_load(PROFILES.read_text())
    first = (doc["profiles"] if isinstance(doc, dict) else doc)[0]
    return {"email": "dev@bench.example",
            **{k: first[k] for k in ("topics", "keywords", "liked") if k in first}}


def main() -> None:
    """Set up both modes, then time cold and warm calls and the floor."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    floor = [timed([sys.executable, "-c", "import digest.cli"]) for _ in range(args.runs)]
    print(f"floor (python -c 'import digest.cli'): median {statistics.median(floor):.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("lexical", "semantic"):
            doc: dict[str, object] = {"database": f"sqlite:///{tmp}/{mode}.db",
                                      "subscribers": [subscriber()]}
            if mode == "lexical":  # semantic: the default (the shipped MiniLM on ONNX Runtime)
                doc["ranking"] = {"semantic": {"enabled": False}}
            config = Path(tmp) / f"{mode}.yaml"
            config.write_text(yaml.safe_dump(doc))
            store_papers(open_database(str(doc["database"])), 300)
            cmd = [DIGEST, "rank", "-c", str(config), "--subscriber", "dev@bench.example"]
            cold = timed(cmd)
            warm = [timed(cmd) for _ in range(args.runs)]
            print(f"digest rank, {mode:8}: cold {cold:5.1f} s   warm min / median / max "
                  f"{min(warm):.2f} / {statistics.median(warm):.2f} / {max(warm):.2f} s")


if __name__ == "__main__":
    main()
