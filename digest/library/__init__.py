"""A subscriber's reference library as a warm start: BibTeX, RIS and CSL-JSON exports parsed
(pure, no database) into items, then resolved into liked papers (`digest.library.resolve`)."""

from digest.library.items import LibraryFormat, LibraryItem, ParsedLibrary, Skipped
from digest.library.parse import read_library

__all__ = ["LibraryFormat", "LibraryItem", "ParsedLibrary", "Skipped", "read_library"]
