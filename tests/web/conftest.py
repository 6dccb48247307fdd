"""Web app fixtures: a config with the file transport, a TestClient, email readers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from digest.config import Config, load_config
from digest.daemon.health import serve_app
from digest.storage.db import open_database


@dataclass
class Site:
    """A running app (TestClient), its config and database, and the sent-mail folder."""

    client: TestClient
    config: Config
    engine: Engine
    outbox: Path

    def csrf(self, path: str = "/") -> str:
        page = self.client.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text[:500]
        return found.group(1)

    def subscribe(self, email: str = "ada@example.org", **fields: Any) -> Any:
        data = {"csrf_token": self.csrf(), "email": email, "topics": "gaussian splatting",
                "keywords": "NeRF, 3DGS", "timezone": "Europe/Berlin", "send_at": "07:30",
                "cadence": "daily", "action": "subscribe", **fields}
        return self.client.post("/", data=data)

    def mails(self, to: str | None = None) -> list[Any]:
        found = []
        for path in sorted(self.outbox.glob("*.eml")):
            msg = message_from_bytes(path.read_bytes(), policy=policy.default)
            if to is None or to in str(msg["To"]):
                found.append(msg)
        return found

    def link(self, kind: str, to: str = "ada@example.org") -> str:
        body = self.mails(to)[-1].get_body(("plain",)).get_content()
        found = re.search(rf"https://digest\.lab\.example(/{kind}/[^\s]+)", body)
        assert found, body
        return found.group(1)


def site_config(tmp_path: Path, db_url: str, extra: dict[str, Any] | None = None,
                **web: Any) -> Path:
    """A config file; each `extra` section is merged over the default one."""
    doc: dict[str, Any] = {"database": db_url,
                           "delivery": {"from": "Paper Digest <digest@lab.example>",
                                        "outbox_dir": "sent",
                                        "base_url": "https://digest.lab.example"},
                           "web": web}
    for key, value in (extra or {}).items():
        doc[key] = {**doc.get(key, {}), **value}
    path = tmp_path / "digest.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def make_site(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "web-test-secret")

    def build(extra: dict[str, Any] | None = None, **web: Any) -> Site:
        config = load_config(site_config(tmp_path, db_url, extra, **web))
        engine = open_database(config.database)
        client = TestClient(serve_app(config, engine), base_url="https://digest.lab.example")
        return Site(client, config, engine, tmp_path / "sent")

    yield build


@pytest.fixture
def site(make_site: Any) -> Site:
    site: Site = make_site()
    return site
