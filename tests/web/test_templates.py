"""Web pages come from `delivery.templates_dir` first; links built from paper data are checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from digest.clock import utcnow
from digest.storage.db import session_scope
from digest.storage.models import Paper
from tests.web.conftest import Site

OWN_MESSAGE = """{% extends "web/base.html.j2" %}
{% block content %}<h1>Our lab says: {{ heading }}</h1>{% endblock %}
"""


def test_a_page_in_templates_dir_replaces_the_shipped_one(make_site: Any, tmp_path: Path) -> None:
    (tmp_path / "own" / "web").mkdir(parents=True)
    (tmp_path / "own" / "web" / "message.html.j2").write_text(OWN_MESSAGE)
    site: Site = make_site({"delivery": {"templates_dir": "own"}})
    page = site.client.get("/confirm/not-a-token")
    assert page.status_code == 400 and "<h1>Our lab says: This link is not valid</h1>" in page.text
    assert 'name="email"' in site.client.get("/").text  # pages not overridden are the shipped ones


def test_preview_never_links_a_javascript_url(site: Site) -> None:
    with session_scope(site.engine) as s:
        s.add(Paper(canonical_id="2601.00001", title="Gaussian splatting for robots",
                    abstract="We apply gaussian splatting to robot grasping.",
                    url="javascript:alert(1)", first_seen_at=utcnow()))
    page = site.client.post("/", data={"csrf_token": site.csrf(), "action": "preview",
                                       "topics": "gaussian splatting"})
    assert page.status_code == 200 and "Gaussian splatting for robots" in page.text
    assert "javascript:" not in page.text and "<article" in page.text
