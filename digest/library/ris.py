"""RIS (.ris) exports -> library items.

Written here rather than with rispy, which drops an entry without `ER` (a file cut short) or
tags outside an entry without a word: here each such entry is reported with its line.
"""

from __future__ import annotations

import re

from digest.library.items import LibraryItem, Skipped, arxiv_in, doi_in, make_item, year_in

TAG = re.compile(r"^(?P<tag>[A-Z][A-Z0-9])\s{1,2}-(?: (?P<value>.*)|\s*)$")
TITLE, AUTHORS, YEAR = ("TI", "T1", "CT", "BT"), ("AU", "A1"), ("PY", "Y1", "DA", "Y2")
ABSTRACT, URLS = ("AB", "N2"), ("UR", "L1", "L2", "LK")
ARXIV_HINTS = ("T2", "JO", "JF", "JA", "SE", "PB", "N1", "M1", "M3", "SN", "ID", "AN", "VL", "IS")


def looks_like_ris(text: str) -> bool:
    """Whether the first non-blank line is an RIS `TY  - ` line."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    m = TAG.match(first.strip())
    return m is not None and m.group("tag") == "TY"


def record_item(start: int, tags: dict[str, list[str]]) -> LibraryItem | Skipped:
    """One record's item."""
    def first(names: tuple[str, ...]) -> str | None:
        return next((v for n in names for v in tags.get(n, ()) if v), None)

    def every(names: tuple[str, ...]) -> list[str]:
        return [v for n in names for v in tags.get(n, ()) if v]

    urls = every(URLS)
    return make_item(f"the entry at line {start}", first(TITLE),
                     [a if "," not in a else " ".join(reversed(a.split(",", 1)))
                      for a in every(AUTHORS)],
                     year=year_in(every(YEAR)), abstract=first(ABSTRACT),
                     arxiv_id=arxiv_in([*urls, *every(("DO",)), *every(ARXIV_HINTS)]),
                     doi=doi_in([*every(("DO",)), *urls]))


def parse_ris(text: str) -> tuple[list[LibraryItem], list[Skipped], int]:
    """Items, skipped records, and how many records the file holds (good or bad)."""
    items: list[LibraryItem] = []
    skipped: list[Skipped] = []
    records, start = 0, 0
    tags: dict[str, list[str]] | None = None
    last: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip().lstrip("\ufeff")
        m = TAG.match(line)
        if m is None:
            if tags is not None and last and line:  # a wrapped value goes on
                tags[last][-1] = f"{tags[last][-1]} {line}".strip()
            elif line and tags is None:
                skipped.append(Skipped(f"line {number}", "text outside an entry (TY … ER)"))
            continue
        tag, value = m.group("tag"), (m.group("value") or "").strip()
        if tag == "TY":
            if tags is not None:
                skipped.append(Skipped(f"the entry at line {start}",
                                       f"no ER line before the next TY at line {number}"))
            records, start, tags, last = records + 1, number, {}, None
        elif tags is None:
            skipped.append(Skipped(f"line {number}", f"{tag} outside an entry (TY … ER)"))
        elif tag == "ER":
            got = record_item(start, tags)
            if isinstance(got, LibraryItem):
                items.append(got)
            else:
                skipped.append(got)
            tags, last = None, None
        else:
            tags.setdefault(tag, []).append(value)
            last = tag
    if tags is not None:
        skipped.append(Skipped(f"the entry at line {start}",
                               "no ER line at the end (is the file cut short?)"))
    return items, skipped, records
