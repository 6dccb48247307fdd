"""`digest subscribers list|export|remove` for the operator."""

from __future__ import annotations

import json

import pytest

from digest.cli import main
from tests.web.conftest import Site


def test_list_export_remove(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.subscribe("ada@example.org")
    site.subscribe("bob@example.org")
    config = str(site.config.path)
    capsys.readouterr()
    assert main(["subscribers", "list", "-c", config]) == 0
    listed = capsys.readouterr().out
    assert "ada@example.org" in listed and "pending" in listed
    assert main(["subscribers", "export", "-c", config]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["email"] for r in rows] == ["ada@example.org", "bob@example.org"]
    assert rows[0]["topics"] == ["gaussian splatting"] and rows[0]["origin"] == "web"
    assert rows[0]["cadence"] == "daily" and rows[0]["weekly_day"] == "mon"
    assert main(["subscribers", "remove", "-c", config, "bob@example.org"]) == 0
    assert main(["subscribers", "remove", "-c", config, "nobody@example.org"]) == 2
    capsys.readouterr()
    main(["subscribers", "export", "-c", config])
    assert "bob@example.org" not in capsys.readouterr().out
