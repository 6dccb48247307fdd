"""BibTeX (.bib) exports -> library items.

bibtexparser splits the file into blocks (nested braces, quoted values, comments, a broken
entry isolated from the good ones); field values are then evaluated here, as BibTeX does:
`@string` macros, `#` concatenation, month names, and LaTeX to Unicode.
"""

from __future__ import annotations

import logging

import bibtexparser
from bibtexparser.model import Block, Entry, ParsingFailedBlock, String

from digest.library.items import (
    LibraryItem,
    Skipped,
    arxiv_in,
    doi_in,
    make_item,
    year_in,
)

logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)  # failed entries are reported here
MONTHS = {m: m.capitalize() for m in
          ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")}
ARXIV_FIELDS = ("journal", "journaltitle", "note", "howpublished", "number", "publisher",
                "booktitle", "eid", "pages")


def split_top(text: str, sep: str) -> list[str]:
    """Split at `sep` where it stands outside braces and quotes (case-insensitive)."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    low, want = text.lower(), sep.lower()
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(depth - 1, 0)
        elif ch == '"' and depth == 0 and sep != '"':
            quoted = not quoted
        elif depth == 0 and not quoted and low.startswith(want, i):
            parts.append(text[start:i])
            i = start = i + len(sep)
            continue
        i += 1
    parts.append(text[start:])
    return parts


def evaluate(raw: str, macros: dict[str, str]) -> str:
    """A field's value: `{...}`, `"..."`, numbers and macros, joined by `#`."""
    out = []
    for piece in split_top(raw, "#"):
        piece = piece.strip()
        if len(piece) >= 2 and (piece[0], piece[-1]) in (("{", "}"), ('"', '"')):
            out.append(piece[1:-1])
        elif piece:
            out.append(macros.get(piece.lower(), MONTHS.get(piece.lower(), piece)))
    return "".join(out)


def person(name: str) -> str:
    """`Last, First` or `von Last, Jr, First` -> `First von Last Jr`; other forms as written."""
    parts = [p.strip() for p in split_top(name, ",")]
    if len(parts) == 2:
        return f"{parts[1]} {parts[0]}".strip()
    if len(parts) >= 3:
        return f"{parts[2]} {parts[0]} {parts[1]}".strip()
    return name.strip()


def line_of(block: Block) -> int | str:
    """The line (from 1) a block starts on."""
    return block.start_line + 1 if block.start_line is not None else "?"


def entry_item(entry: Entry, macros: dict[str, str]) -> LibraryItem | Skipped:
    """One entry's item (field names are case-insensitive, as in BibTeX)."""
    fields = {f.key.lower(): evaluate(str(f.value), macros) for f in entry.fields}
    where = f"entry {entry.key} (line {line_of(entry)})"
    prefix = (fields.get("archiveprefix") or fields.get("eprinttype") or "").lower()
    eprint = fields.get("eprint")
    arxiv_id = arxiv_in([eprint], bare=prefix in ("arxiv", "")) \
        or arxiv_in([fields.get("url"), fields.get("doi"), *map(fields.get, ARXIV_FIELDS)])
    authors = [person(a) for a in split_top(fields.get("author", ""), " and ") if a.strip()]
    return make_item(where, fields.get("title"), authors,
                     year=year_in([fields.get("year"), fields.get("date")]),
                     abstract=fields.get("abstract"), arxiv_id=arxiv_id,
                     doi=doi_in([fields.get("doi"), fields.get("url")]))


def failure(block: ParsingFailedBlock) -> Skipped:
    """Where a broken block starts and what is wrong with it, in one line."""
    text = str(getattr(block.error, "abort_reason", "") or block.error)
    reason = " ".join(text.split()).replace("`", "'") or "not a valid BibTeX entry"
    return Skipped(f"the entry at line {line_of(block)}", reason.rstrip("."))


def parse_bibtex(text: str) -> tuple[list[LibraryItem], list[Skipped], int]:
    """Items, skipped entries, and how many `@` blocks held entries (good or bad)."""
    blocks: list[Block] = bibtexparser.parse_string(text, parse_stack=[]).blocks
    macros: dict[str, str] = {}
    items: list[LibraryItem] = []
    skipped: list[Skipped] = []
    entries = 0
    for block in blocks:
        if isinstance(block, ParsingFailedBlock):
            inner = block.ignore_error_block  # a duplicate key or field: the entry itself is fine
            block = inner if isinstance(inner, Entry | String) else block
        if isinstance(block, String):
            macros[str(block.key).lower()] = evaluate(str(block.value), macros)
        elif isinstance(block, Entry):
            entries += 1
            got = entry_item(block, macros)
            if isinstance(got, LibraryItem):
                items.append(got)
            else:
                skipped.append(got)
        elif isinstance(block, ParsingFailedBlock):
            entries += 1
            skipped.append(failure(block))
    return items, skipped, entries
