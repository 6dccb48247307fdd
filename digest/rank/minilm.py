"""The shipped all-MiniLM-L6-v2 on ONNX Runtime: the default semantic ranker, with no torch.

The package carries the model as one ONNX graph (BERT, mean pooling, normalisation: what
sentence-transformers computes; matrices int8 per output channel, 23 MB) and its tokenizer;
`scripts/export_minilm.py` writes them. Measured choice (`bench/embed.py`, `bench/rank_quality.py`):
dev nDCG@10 0.831 (sentence-transformers on torch: 0.834), about three times as fast, and
+145 MB installed instead of torch's ~1.1 GB more.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from digest.errors import SemanticUnavailableError
from digest.text import one_line

log = logging.getLogger(__name__)
MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "minilm-l6"
MAX_TOKENS = 256       # the model's max_seq_length: sentence-transformers truncates there too
DIM = 384
REINSTALL = "reinstall paper-digest, or run scripts/export_minilm.py"
MEMO_TEXTS = 20_000    # recently encoded texts kept per process (1.5 KB each)
_MEMO: OrderedDict[bytes, np.ndarray] = OrderedDict()
_MEMO_LOCK = threading.Lock()


@dataclass
class _Runtime:
    session: Any
    tokenizer: Any


def cpu_count() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _import_runtime() -> tuple[Any, Any]:
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except Exception as exc:  # missing, or installed but broken (a library it needs, ...)
        raise SemanticUnavailableError(
            f"cannot import onnxruntime and tokenizers: {one_line(str(exc), 200)}",
            "reinstall paper-digest (it depends on both), or set ranking.semantic.enabled: "
            "false") from exc
    return onnxruntime, Tokenizer


@lru_cache(maxsize=4)
def load_runtime(folder: Path = MODEL_DIR, max_tokens: int = MAX_TOKENS) -> _Runtime:
    """The ONNX session and tokenizer of the model in `folder` (once per process), checked:
    the graph takes input_ids and attention_mask and gives unit vectors of 384 numbers."""
    ort, tokenizer_class = _import_runtime()
    if not (folder / "model.onnx").is_file():
        raise SemanticUnavailableError(f"no model at {folder}", REINSTALL)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1  # one text per run, runs side by side (OnnxMiniLM)
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(folder / "model.onnx"), options,
                                       providers=["CPUExecutionProvider"])
        tokenizer = tokenizer_class.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_tokens)  # set once: the tokenizer is shared by threads
        runtime = _Runtime(session, tokenizer)
        _check(runtime)
    except Exception as exc:  # a damaged or foreign file: say which, rank lexical-only
        raise SemanticUnavailableError(
            f"cannot load the model in {folder}: {one_line(str(exc), 200)}", REINSTALL) from exc
    return runtime


def _check(runtime: _Runtime) -> None:
    """Raise ValueError unless the graph is a sentence encoder of the expected shape."""
    inputs = sorted(i.name for i in runtime.session.get_inputs())
    if inputs != ["attention_mask", "input_ids"]:
        raise ValueError(f"the graph takes {inputs}, not input_ids and attention_mask")
    probe = _run(runtime, runtime.tokenizer.encode("a probe sentence").ids)
    if probe.shape != (DIM,) or abs(float(np.linalg.norm(probe)) - 1.0) > 1e-3:
        raise ValueError(f"the graph gives {probe.shape} vectors, not unit vectors of {DIM}")


def _run(runtime: _Runtime, ids: list[int]) -> np.ndarray:
    """One text's vector."""
    batch = np.asarray([ids], dtype=np.int64)
    feeds = {"input_ids": batch, "attention_mask": np.ones_like(batch)}
    return np.asarray(runtime.session.run(None, feeds)[0][0], dtype=np.float32)


@dataclass
class OnnxMiniLM:
    """The shipped MiniLM; the runtime loads on the first text to encode."""

    name: str
    folder: Path = MODEL_DIR
    max_tokens: int = MAX_TOKENS

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) unit vectors; a text this process encoded lately is not encoded
        again (the same paper in two databases, a benchmark's or a test suite's repeats)."""
        keys = [hashlib.sha1(f"{self.name}\n{t}".encode()).digest() for t in texts]
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        with _MEMO_LOCK:
            known = {k: _MEMO[k] for k in keys if k in _MEMO}
        todo = sorted({k: i for i, k in enumerate(keys) if k not in known}.values())
        fresh = dict(zip((keys[i] for i in todo), self._encode([texts[i] for i in todo]),
                         strict=True))
        for row, key in enumerate(keys):
            out[row] = known[key] if key in known else fresh[key]
        with _MEMO_LOCK:
            for key in keys:
                _MEMO[key] = known[key] if key in known else fresh[key]
                _MEMO.move_to_end(key)
            while len(_MEMO) > MEMO_TEXTS:
                _MEMO.popitem(last=False)
        return out

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """One text per run, on one thread each, runs side by side on every CPU: a text's
        vector never depends on what it was encoded with (the int8 model quantises each
        run's activations by their range, so a batch would couple its texts) and no run
        computes padding."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        runtime = load_runtime(self.folder, self.max_tokens)
        encodings = runtime.tokenizer.encode_batch(list(texts))
        with ThreadPoolExecutor(max_workers=cpu_count()) as pool:
            vectors = list(pool.map(partial(_run, runtime), (e.ids for e in encodings)))
        return np.vstack(vectors)
