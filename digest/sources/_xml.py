"""Safe XML parsing and the namespaces arXiv uses."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from digest.errors import ParseError

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "dc": "http://purl.org/dc/elements/1.1/",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}


def parse_xml(data: bytes, what: str) -> Element:
    """Parse untrusted XML (no entities, no DTD tricks) or raise ParseError naming `what`."""
    try:
        return fromstring(data, forbid_dtd=False, forbid_entities=True)
    except DefusedXmlException as exc:
        raise ParseError(f"{what}: refused unsafe XML ({exc.__class__.__name__})",
                         "the server sent entity or DTD tricks; check the feed URL") from exc
    except Exception as exc:  # ParseError from expat, bad encodings
        raise ParseError(f"{what}: not well-formed XML ({exc})",
                         "check that the URL points at a feed, not an HTML page") from exc


def text_of(el: Element | None, path: str) -> str:
    """Text of the first child at `path` (namespaced), or ''."""
    if el is None:
        return ""
    child = el.find(path, NS)
    return (child.text or "") if child is not None else ""


def parse_date(value: str) -> datetime | None:
    """Parse an ISO-8601 or RFC-822 date into an aware datetime (naive = UTC); None if unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
