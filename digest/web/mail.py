"""Transactional emails of the web app: confirm your address, your manage link."""

from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from digest.compose.message import header_policy, mail_address
from digest.config import Config
from digest.deliver.mailer import make_mailer
from digest.errors import DigestError

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


def build_notice(config: Config, kind: str, recipient: str, link: str, now: datetime) -> bytes:
    """A short plain-text email with one link."""
    subject, body = BODIES[kind]
    msg = EmailMessage(policy=header_policy(recipient, config.delivery.from_address))
    msg["From"] = config.delivery.from_
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(idstring=kind, domain=config.delivery.list_domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body.format(link=link))
    return msg.as_bytes()


async def send_notice(config: Config, kind: str, recipient: str, link: str,
                      now: datetime) -> bool:
    """Send one notice through the configured transport; failures are logged, not shown."""
    try:
        address = mail_address(recipient)
        async with make_mailer(config) as mailer:
            await mailer.send(config.delivery.from_address, address,
                              build_notice(config, kind, address, link, now))
    except Exception as exc:  # a notice never breaks the page; the reason is logged
        log.error("could not send the %s email to %s: %s", kind, recipient, exc,
                  exc_info=not isinstance(exc, DigestError))
        return False
    return True
