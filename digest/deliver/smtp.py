"""The SMTP transport: one reused connection, STARTTLS / TLS / plain; 4xx temporary, 5xx not."""

from __future__ import annotations

import asyncio
import ssl
import time

import aiosmtplib
from aiosmtplib import errors

from digest.config.delivery import SmtpConfig
from digest.errors import DeliveryError

BUSY = 421  # "too many connections" / "service not available, closing channel"


def tls_context(cfg: SmtpConfig) -> ssl.SSLContext:
    """Certificate checks on by default; a private CA file or (explicitly) none at all."""
    ctx = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
    if not cfg.verify_tls:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Pacer:
    """Spaces sends at most `per_second` a second, over every connection that shares it."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self._next = 0.0

    async def wait(self) -> None:
        """Return when the next send may start."""
        if self.per_second <= 0:
            return
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + 1.0 / self.per_second
        if start > now:
            await asyncio.sleep(start - now)


class SmtpMailer:
    """aiosmtplib client reused for a whole batch; reconnects once when the server drops it.
    Connections that send side by side share one `pacer` (delivery.smtp.max_per_second)."""

    def __init__(self, cfg: SmtpConfig, pacer: Pacer | None = None) -> None:
        self.cfg = cfg
        self._client: aiosmtplib.SMTP | None = None
        self.pacer = pacer or Pacer(cfg.max_per_second)

    async def __aenter__(self) -> SmtpMailer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None and self._client.is_connected:
            try:
                await self._client.quit()
            except errors.SMTPException:
                self._client.close()
        self._client = None

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self.cfg
        if cfg.username and cfg.password() is None:
            raise DeliveryError(f"the environment variable {cfg.password_env} (named by "
                                "delivery.smtp.password_env) is not set",
                                "set it to the SMTP password where digest runs; digests stay queued",
                                temporary=True, down=True)
        client = aiosmtplib.SMTP(
            hostname=cfg.host, port=cfg.port, timeout=cfg.timeout,
            use_tls=cfg.security == "tls", start_tls=cfg.security == "starttls",
            tls_context=tls_context(cfg) if cfg.security != "none" else None)
        try:
            await client.connect()
            if cfg.username:
                await client.login(cfg.username, cfg.password() or "")
        except errors.SMTPConnectResponseError as exc:
            if exc.code == BUSY:
                raise self._busy(exc.message) from exc
            raise DeliveryError(f"the SMTP server {cfg.host}:{cfg.port} answered {exc.code} "
                                f"{exc.message}", "digests stay queued and are retried",
                                temporary=True, down=True) from exc
        except errors.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused: {exc.code} {exc.message}",
                                "check delivery.smtp.username and the password variable",
                                temporary=True, down=True) from exc
        except (errors.SMTPException, OSError) as exc:
            raise DeliveryError(f"cannot reach the SMTP server {cfg.host}:{cfg.port}: {exc}",
                                "digests stay queued and are retried",
                                temporary=True, down=True) from exc
        self._client = client
        return client

    def _busy(self, text: str) -> DeliveryError:
        """421: the server takes no more connections (or wants a pause); not the message's fault."""
        self._client = None  # aiosmtplib has closed it
        return DeliveryError(f"the SMTP server {self.cfg.host}:{self.cfg.port} is busy: 421 "
                             f"{' '.join(str(text).split())[:200]}",
                             "fewer connections are used and the digest stays queued",
                             temporary=True, down=True, busy=True)

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Send over the shared connection; 4xx/connection problems are temporary, 5xx not."""
        await self.pacer.wait()
        options = ["SMTPUTF8"] if not (sender + recipient).isascii() else []
        for attempt in (1, 2):
            client = self._client if self._client and self._client.is_connected \
                else await self._connect()
            try:
                await client.sendmail(sender, [recipient], message, mail_options=options)
                return
            except errors.SMTPNotSupported as exc:
                raise DeliveryError(
                    f"the mail server does not offer SMTPUTF8 (RFC 6531), which the address "
                    f"{recipient!r} needs", "use a server that supports internationalised "
                    "addresses, or give this subscriber an ASCII address", temporary=False) from exc
            except errors.SMTPServerDisconnected as exc:
                self._client = None
                if attempt == 2:
                    raise DeliveryError(f"SMTP server disconnected: {exc}", "retried later",
                                        temporary=True, down=True, on_wire=True) from exc
            except errors.SMTPSenderRefused as exc:  # the same sender for every message
                if exc.code == BUSY:
                    raise self._busy(exc.message) from exc
                raise DeliveryError(f"SMTP {exc.code} for the sender {sender}: {exc.message}",
                                    "check delivery.from and the server's sender rules; "
                                    "digests stay queued", temporary=True, down=True) from exc
            except errors.SMTPRecipientsRefused as exc:
                refused = exc.recipients[0]
                if refused.code == BUSY:
                    raise self._busy(refused.message) from exc
                raise _by_code(refused.code, refused.message) from exc
            except errors.SMTPResponseException as exc:
                if exc.code == BUSY:
                    raise self._busy(exc.message) from exc
                raise _by_code(exc.code, exc.message) from exc
            except (errors.SMTPTimeoutError, OSError) as exc:
                self._client = None
                raise DeliveryError(f"SMTP connection failed: {exc}", "retried later",
                                    temporary=True, down=True, on_wire=True) from exc


def _by_code(code: int, text: str) -> DeliveryError:
    message = f"SMTP {code}: {' '.join(str(text).split())[:300]}"
    if 400 <= code < 500:
        return DeliveryError(message, "the server asked to retry later", temporary=True)
    return DeliveryError(message, "the server refused this message", temporary=False)


