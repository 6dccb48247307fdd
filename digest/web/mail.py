"""Transactional emails of the web app: confirm your address, your manage link. They are queued
in the outbox like digests (retried, sent once) and sent right after the response."""

from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.compose.message import header_policy, mail_address
from digest.config import Config
from digest.deliver.outbox import deliver_row
from digest.storage.models import DigestKind, Subscriber
from digest.storage.outbox import queue_notice

log = logging.getLogger(__name__)

BODIES = {
    "confirm": ("Confirm your paper digest subscription",
                "Someone (hopefully you) asked to receive a daily paper digest at this address.\n\n"
                "Confirm here: {link}\n\n"
                "If it was not you, ignore this email: nothing is sent until you confirm.\n"),
    "manage": ("Your paper digest settings",
               "Here is the link to change your paper digest interests, pause or unsubscribe:\n\n"
               "{link}\n\nIf you did not ask for it, you can ignore this email.\n"),
}


def build_notice(config: Config, kind: str, recipient: str, link: str, now: datetime,
                 message_id: str | None = None) -> bytes:
    """A short plain-text email with one link."""
    subject, body = BODIES[kind]
    msg = EmailMessage(policy=header_policy(recipient, config.delivery.from_address))
    msg["From"] = config.delivery.from_
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id or make_msgid(idstring=kind, domain=config.delivery.list_domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body.format(link=link))
    return msg.as_bytes()


def queue_mail(session: Session, config: Config, kind: DigestKind, row: Subscriber, link: str,
               now: datetime) -> int:
    """Queue one notice in the outbox, in the caller's transaction; its row id."""
    address = mail_address(row.email)
    message_id = make_msgid(idstring=kind.value, domain=config.delivery.list_domain)
    message = build_notice(config, kind.value, address, link, now, message_id)
    queued = queue_notice(session, row.id or 0, kind, address, BODIES[kind.value][0],
                          message_id, message, now)
    return queued.id or 0


async def send_queued(engine: Engine, config: Config, row_id: int) -> None:
    """Send a queued notice now (after the response); when it cannot go out, the delivery
    loop retries it. Never raises: the page has been answered already."""
    try:
        report = await deliver_row(engine, config, row_id)
    except Exception:  # logged without the message (it carries the user's link)
        log.exception("could not send queued notice %d now; the delivery loop retries it", row_id)
        return
    for error in report.errors:
        log.warning("notice %d: %s", row_id, error)
    if report.retry:
        log.info("notice %d stays queued; the delivery loop retries it", row_id)
