"""bioRxiv (and, through `medrxiv`, medRxiv): the `details` API, one page per 100 postings.

One record per posting: a preprint's DOI is its id and every version shares it, so v2 updates
the v1 row. `published` is the journal DOI once there is one ("NA" before), authors are one
"Surname, I.; Surname, I." string, and abstracts carry JATS leftovers that are cleaned here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

from digest.errors import ParseError
from digest.sources._scholarly import (
    WindowedSource,
    as_dict,
    as_int,
    as_list,
    day,
    given_first,
    load_json,
    names,
    relation,
    title_text,
    utc_day,
    window_start,
    with_params,
)
from digest.sources.base import SourceType, each_record
from digest.sources.ids import canonical_id, normalize_doi
from digest.sources.records import PaperRecord
from digest.text import paragraph

DEFAULT_URL = "https://api.biorxiv.org/details"
HINT = "check the source URL points at the bioRxiv API (api.biorxiv.org/details)"
_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
          "rho sigma tau upsilon phi chi psi omega").split()
_GREEK_RE = re.compile(r"\{(" + "|".join(_GREEK) + r")\}", re.I)
_SMALL_CAPS = re.compile(r"O_SCPLOW(.*?)C_SCPLOW", re.S)
_FLOATS = re.compile(r"O_(FIG|TBL)\b.*?C_\1\b|O_LINKGRAPHICAL.*?C_LINKGRAPHICAL", re.S)
_MARKERS = re.compile(r"[OC]_(?:FLOATNO|FIG_DISPLAY|TBL_DISPLAY|FIG|TBL|SCPLOW)")
_SECTIONS = ("Abstract Aims Aim Author Availability Background Conclusions Conclusion Context "
             "Design Discussion Findings Funding Graphical Highlights Importance Interpretation "
             "Introduction Key Lay Limitations Methods Method Methodology Motivation Objectives "
             "Objective Plain Purpose Rationale Results Setting Significance Study Summary "
             "Trial").split()
_HEAD = "|".join(_SECTIONS)
_HEADING = re.compile(rf"^((?:{_HEAD})(?: [A-Za-z]+){{0,3}}?)(?<=[a-z])(?=[A-Z0-9])"
                      rf"|^((?:{_HEAD.upper()})(?: [A-Z]+){{0,3}}?)(?=[A-Z][a-z])")


class PreprintServerSource(WindowedSource):
    """Postings of one preprint server since the last successful poll, optionally one
    `category` (the server's subject name, e.g. "neuroscience")."""

    category: str | None = None
    server: ClassVar[str] = "biorxiv"


class BiorxivSource(PreprintServerSource):
    """bioRxiv preprints."""

    type: Literal["biorxiv"]


def first_urls(src: PreprintServerSource, today: datetime, since: datetime | None = None) -> list[str]:
    """The first page of the postings from the window's first day to today."""
    start = window_start(src, since, today)
    return [details_url(src, f"{start}:{utc_day(today)}", 0)]


def next_page(src: PreprintServerSource, bodies: Sequence[bytes],
              since: datetime | None = None) -> str | None:
    """The next cursor while the server has more postings and `max_results` is not reached."""
    page = page_info(bodies[-1])
    if page is None:
        return None
    interval, cursor, count, total = page
    following = cursor + count
    if count <= 0 or following >= min(total, src.max_results) or ":" not in interval:
        return None
    return details_url(src, interval, following)


def details_url(src: PreprintServerSource, interval: str, cursor: int) -> str:
    """`details/<server>/<from>/<to>/<cursor>`, with the category filter when configured."""
    base = (str(src.url) if src.url else DEFAULT_URL).rstrip("/")
    start, _, end = interval.partition(":")
    url = f"{base}/{src.server}/{start}/{end}/{cursor}"
    category = src.category.strip().lower().replace(" ", "_") if src.category else None
    return with_params(url, {"category": category})


def page_info(data: bytes) -> tuple[str, int, int, int] | None:
    """(interval, cursor, count, total) from a response's `messages`, None when absent."""
    messages = as_list(as_dict(load_json(data, "bioRxiv API", HINT)).get("messages"))
    message = as_dict(messages[0]) if messages else {}
    cursor, count, total = (as_int(message.get(k)) for k in ("cursor", "count", "total"))
    if cursor is None or count is None or total is None:
        return None
    return str(message.get("interval") or ""), cursor, count, total


def parse(data: bytes) -> list[PaperRecord]:
    """Parse one `details` response; "no posts found" is an empty list."""
    doc = load_json(data, "bioRxiv API", HINT)
    if not isinstance(doc, dict) or not isinstance(doc.get("collection", []), list):
        raise ParseError("bioRxiv API: expected an object with a `collection` list", HINT)
    return each_record(_from_item, doc.get("collection", []))


def _from_item(item: Any) -> PaperRecord | None:
    item = as_dict(item)
    doi, title = normalize_doi(str(item.get("doi") or "")), title_text(item.get("title"))
    if not doi or not title or _withdrawn(item, title):
        return None
    version = as_int(item.get("version")) or 1
    posted = day(item.get("date"))
    server = str(item.get("server") or "bioRxiv")
    host = server.lower() if server.lower() in ("biorxiv", "medrxiv") else "biorxiv"
    url = f"https://www.{host}.org/content/{doi}v{version}"
    category = title_text(item.get("category"))
    return PaperRecord(
        canonical_id=canonical_id(None, doi, title, url), doi=doi, version=version,
        title=title, abstract=clean_abstract(str(item.get("abstract") or "")),
        authors=names([given_first(a) for a in str(item.get("authors") or "").split(";")]),
        categories=[category] if category else [], published=posted, updated=posted,
        url=url, pdf_url=url + ".full.pdf",
        signals={"preprint_server": server,
                 **relation(doi, normalize_doi(str(item.get("published") or "")))},
    )


def _withdrawn(item: dict[str, Any], title: str) -> bool:
    return "withdraw" in str(item.get("type") or "").lower() or title.upper().startswith("WITHDRAWN")


def clean_abstract(text: str) -> str:
    """Undo the API's JATS leftovers: small caps, list items, figures, {beta}, glued headings."""
    text = _FLOATS.sub(" ", text)
    text = _SMALL_CAPS.sub(lambda m: m.group(1).upper(), text)
    text = text.replace("C_LIO_LI", " • ").replace("O_LI", " • ").replace("C_LI", "")
    text = _MARKERS.sub("", text)
    text = _GREEK_RE.sub(lambda m: _greek(m.group(1)), text)
    paras = re.split(r"\n\s*\n", paragraph(text))
    return "\n\n".join(_HEADING.sub(lambda m: (m.group(1) or m.group(2)) + ": ", p) for p in paras)


def _greek(name: str) -> str:
    case = "CAPITAL" if name[0].isupper() else "SMALL"
    letter = {"LAMBDA": "LAMDA"}.get(name.upper(), name.upper())  # Unicode spells it LAMDA
    try:
        return unicodedata.lookup(f"GREEK {case} LETTER {letter}")
    except KeyError:
        return "{" + name + "}"


TYPE = SourceType("biorxiv", parse, first_urls, next_page, interval_minutes=1440)
