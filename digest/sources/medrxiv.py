"""medRxiv: the same `details` API and record shape as bioRxiv (see `biorxiv`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from digest.sources import biorxiv
from digest.sources.base import SourceType


class MedrxivSource(biorxiv.PreprintServerSource):
    """medRxiv preprints."""

    type: Literal["medrxiv"]
    server: ClassVar[str] = "medrxiv"


TYPE = SourceType("medrxiv", biorxiv.parse, biorxiv.first_urls, biorxiv.next_page,
                  interval_minutes=1440)
