"""Turn one chunk's chosen papers into Picks with machine-readable reasons."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from digest.rank.authors import author_key
from digest.rank.model import Pick, Reason
from digest.rank.queries import QueryBlock

if TYPE_CHECKING:
    from digest.rank.feedback import FeedbackChunk
    from digest.rank.score import Day, Side
    from digest.rank.textfeat import DocTerms


@dataclass
class ChunkView:
    """Everything scored for one chunk of subscribers, kept for explaining the picks."""

    chunk: range
    score: np.ndarray
    chosen: np.ndarray
    scores: dict[str, np.ndarray]      # kind -> chunk x slots x papers
    category: np.ndarray
    followed: np.ndarray
    blocks: dict[str, QueryBlock]
    side: Any
    feedback: FeedbackChunk | None = None
    weak: np.ndarray | None = None     # subscriber x paper: picked only to fill a short digest


def _row_table(block: QueryBlock, chunk: range, width: int) -> list[list[int]]:
    """[local subscriber][slot] -> query row, or -1."""
    table = np.full((len(chunk), max(width, 1)), -1, dtype=np.int64)
    rows = np.nonzero((block.owner >= chunk.start) & (block.owner < chunk.stop))[0]
    table[block.owner[rows] - chunk.start, block.slot[rows]] = rows
    rows_table: list[list[int]] = table.tolist()
    return rows_table


def build_picks(view: ChunkView, day: Day, bonus: float) -> Iterator[list[Pick]]:
    """Picks for each subscriber of the chunk, in order; signals gathered in bulk."""
    mask = view.chosen >= 0
    local = np.nonzero(mask)[0]
    paper = view.chosen[mask]
    gathered = {
        "score": view.score[local, paper].tolist(),
        "followed": view.followed[local, paper].tolist(),
        "category": view.category[local, paper].tolist(),
        **{kind: s[local, :, paper].tolist() for kind, s in view.scores.items()},
    }
    tables = {kind: _row_table(block, view.chunk, block.width)
              for kind, block in view.blocks.items() if kind in view.scores}
    out: list[list[Pick]] = [[] for _ in view.chunk]
    for n, (sub, pid) in enumerate(zip(local.tolist(), paper.tolist(), strict=True)):
        score = gathered["score"][n] - (bonus if gathered["followed"][n] else 0.0)
        reasons = tuple(_reasons(view, day, tables, gathered, n, sub, pid))
        out[sub].append(Pick(day.candidates[pid].id, score, reasons))
    yield from out


def _reasons(view: ChunkView, day: Day, tables: dict[str, list[list[int]]],
             gathered: dict[str, list[Any]], n: int, sub: int, pid: int) -> Iterator[Reason]:
    side: Side = view.side
    absolute = view.chunk.start + sub
    candidate = day.candidates[pid]
    if view.weak is not None and view.weak[sub, pid]:
        yield Reason("weaker", "a weaker match, to fill your digest", (), 0.0)
    if gathered["followed"][n]:
        names = side.author_names[absolute]
        for author in candidate.authors:
            if (key := author_key(author)) in names:
                yield Reason("author", names[key], (author,), 1.0)
    terms = day.docs[pid]
    for kind, best_only, floor in _KINDS:
        if kind in view.scores:
            yield from _block_reasons(kind, view.blocks[kind], tables[kind][sub],
                                      gathered[kind][n], terms, best_only, floor)
    if view.feedback is not None and (said := view.feedback.reason(sub, pid)) is not None:
        yield said
    if gathered["category"][n]:
        wanted = set(side.category_names[absolute])
        cats = tuple(c for c in candidate.categories if c in wanted)
        yield Reason("category", ", ".join(cats), cats, 1.0)
    if day.trending_rank[pid]:
        yield Reason("trending", f"#{day.trending_rank[pid]} on Hugging Face today "
                     f"({candidate.upvotes or 0} upvotes)", (), float(day.trending[pid]))


_KINDS = (("topic", True, 0.0), ("keyword", False, 0.0), ("liked", True, 0.1),
          ("semantic", True, 0.3), ("semantic_liked", True, 0.3))


def _block_reasons(kind: str, block: QueryBlock, rows: list[int], values: list[float],
                   doc_terms: DocTerms, best_only: bool, floor: float) -> Iterator[Reason]:
    if best_only:
        slots = [values.index(max(values))]
    else:
        slots = sorted((s for s, v in enumerate(values) if v > floor), key=values.__getitem__,
                       reverse=True)
    for slot in slots:
        row, value = rows[slot], values[slot]
        if row < 0 or value <= floor:
            continue
        surface = block.surface[row]
        words = tuple(dict.fromkeys(w for s, w in surface.items() if doc_terms.has(s)))
        yield Reason(kind, block.labels[row], words, value)
