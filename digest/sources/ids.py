"""Canonical paper ids: arXiv id without version, DOI otherwise, content hash last."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z\-]*(?:\.[A-Za-z\-]{2,})?/\d{7}"
ARXIV_ID_RE = re.compile(rf"(?<![\w.])(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<v>\d+))?(?![\d])")
_URL_ID_RE = re.compile(
    rf"arxiv\.org/(?:abs|pdf|html)/(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<v>\d+))?", re.I
)
MAX_DOI_KEY = 116  # "doi:" + this fits papers.canonical_id (120)
_DOI_RE = re.compile(r"10\.\d{4,9}/[^\s\"<>]+")


def split_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """Find an arXiv id in `text`; return (id without version, version or None)."""
    text = text.strip()
    m = _URL_ID_RE.search(text) or ARXIV_ID_RE.search(text)
    if not m:
        return None
    version = int(m.group("v")) if m.group("v") else None
    return normalize_arxiv_id(m.group("id")), version


def is_arxiv_id(text: str) -> bool:
    """Whether `text` is exactly a canonical arXiv id (no version, no other text around it)."""
    found = split_arxiv_id(text)
    return found is not None and found == (text, None)


def normalize_arxiv_id(arxiv_id: str) -> str:
    """Drop the version and an old-style subject class: `math.GT/0309136v2` -> `math/0309136`."""
    arxiv_id = re.sub(r"v\d+$", "", arxiv_id.strip())
    if "/" in arxiv_id:
        archive, number = arxiv_id.split("/", 1)
        arxiv_id = f"{archive.split('.')[0].lower()}/{number}"
    return arxiv_id


def arxiv_id_in_url(url: str) -> tuple[str, int | None] | None:
    """Return the arXiv id and version an arxiv.org abs/pdf URL points at, if any."""
    m = _URL_ID_RE.search(url or "")
    if not m:
        return None
    return normalize_arxiv_id(m.group("id")), int(m.group("v")) if m.group("v") else None


def normalize_doi(text: str) -> str | None:
    """Extract and lower-case a DOI from a bare DOI, `doi:` form or doi.org URL."""
    m = _DOI_RE.search(text or "")
    if not m:
        return None
    return m.group(0).rstrip(".,;)").lower()


def title_key(title: str) -> str:
    """A title folded for matching: no accents, case, punctuation or extra spaces."""
    folded = unicodedata.normalize("NFKD", title.upper()).casefold()
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(re.findall(r"[^\W_]+", folded))


def content_hash(title: str, url: str | None = None) -> str:
    """Last-resort id: a hash of the normalised title (and link) for papers with no id."""
    key = title_key(title) + "|" + (url or "")
    return "sha1:" + hashlib.sha1(key.encode()).hexdigest()[:20]


def canonical_id(arxiv_id: str | None, doi: str | None, title: str, url: str | None) -> str:
    """The one key a paper is stored under, whatever source reported it."""
    if arxiv_id:
        return arxiv_id
    if doi and len(doi) <= MAX_DOI_KEY:
        return "doi:" + doi
    return content_hash(title, url)  # also for DOIs too long for the key column
