"""Library limits from review: a full library still takes newer papers; a big library does not
widen the ranker's blocks; one library's text never lands in another subscriber's ranking."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from digest.library import LibraryFormat, LibraryItem, ParsedLibrary
from digest.library.resolve import store_library
from digest.rank.stored import RANKED_LIKED, interest_of
from digest.storage.db import session_scope
from digest.storage.models import Origin, Subscriber
from digest.storage.subscribers import library_texts


def subscriber(session: object, email: str, library: list[dict[str, object]]) -> Subscriber:
    row = Subscriber(email=email, origin=Origin.WEB, token_nonce="n" + email[:8],
                     interests={"topics": ["x"], "library": library})
    session.add(row)  # type: ignore[attr-defined]
    return row


def item(n: int, year: int) -> LibraryItem:
    return LibraryItem(title=f"Paper {n}", where=f"entry {n}", year=year,
                       arxiv_id=f"2{year % 100:02d}1.{n:05d}")


def test_a_full_library_keeps_the_newest_papers(engine: Engine) -> None:
    with session_scope(engine) as s:
        row = subscriber(s, "a@lab.example", [])
        store_library(s, row, ParsedLibrary(LibraryFormat.BIBTEX,
                                            [item(n, 2019) for n in range(3)]), "old.bib", limit=3)
        report = store_library(s, row, ParsedLibrary(LibraryFormat.BIBTEX, [item(9, 2024)]),
                               "new.bib", limit=3)
        years = [e.get("year") for e in row.interests["library"]]
    assert years == [2024, 2019, 2019] and report.dropped == 1
    assert sum(report.added.values()) == 1


def test_the_ranker_reads_a_bounded_number_of_liked_papers(engine: Engine) -> None:
    library = [{"id": f"2401.{n:05d}", "title": f"P{n}", "year": 2024} for n in range(500)]
    with session_scope(engine) as s:
        row = subscriber(s, "big@lab.example", library)
        assert len(interest_of(row).liked) == RANKED_LIKED


def test_an_id_two_libraries_describe_differently_has_no_text(engine: Engine) -> None:
    with session_scope(engine) as s:
        subscriber(s, "b@lab.example", [{"id": "doi:10.1/abc", "title": "Real paper"},
                                        {"id": "doi:10.1/own", "title": "Own paper"}])
        subscriber(s, "evil@lab.example", [{"id": "doi:10.1/abc", "title": "Visit evil.example"}])
    with session_scope(engine) as s:
        texts = library_texts(s, ["b@lab.example", "evil@lab.example"])
    assert "doi:10.1/abc" not in texts  # neither upload defines it for the other
    assert texts["doi:10.1/own"] == ("Own paper", "")
