"""A foreign ONNX graph where the shipped MiniLM should be (other inputs, other outputs, another
dimension): the loader refuses it, and ranking goes on lexical-only with one log line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from digest.cli import main
from digest.errors import SemanticUnavailableError
from digest.rank.minilm import MODEL_DIR, load_runtime
from tests.rank.test_minilm import day_config

FLOAT, INT64 = 1, 7  # onnx TensorProto element types


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | 0x80 if n else low)
        if not n:
            return bytes(out)


def _field(number: int, value: int | str | bytes) -> bytes:
    """One protobuf field: a varint, or length-delimited bytes (strings, messages)."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _value(name: str, elem: int, dims: list[int | str]) -> bytes:
    """An onnx ValueInfoProto: a named tensor of `elem` with these (fixed or named) dims."""
    shape = b"".join(_field(1, _field(1, d) if isinstance(d, int) else _field(2, d))
                     for d in dims)
    return _field(1, name) + _field(2, _field(1, _field(1, elem) + _field(2, shape)))


def _node(op: str, inputs: list[str], outputs: list[str], to: int | None = None) -> bytes:
    attrs = _field(5, _field(1, "to") + _field(3, to) + _field(20, 2)) if to else b""
    return (b"".join(_field(1, i) for i in inputs) + b"".join(_field(2, o) for o in outputs)
            + _field(4, op) + attrs)


def onnx_graph(nodes: list[bytes], inputs: list[bytes], outputs: list[bytes]) -> bytes:
    """A serialized onnx ModelProto (IR 8, opset 13), written without the onnx package."""
    graph = (b"".join(_field(1, n) for n in nodes) + _field(2, "foreign")
             + b"".join(_field(11, i) for i in inputs) + b"".join(_field(12, o) for o in outputs))
    return _field(1, 8) + _field(8, _field(1, "") + _field(2, 13)) + _field(7, graph)


# Takes one float tensor named "text": not a sentence encoder's inputs at all.
OTHER_INPUTS = onnx_graph([_node("Identity", ["text"], ["out"])],
                          [_value("text", FLOAT, [1, 384])], [_value("out", FLOAT, [1, 384])])
# The right inputs, but one number per token out (a vector as long as the text, not 384).
OTHER_DIMENSION = onnx_graph(
    [_node("Cast", ["input_ids"], ["a"], to=FLOAT), _node("Cast", ["attention_mask"], ["b"], to=FLOAT),
     _node("Add", ["a", "b"], ["out"])],
    [_value("input_ids", INT64, ["batch", "seq"]), _value("attention_mask", INT64, ["batch", "seq"])],
    [_value("out", FLOAT, ["batch", "seq"])])


def foreign_model(tmp_path: Path, graph: bytes) -> Path:
    """A model folder holding `graph` beside the shipped tokenizer."""
    folder = tmp_path / "foreign"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(graph)
    (folder / "tokenizer.json").write_bytes((MODEL_DIR / "tokenizer.json").read_bytes())
    return folder


@pytest.mark.parametrize(("graph", "says"), [(OTHER_INPUTS, "takes ['text']"),
                                             (OTHER_DIMENSION, "not unit vectors of 384")],
                         ids=["inputs", "dimension"])
def test_the_loader_refuses_a_foreign_graph_naming_the_folder(tmp_path: Path, graph: bytes,
                                                             says: str) -> None:
    folder = foreign_model(tmp_path, graph)
    with pytest.raises(SemanticUnavailableError) as raised:
        load_runtime(folder)
    assert f"cannot load the model in {folder}" in str(raised.value) and says in str(raised.value)
    assert raised.value.hint  # how to fix it


@pytest.mark.parametrize("graph", [OTHER_INPUTS, OTHER_DIMENSION], ids=["inputs", "dimension"])
def test_ranking_with_a_foreign_graph_is_lexical_with_one_log_line(
        tmp_path: Path, graph: bytes, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    folder = foreign_model(tmp_path, graph)
    config = day_config(tmp_path, 30, {"ranking": {"semantic": {"model": str(folder)}}})
    assert main(["poll", "-c", str(config)]) == 0  # the embedding step fails alone
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(["rank", "-c", str(config), "--subscriber", "ada@example.org",
                     "--since", "2026-06-11", "--json"]) == 0
    picks = json.loads(capsys.readouterr().out)
    assert picks and not any(r["kind"].startswith("semantic") for p in picks for r in p["reasons"])
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and not warnings[0].exc_info
    line = warnings[0].getMessage()
    assert "lexical-only" in line and str(folder) in line and "reinstall" in line
