"""The subscribe form names each arXiv category, not only its code."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from digest.storage.models import Subscriber
from tests.web.conftest import Site


def test_categories_are_named_and_still_submitted_by_code(site: Site) -> None:
    page = site.client.get("/").text
    labels = re.findall(r'value="([^"]+)"> ([^<]+) <span class="hint">([^<]+)</span>', page)
    named = {code: name for code, name, shown in labels if code == shown}
    assert named["cs.CV"] == "Computer Vision and Pattern Recognition"
    assert named["cs.SD"] == "Sound" and len(named) >= 30
    assert "Pick categories from the list." in site.subscribe(categories=["nonsense"]).text
    assert site.subscribe(categories=["cs.SD", "cs.CV"]).status_code == 200
    with Session(site.engine) as s:
        row = s.exec(select(Subscriber).where(Subscriber.email == "ada@example.org")).one()
    assert sorted(row.interests["categories"]) == ["cs.CV", "cs.SD"]
