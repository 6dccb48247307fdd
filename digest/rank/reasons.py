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
    from digest.rank.score import Day, Side


@dataclass
class ChunkView:
    """Everything scored for one chunk of subscribers, kept for explaining the picks."""

    chunk: range
    score: np.ndarray
    chosen: np.ndarray
    topic3: np.ndarray
    kw3: np.ndarray
    liked3: np.ndarray
    category: np.ndarray
    followed: np.ndarray
    blocks: tuple[QueryBlock, QueryBlock, QueryBlock]
    side: Any


def _rows_by_owner(block: QueryBlock, chunk: range) -> dict[tuple[int, int], int]:
    rows = np.nonzero((block.owner >= chunk.start) & (block.owner < chunk.stop))[0]
    return {(int(block.owner[r]) - chunk.start, int(block.slot[r])): int(r) for r in rows}


def build_picks(view: ChunkView, day: Day, bonus: float) -> Iterator[list[Pick]]:
    """Picks for each subscriber of the chunk, in order."""
    index = [_rows_by_owner(b, view.chunk) for b in view.blocks]
    side: Side = view.side
    for local in range(len(view.chunk)):
        picks = []
        for paper in view.chosen[local]:
            if paper < 0:
                break
            reasons = tuple(_reasons(view, day, side, index, local, int(paper)))
            score = float(view.score[local, paper])
            if view.followed[local, paper]:
                score -= bonus  # the pin orders the digest; the reported score stays comparable
            picks.append(Pick(day.candidates[paper].id, score, reasons))
        yield picks


def _reasons(view: ChunkView, day: Day, side: Side, index: list[dict[tuple[int, int], int]],
             local: int, paper: int) -> Iterator[Reason]:
    absolute = view.chunk.start + local
    doc_terms = day.docs[paper].counts
    if view.followed[local, paper]:
        names = side.author_names[absolute]
        for author in day.candidates[paper].authors:
            if (key := author_key(author)) in names:
                yield Reason("author", names[key], (author,), 1.0)
    yield from _block_reasons("topic", view.topic3, view.blocks[0], index[0], local, paper,
                              doc_terms, best_only=True)
    yield from _block_reasons("keyword", view.kw3, view.blocks[1], index[1], local, paper,
                              doc_terms, best_only=False)
    yield from _block_reasons("liked", view.liked3, view.blocks[2], index[2], local, paper,
                              doc_terms, best_only=True, floor=0.1)
    if view.category[local, paper]:
        wanted = set(side.category_names[absolute])
        cats = tuple(c for c in day.candidates[paper].categories if c in wanted)
        yield Reason("category", ", ".join(cats), cats, 1.0)
    if day.trending_rank[paper]:
        votes = day.candidates[paper].upvotes or 0
        yield Reason("trending", f"#{day.trending_rank[paper]} on Hugging Face today ({votes} upvotes)",
                     (), float(day.trending[paper]))


def _block_reasons(kind: str, scores3: np.ndarray, block: QueryBlock,
                   index: dict[tuple[int, int], int], local: int, paper: int,
                   doc_terms: Any, best_only: bool, floor: float = 0.0) -> Iterator[Reason]:
    column = scores3[local, :, paper]
    order = [int(np.argmax(column))] if best_only else list(np.argsort(-column))
    for slot in order:
        value = float(column[slot])
        row = index.get((local, slot))
        if row is None or value <= floor:
            continue
        surface = block.surface[row]
        terms = tuple(dict.fromkeys(word for stem, word in surface.items() if stem in doc_terms))
        yield Reason(kind, block.labels[row], terms, value)
