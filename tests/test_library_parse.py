"""Library exports (BibTeX, RIS, CSL-JSON) as reference managers write them -> items."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.errors import LibraryFileError
from digest.library import LibraryFormat, LibraryItem, read_library
from digest.library.parse import load_file

LIBRARY = Path(__file__).parent / "data" / "library"


def parse(name: str) -> tuple[dict[str, LibraryItem], list[str]]:
    parsed = read_library((LIBRARY / name).read_bytes(), name)
    return {i.title: i for i in parsed.items}, [f"{s.where}: {s.reason}" for s in parsed.skipped]


def test_zotero_bibtex() -> None:
    items, skipped = parse("zotero.bib")
    assert len(items) == 7
    attention = items["Attention Is All You Need"]  # braces kept for case are dropped
    assert attention.arxiv_id == "1706.03762" and attention.doi is None  # arXiv DOI -> arXiv id
    assert attention.year == 2017 and attention.authors == ("Ashish Vaswani", "Noam Shazeer",
                                                            "Niki Parmar")  # "others" dropped
    assert "the Transformer, based solely" in attention.abstract
    splat = items["3D Gaussian Splatting for Real-Time Radiance Field Rendering"]
    assert splat.arxiv_id == "2308.04079"  # eprint + archivePrefix, version dropped
    assert "Thomas Leimkühler" in splat.authors  # {\"u}
    kernel = items["Nonlinear Component Analysis as a Kernel Eigenvalue Problem"]  # "quoted"
    assert kernel.doi == "10.1162/089976698300017467"  # from a doi.org URL
    assert kernel.authors == ("Bernhard Schölkopf", "Alexander Smola", "Klaus-Robert Müller")
    assert items["The Large N Limit of Superconformal Field Theories and Supergravity"] \
        .arxiv_id == "hep-th/9711200"  # old-style id in `journal`
    assert items["LLaMA: Open and Efficient Foundation Language Models"].arxiv_id == "2302.13971"
    book = items["Teoría de la señal: Fundamentos para Ingeniería"]  # \'\i, \~n, \'{i}
    assert book.authors == ("José García", "Jürgen Straßer") and book.year is None
    assert book.arxiv_id is None and book.doi is None
    nerf = items["NeRF: Representing Scenes as Neural Radiance Fields for View Synthesis"]
    assert nerf.arxiv_id is None and nerf.doi is None and nerf.abstract
    assert skipped == [
        "the entry at line 63: Unexpected block start: '@article'. Was still looking for "
        "field-value closing '}'",
        "entry empty_2022 (line 75): no title, arXiv id or DOI"]


def test_bibtex_string_macros_and_concatenation() -> None:
    text = (b'@string{ conf = "Neural " # {Information} }\n'
            b'@STRING{full = "Proc. " # Conf}\n'
            b'@inproceedings{a, title = "On " # full # {, {II}}, month = jun, '
            b"url = {https://arxiv.org/pdf/2301.01234v3.pdf}}\n")
    item = read_library(text, "refs.txt").items[0]
    assert item.title == "On Proc. Neural Information, II" and item.arxiv_id == "2301.01234"


def test_mendeley_ris_with_crlf() -> None:
    assert b"\r\n" in (LIBRARY / "mendeley.ris").read_bytes()
    items, skipped = parse("mendeley.ris")
    assert len(items) == 4
    nerf = items["NeRF: Representing Scenes as Neural Radiance Fields for View Synthesis"]
    assert nerf.doi == "10.1145/3503250" and nerf.year == 2021
    assert nerf.abstract.endswith("using a sparse set of input views.")  # wrapped lines joined
    assert items["3D Gaussian Splatting for Real-Time Radiance Field Rendering"] \
        .arxiv_id == "2308.04079"
    assert items["Language Models are Few-Shot Learners"].arxiv_id == "2005.14165"
    assert items["Ungeordnete Gedanken über Spektralmethoden"].authors == ("Jürgen Müller",)
    assert skipped == ["the entry at line 38: no ER line before the next TY at line 41"]


def test_zotero_csl_json() -> None:
    items, skipped = parse("zotero.json")
    llama = items["LLaMA: Open and Efficient Foundation Language Models"]
    assert llama.arxiv_id == "2302.13971" and llama.year == 2023 and llama.doi is None
    assert llama.authors == ("Hugo Touvron", "Thibaut Lavril") and "7B to 65B" in llama.abstract
    deep = items["Deep learning"]
    assert deep.doi == "10.1038/nature14539" and deep.year == 2015
    assert items["Scaling Gaussian Splats to City Blocks"].authors == ("The Splat Collective",)
    assert [s.split(":")[0] for s in skipped] == [
        "item 4 (http", "item 5"]


def test_format_is_read_from_the_content() -> None:
    bib = (LIBRARY / "zotero.bib").read_bytes()
    assert read_library(bib, "export.txt").format is LibraryFormat.BIBTEX
    assert read_library((LIBRARY / "mendeley.ris").read_bytes(), "a.bib").format \
        is LibraryFormat.RIS
    assert read_library(b'\xef\xbb\xbf[{"title": "T"}]', "x.ris").format \
        is LibraryFormat.CSL_JSON  # with a UTF-8 BOM
    utf16 = "TY  - JOUR\r\nTI  - Über\r\nER  - \r\n".encode("utf-16")
    assert read_library(utf16, "endnote.txt").items[0].title == "Über"


@pytest.mark.parametrize(("data", "name", "expected"), [
    (b"", "empty.bib", "empty.bib: cannot read this as BibTeX, RIS or CSL-JSON: the file is "
                       "empty"),
    (b"Dear reviewer,\nplease find attached.\n", "letter.txt",
     "letter.txt: cannot read this as BibTeX, RIS or CSL-JSON: found no BibTeX entry"),
    (b"% only a comment\n", "refs.bib", "refs.bib: cannot read this as BibTeX: it holds no "
                                        "entries"),
    (b"@article{a, title = {never closed\n", "refs.bib",
     "refs.bib: cannot read this as BibTeX: no usable entry: the entry at line 1: "),
    (b'[{"title": "x"}, ', "lib.json", "lib.json: cannot read this as CSL-JSON: invalid JSON at "
                                       "line 1, column"),
    (b'{"data": 3}', "lib.json", "lib.json: cannot read this as CSL-JSON: no usable entry: "
                                 "item 1: no title, arXiv id or DOI"),
    (b"TY  - JOUR\nTI  - cut short", "lib.ris", "lib.ris: cannot read this as RIS: no usable "
                                                "entry: the entry at line 1: no ER line at the "
                                                "end (is the file cut short?)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "photo.bib", "photo.bib: cannot read this as BibTeX, RIS or "
                                                "CSL-JSON: this is a binary file"),
])
def test_a_bad_file_gets_one_clear_error(data: bytes, name: str, expected: str) -> None:
    with pytest.raises(LibraryFileError) as caught:
        read_library(data, name)
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "export the library again" in str(caught.value) and caught.value.exit_code == 2


def test_unreadable_or_oversized_file(tmp_path: Path) -> None:
    with pytest.raises(LibraryFileError, match="No such file"):
        load_file(tmp_path / "missing.bib")
    big = tmp_path / "big.bib"
    big.write_bytes(b"%" * 2_000_001)
    with pytest.raises(LibraryFileError, match="larger than 2 MB"):
        load_file(big, max_bytes=2_000_000)


BIBTEX_BITS = st.sampled_from(
    ["@article{", "@string{", "@comment{", "@preamble{", "@misc(", "key,", "title = ", "= ",
     "{", "}", '"', "#", ",", "\\", '{\\"o}', "\\'", "and ", "eprint", "arXiv:2301.01234",
     "hep-th/9901001", "doi = {10.1/x}", "\n", " ", "%", "@", "(", ")", "jan", "é", "\x00"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.lists(BIBTEX_BITS, max_size=80).map("".join)))
def test_bibtex_parser_raises_only_the_projects_error(text: str) -> None:
    try:
        parsed = read_library(text.encode("utf-8", "surrogatepass"), "fuzz.bib",
                              LibraryFormat.BIBTEX)
    except LibraryFileError as exc:
        assert exc.format in ("BibTeX", "BibTeX, RIS or CSL-JSON")
    else:
        assert parsed.items and all(i.title or i.arxiv_id or i.doi for i in parsed.items)
