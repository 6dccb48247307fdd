"""CSL-JSON (.json) exports -> library items: Zotero's and Mendeley's "CSL JSON" array."""

from __future__ import annotations

import json
from typing import Any

from digest.library.items import LibraryItem, Skipped, arxiv_in, doi_in, make_item, year_in

ARXIV_HINTS = ("number", "archive_location", "container-title", "publisher", "note", "source",
               "archive", "collection-title")


class NotCslJson(ValueError):
    """The text is JSON but not a list of CSL items, or not JSON at all (with its position)."""


def load_items(text: str) -> list[Any]:
    """The list of CSL objects: a JSON array, a single object, or `{"items": [...]}`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotCslJson(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") \
            from exc
    except RecursionError as exc:
        raise NotCslJson("JSON nested too deeply") from exc
    if isinstance(data, dict):
        data = data["items"] if isinstance(data.get("items"), list) else [data]
    if not isinstance(data, list):
        raise NotCslJson("expected a JSON array of items (as Zotero's CSL JSON export writes)")
    return data


def _name(person: Any) -> str:
    if not isinstance(person, dict):
        return str(person) if isinstance(person, str) else ""
    if person.get("literal"):
        return str(person["literal"])
    parts = (person.get(k) for k in ("given", "non-dropping-particle", "family", "suffix"))
    return " ".join(str(p) for p in parts if isinstance(p, str | int) and str(p))


def _year(issued: Any) -> int | None:
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            return year_in([str(parts[0][0])])
        return year_in([str(issued.get("raw") or issued.get("literal") or "")])
    return year_in([str(issued)]) if isinstance(issued, str | int) else None


def csl_item(index: int, obj: Any) -> LibraryItem | Skipped:
    """One CSL object's item; `index` counts from 1."""
    label = obj.get("id") if isinstance(obj, dict) else None
    where = f"item {index}" + (f" ({label})" if isinstance(label, str | int) else "")
    if not isinstance(obj, dict):
        return Skipped(where, f"expected an object, found {type(obj).__name__}")

    def text(key: str) -> str | None:
        value = obj.get(key)
        return str(value) if isinstance(value, str | int | float) else None

    authors = obj.get("author")
    on_arxiv = any("arxiv" in (text(k) or "").lower() for k in ARXIV_HINTS[2:])
    arxiv_id = arxiv_in([text("URL"), text("DOI"), *map(text, ARXIV_HINTS)]) \
        or arxiv_in([text("number")], bare=on_arxiv)  # e.g. publisher "arXiv", number "2301.…"
    return make_item(where, text("title"),
                     [_name(a) for a in authors] if isinstance(authors, list) else [],
                     year=_year(obj.get("issued")), abstract=text("abstract"),
                     arxiv_id=arxiv_id, doi=doi_in([text("DOI"), text("URL")]))


def parse_csl_json(text: str) -> tuple[list[LibraryItem], list[Skipped], int]:
    """Items, skipped objects, and how many objects the array holds."""
    objects = load_items(text)
    items: list[LibraryItem] = []
    skipped: list[Skipped] = []
    for index, obj in enumerate(objects, 1):
        got = csl_item(index, obj)
        if isinstance(got, LibraryItem):
            items.append(got)
        else:
            skipped.append(got)
    return items, skipped, len(objects)
