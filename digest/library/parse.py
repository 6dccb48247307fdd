"""Read one library export: decode it, tell its format from its content, parse it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePath

from digest.errors import LibraryFileError
from digest.library.bibtex import parse_bibtex
from digest.library.csl import NotCslJson, parse_csl_json
from digest.library.items import LibraryFormat, LibraryItem, ParsedLibrary, Skipped
from digest.library.ris import looks_like_ris, parse_ris

ANY_FORMAT = "BibTeX, RIS or CSL-JSON"
MAX_FILE_BYTES = 50_000_000  # a 10,000-paper library with abstracts is about 20 MB
_BIBTEX_ENTRY = re.compile(r"^\s*@\s*[A-Za-z]+\s*[{(]", re.M)
_BY_SUFFIX = {".bib": LibraryFormat.BIBTEX, ".bibtex": LibraryFormat.BIBTEX,
              ".ris": LibraryFormat.RIS, ".json": LibraryFormat.CSL_JSON,
              ".csljson": LibraryFormat.CSL_JSON}
Parser = Callable[[str], tuple[list[LibraryItem], list[Skipped], int]]
PARSERS: dict[LibraryFormat, Parser] = {LibraryFormat.BIBTEX: parse_bibtex,
                                        LibraryFormat.RIS: parse_ris,
                                        LibraryFormat.CSL_JSON: parse_csl_json}


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else Latin-1 (older BibTeX files)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def load_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A library file's bytes; LibraryFileError when it cannot be read or is too large."""
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise LibraryFileError(str(path), ANY_FORMAT, exc.strerror or str(exc)) from None
    if len(data) > max_bytes:
        raise LibraryFileError(str(path), ANY_FORMAT,
                               f"the file is larger than {max_bytes // 1_000_000} MB")
    return data


def detect(text: str, name: str) -> LibraryFormat | None:
    """The format the content shows (JSON, an RIS `TY` line, a BibTeX `@type{`), else the
    one the file name's suffix suggests, else None."""
    if text.lstrip()[:1] in ("[", "{"):
        return LibraryFormat.CSL_JSON
    if looks_like_ris(text):
        return LibraryFormat.RIS
    if _BIBTEX_ENTRY.search(text):
        return LibraryFormat.BIBTEX
    return _BY_SUFFIX.get(PurePath(name).suffix.lower())


def read_library(data: bytes, name: str, format: LibraryFormat | None = None) -> ParsedLibrary:
    """Parse an export into items; malformed entries are skipped and listed. A file with no
    usable entry raises LibraryFileError naming the file, the format and where it failed."""
    text = decode(data)
    if "\x00" in text:
        raise LibraryFileError(name, format or ANY_FORMAT, "this is a binary file, not a text "
                                                           "export")
    if not text.strip():
        raise LibraryFileError(name, format or ANY_FORMAT, "the file is empty")
    fmt = format or detect(text, name)
    if fmt is None:
        raise LibraryFileError(name, ANY_FORMAT, "found no BibTeX entry (@article{…}), RIS "
                                                 "record (TY  - …) or CSL-JSON array ([{…}])")
    try:
        items, skipped, count = PARSERS[fmt](text)
    except NotCslJson as exc:
        raise LibraryFileError(name, fmt, str(exc)) from None
    if not items:
        if not count:
            raise LibraryFileError(name, fmt, "it holds no entries")
        first = skipped[0]
        more = f" (and {len(skipped) - 1} more entries fail)" if len(skipped) > 1 else ""
        raise LibraryFileError(name, fmt, f"no usable entry: {first.where}: {first.reason}{more}")
    return ParsedLibrary(fmt, items, skipped)
