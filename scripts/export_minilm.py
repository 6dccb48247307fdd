"""Write digest/models/minilm-l6 from an all-MiniLM-L6-v2 folder (needs torch, transformers, onnx).

The folder gets the model as one ONNX graph — BERT, mean pooling and normalisation, what
sentence-transformers computes — with its matrices quantised to int8 per output channel
(ONNX Runtime's dynamic quantisation with 7-bit weights: 23 MB, about twice as fast on a CPU
as float32, cosine >= 0.98 to the float model), and the tokenizer. Run once by a maintainer
when the model changes:
    python scripts/export_minilm.py SOURCE_FOLDER
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoModel

from digest.rank.minilm import MODEL_DIR

OPSET = 17


class Pooled(torch.nn.Module):
    """BERT, mean pooling over the attention mask, unit length: sentence-transformers' pipeline."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Sentence vectors."""
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
        keep = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * keep).sum(1) / keep.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1)


def export(source: Path, target: Path) -> None:
    """Trace the model (eager attention: plain ONNX operators) to an ONNX file."""
    model = Pooled(AutoModel.from_pretrained(str(source), attn_implementation="eager").eval())
    ids = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(model, (ids, ids), str(target), input_names=["input_ids", "attention_mask"],
                      output_names=["embedding"], opset_version=OPSET, dynamo=False,
                      dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                    "embedding": {0: "batch"}})


def main() -> None:
    """Export SOURCE into the package's model folder."""
    parser = argparse.ArgumentParser()
    parser.add_argument("source", type=Path)
    parser.add_argument("--target", type=Path, default=MODEL_DIR)
    args = parser.parse_args()
    args.target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "float.onnx"
        export(args.source, graph)
        # reduce_range: 7-bit weights, so the u8 x s8 pair sums of CPUs without VNNI (AVX2,
        # AVX-512 without VNNI) fit their 16-bit accumulators and never saturate; the model
        # then gives the same vectors on every x86 CPU (cosine to torch min 0.989 vs 0.992)
        quantize_dynamic(str(graph), str(args.target / "model.onnx"),
                         weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
    shutil.copy(args.source / "tokenizer.json", args.target / "tokenizer.json")
    size = sum(f.stat().st_size for f in args.target.iterdir()) / 1e6
    print(f"wrote {args.target}: {size:.1f} MB")


if __name__ == "__main__":
    main()
