"""The `make demo` digests, built in a temporary folder: the bundled captures, polled and composed."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import yaml
from sqlmodel import Session, select

from digest.cli import main
from digest.storage.db import open_database
from digest.storage.models import Outbox, OutboxPaper, Paper

DEMO_CONFIG = Path(__file__).parents[1] / "config" / "demo.yaml"


@dataclass
class DemoDigest:
    """One composed demo digest: its row, parsed message and placed papers with their rows."""

    row: Outbox
    message: EmailMessage
    placed: list[tuple[OutboxPaper, Paper]]

    @property
    def html(self) -> str:
        """The HTML part."""
        return str(self.message.get_body(("html",)).get_content())  # type: ignore[union-attr]

    @property
    def text(self) -> str:
        """The plain-text part."""
        return str(self.message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def demo_config(folder: Path) -> Path:
    """A copy of config/demo.yaml whose database and outbox live in `folder`."""
    doc = yaml.safe_load(DEMO_CONFIG.read_text())
    doc["database"] = f"sqlite:///{folder / 'demo.db'}"
    doc["delivery"]["outbox_dir"] = str(folder / "outbox")
    for source in doc["sources"]:
        source["path"] = str(DEMO_CONFIG.parent / source["path"])
    path = folder / "demo.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run_demo(folder: Path) -> list[DemoDigest]:
    """Run what `make demo` runs (one forced daemon cycle) and return the digests it wrote."""
    config = demo_config(folder)
    assert main(["run", "-c", str(config), "--once", "--force"]) == 0
    with Session(open_database(f"sqlite:///{folder / 'demo.db'}")) as s:
        rows = list(s.exec(select(Outbox).order_by(Outbox.id)).all())  # type: ignore[arg-type]
        return [DemoDigest(row, _parse(row.message or b""), _placed(s, row)) for row in rows]


def _parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _placed(session: Session, row: Outbox) -> list[tuple[OutboxPaper, Paper]]:
    query = (select(OutboxPaper, Paper).join(Paper, Paper.id == OutboxPaper.paper_id)  # type: ignore[arg-type]
             .where(OutboxPaper.outbox_id == row.id).order_by(OutboxPaper.position))
    return [(placed, paper) for placed, paper in session.exec(query).all()]
