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
        "weak": view.weak[local, paper].tolist() if view.weak is not None else None,
        **{kind: s[local, :, paper].tolist() for kind, s in view.scores.items()},
    }
    kinds = [(kind, view.blocks[kind], _row_table(view.blocks[kind], view.chunk,
                                                  view.blocks[kind].width), best_only, floor)
             for kind, best_only, floor in _KINDS if kind in view.scores]
    trending = day.trending_rank.tolist()
    out: list[list[Pick]] = [[] for _ in view.chunk]
    for n, (sub, pid) in enumerate(zip(local.tolist(), paper.tolist(), strict=True)):
        score = gathered["score"][n] - (bonus if gathered["followed"][n] else 0.0)
        reasons = _reasons(view, day, kinds, gathered, n, sub, pid, trending[pid])
        out[sub].append(Pick(day.candidates[pid].id, score, reasons))
    yield from out


_Kind = tuple[str, QueryBlock, list[list[int]], bool, float]


def _reasons(view: ChunkView, day: Day, kinds: list[_Kind], gathered: dict[str, Any], n: int,
             sub: int, pid: int, trending: int) -> tuple[Reason, ...]:
    side: Side = view.side
    absolute = view.chunk.start + sub
    candidate = day.candidates[pid]
    out: list[Reason] = []
    if gathered["weak"] is not None and gathered["weak"][n]:
        out.append(Reason("weaker", "a weaker match, to fill your digest", (), 0.0))
    if gathered["followed"][n]:
        names = side.author_names[absolute]
        for author in candidate.authors:
            if (key := author_key(author)) in names:
                out.append(Reason("author", names[key], (author,), 1.0))
    terms = day.docs[pid]
    for kind, block, table, best_only, floor in kinds:
        _block_reasons(out, kind, block, table[sub], gathered[kind][n], terms, best_only, floor)
    if view.feedback is not None and (said := view.feedback.reason(sub, pid)) is not None:
        out.append(said)
    if gathered["category"][n]:
        wanted = set(side.category_names[absolute])
        cats = tuple(c for c in candidate.categories if c in wanted)
        out.append(Reason("category", ", ".join(cats), cats, 1.0))
    if trending:
        out.append(Reason("trending", f"#{trending} on Hugging Face today "
                          f"({candidate.upvotes or 0} upvotes)", (), float(day.trending[pid])))
    return tuple(out)


_KINDS = (("topic", True, 0.0), ("keyword", False, 0.0), ("liked", True, 0.1),
          ("semantic", True, 0.3), ("semantic_liked", True, 0.3))


def _block_reasons(out: list[Reason], kind: str, block: QueryBlock, rows: list[int],
                   values: list[float], doc_terms: DocTerms, best_only: bool,
                   floor: float) -> None:
    """Append one block's reasons: its best row (`best_only`), or every row above `floor`,
    best first, each with the words of it the paper holds."""
    if best_only:
        best = max(values)
        slots = [values.index(best)] if best > floor else []
    else:
        slots = sorted((s for s, v in enumerate(values) if v > floor), key=values.__getitem__,
                       reverse=True)
    counts, phrases = doc_terms.counts, doc_terms.phrases
    for slot in slots:
        row = rows[slot]
        if row < 0:
            continue
        found = [w for s, w in block.surface[row].items() if s in counts or s in phrases]
        words = tuple(dict.fromkeys(found)) if len(found) > 1 else tuple(found)
        out.append(Reason(kind, block.labels[row], words, values[slot]))
