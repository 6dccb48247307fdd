"""What a reference-manager export becomes: items with a title, authors, year and ids."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from digest.sources.ids import MAX_DOI_KEY, arxiv_id_in_url, normalize_doi, split_arxiv_id
from digest.text import latex_to_text, one_line

MAX_ABSTRACT = 1500  # an item's abstract is kept this long at most (it only feeds the ranker)
_ARXIV_WORD = re.compile(r"arxiv", re.I)
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(?P<id>.+)$")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|2[01]\d\d)(?!\d)")
_MARKUP = re.compile(r"</?(?:i|b|em|strong|sup|sub|sc|span)(?:\s[^>]*)?>", re.I)


class LibraryFormat(StrEnum):
    """The export formats read."""

    BIBTEX = "BibTeX"
    RIS = "RIS"
    CSL_JSON = "CSL-JSON"


@dataclass(frozen=True)
class LibraryItem:
    """One paper of a library: its own text, and the ids that name it (canonical forms)."""

    title: str
    where: str                      # e.g. "entry vaswani2017 (line 4)", for reports
    authors: tuple[str, ...] = ()
    year: int | None = None
    arxiv_id: str | None = None     # without version: `2301.01234`, `hep-th/9901001`
    doi: str | None = None          # lower-cased, e.g. `10.1038/nature14539`
    abstract: str = ""


@dataclass(frozen=True)
class Skipped:
    """An entry that was not imported, and why."""

    where: str
    reason: str


@dataclass
class ParsedLibrary:
    """The items of one file, in file order, and the entries skipped on the way."""

    format: LibraryFormat
    items: list[LibraryItem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def clean_text(value: str | None, limit: int = 500) -> str:
    """LaTeX and simple rich-text markup to plain one-line Unicode text."""
    return one_line(latex_to_text(_MARKUP.sub("", value or "")), limit)


def arxiv_in(texts: Iterable[str | None], *, bare: bool = False) -> str | None:
    """The first arXiv id in these texts: after the word "arXiv" (`arXiv preprint
    arXiv:2301.01234`), in an arxiv.org URL, in an arXiv DOI, or anywhere when `bare`."""
    for text in texts:
        if not text:
            continue
        if found := arxiv_id_in_url(text):
            return found[0]
        doi = normalize_doi(text)
        if doi and (m := _ARXIV_DOI.match(doi)) and (found := split_arxiv_id(m.group("id"))):
            return found[0]
        word = _ARXIV_WORD.search(text)
        if (bare or word) and (found := split_arxiv_id(text[word.start():] if word else text)):
            return found[0]
    return None


def doi_in(texts: Iterable[str | None]) -> str | None:
    """The first DOI in these texts (a bare DOI, `doi:` form or doi.org URL) that fits the key."""
    for text in texts:
        doi = normalize_doi(text or "")
        if doi and len(doi) <= MAX_DOI_KEY:
            return doi
    return None


def year_in(texts: Iterable[str | None]) -> int | None:
    """The first plausible four-digit year in these texts (`2017`, `2017-06-12`, `2020///`)."""
    for text in texts:
        if text and (m := _YEAR.search(str(text))):
            return int(m.group(1))
    return None


def make_item(where: str, title: str | None, authors: Iterable[str], *,
              year: int | None, abstract: str | None = None,
              arxiv_id: str | None = None, doi: str | None = None) -> LibraryItem | Skipped:
    """An item from cleaned-up fields, or why the entry cannot be used (no title and no id)."""
    if doi and _ARXIV_DOI.match(doi):  # an arXiv DOI names the arXiv paper
        arxiv_id, doi = arxiv_id or arxiv_in([doi]), None
    text = clean_text(title)
    if not (text or arxiv_id or doi):
        return Skipped(where, "no title, arXiv id or DOI")
    names = tuple(n for a in authors if (n := clean_text(a, 100)) and n.lower() != "others")
    return LibraryItem(title=text, where=where, authors=names, year=year, arxiv_id=arxiv_id,
                       doi=doi, abstract=clean_text(abstract, MAX_ABSTRACT))
