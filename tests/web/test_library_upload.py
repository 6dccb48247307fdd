"""The manage page's library upload: CSRF and Origin checked, size capped, clear errors."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from digest.storage.models import Subscriber
from digest.web.library import MAX_UPLOAD
from tests.web.conftest import Site
from tests.web.test_app import confirm

LIBRARY = Path(__file__).parent.parent / "data" / "library"


def library_ids(site: Site) -> list[str]:
    with Session(site.engine) as s:
        row = s.exec(select(Subscriber).where(Subscriber.email == "ada@example.org")).one()
    return [e["id"] for e in row.interests.get("library", [])]


def upload(site: Site, manage: str, name: str, body: bytes, csrf: str | None = None,
           **headers: str) -> object:
    return site.client.post(f"{manage}/library", files={"library": (name, body)},
                            data={"csrf_token": csrf if csrf is not None else site.csrf(manage)},
                            headers=headers)


def test_upload_imports_and_reports(site: Site) -> None:
    manage = confirm(site)
    page = site.client.get(manage)
    assert 'enctype="multipart/form-data"' in page.text and f'action="{manage}/library"' in page.text
    answer = upload(site, manage, "My Library.bib", (LIBRARY / "zotero.bib").read_bytes())
    assert answer.status_code == 200  # type: ignore[attr-defined]
    text = answer.text  # type: ignore[attr-defined]
    assert "My Library.bib (BibTeX): 7 papers added — 4 by arXiv id, 1 by DOI" in text
    assert "entry empty_2022 (line 75): no title, arXiv id or DOI" in text
    assert "Your library holds 7 papers." in text
    assert "1706.03762" in library_ids(site) and len(library_ids(site)) == 7
    again = site.client.post(f"{manage}/library", data={"csrf_token": site.csrf(manage),
                                                        "replace": "1"},
                             files={"library": ("zotero.json",
                                                (LIBRARY / "zotero.json").read_bytes())})
    assert "Your library holds 3 papers." in again.text
    saved = site.client.post(manage, data={"csrf_token": site.csrf(manage), "action": "save",
                                           "topics": "speech recognition"})
    assert saved.status_code == 200 and len(library_ids(site)) == 3  # Save keeps the library


def test_bad_files_and_forged_posts_change_nothing(site: Site) -> None:
    manage = confirm(site)
    bad = upload(site, manage, "notes.bib", b"@article{x, title = {unclosed\n")
    assert bad.status_code == 400  # type: ignore[attr-defined]
    assert ("Nothing was imported. notes.bib: cannot read this as BibTeX: no usable entry: "
            "the entry at line 1") in bad.text  # type: ignore[attr-defined]
    empty = upload(site, manage, "empty.ris", b"")
    assert empty.status_code == 400  # type: ignore[attr-defined]
    assert "empty.ris: cannot read this as BibTeX, RIS or CSL-JSON: the file is empty" \
        in empty.text  # type: ignore[attr-defined]
    none = upload(site, manage, "", b"")
    assert none.status_code == 400 and "choose a file" in none.text  # type: ignore[attr-defined]
    big = upload(site, manage, "huge.bib", b"%" * (MAX_UPLOAD + 1))
    assert big.status_code == 413 and "larger than 5 MB" in big.text  # type: ignore[attr-defined]
    body = (LIBRARY / "zotero.bib").read_bytes()
    forged = upload(site, manage, "a.bib", body, csrf="x" * 43)
    assert forged.status_code == 403  # type: ignore[attr-defined]
    cross = upload(site, manage, "a.bib", body, origin="https://evil.example")
    assert cross.status_code == 403  # type: ignore[attr-defined]
    wrong_token = upload(site, manage[:-3] + "abc", "a.bib", body, csrf=site.csrf(manage))
    assert wrong_token.status_code == 400  # type: ignore[attr-defined]
    assert library_ids(site) == []
