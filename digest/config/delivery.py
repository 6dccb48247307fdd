"""Delivery configuration: transport, sender, links, SMTP settings."""

from __future__ import annotations

import os
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


QUOTA_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class SendQuota(_Strict):
    """At most `limit` messages to this SMTP server per calendar `per` (UTC), all replicas
    together; a message over it waits in the queue."""

    limit: int = Field(ge=1)
    per: Literal["second", "minute", "hour", "day"]

    @property
    def seconds(self) -> int:
        """The window's length."""
        return QUOTA_SECONDS[self.per]


class SmtpConfig(_Strict):
    """How to reach the mail server; the password comes from an environment variable."""

    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    timeout: float = Field(30.0, gt=0, le=600)
    verify_tls: bool = True
    ca_file: Path | None = None
    max_per_second: float = Field(0.0, ge=0)   # per replica, over all its connections
    connections: int = Field(2, ge=1, le=32)   # concurrent SMTP sessions per replica
    quotas: tuple[SendQuota, ...] = ()         # the provider's limits, shared by every replica

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value or any(c in value for c in " \r\n/"):
            raise ValueError("use a host name such as mail.example.org")
        return value

    @property
    def server(self) -> str:
        """The account quotas are counted for: user@host:port."""
        return f"{self.username or ''}@{self.host}:{self.port}"

    def password(self) -> str | None:
        """The password from the environment (never from the config file)."""
        return os.environ.get(self.password_env) if self.password_env else None


class DeliveryConfig(_Strict):
    """Where digests go and what they look like."""

    transport: Literal["smtp", "file"] = "file"
    from_: str = Field("Paper Digest <digest@localhost>", alias="from")
    base_url: HttpUrl = HttpUrl("http://localhost:8080")
    outbox_dir: Path = Path("var/outbox")
    smtp: SmtpConfig = SmtpConfig()
    unsubscribe_mailto: str | None = None
    empty_digest: Literal["skip", "note"] = "skip"
    trending_count: int = Field(3, ge=0, le=20)
    templates_dir: Path | None = None
    pause_after_failures: int = Field(3, ge=1, le=100)
    retry_minutes: float = Field(5.0, gt=0)
    max_attempts: int = Field(50, ge=1)
    claim_timeout_seconds: float = Field(600.0, ge=0)
    secret_key_env: str = "DIGEST_SECRET_KEY"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str) -> str:
        if "\r" in value or "\n" in value or "@" not in parseaddr(value)[1]:
            raise ValueError('use "Name <address@example.org>" or a bare address, on one line')
        return value

    @model_validator(mode="after")
    def _smtp_password(self) -> DeliveryConfig:
        if self.transport == "smtp" and self.smtp.username and not self.smtp.password_env:
            raise ValueError("smtp.username is set but smtp.password_env is not; name the "
                             "environment variable that holds the password")
        return self

    @property
    def from_address(self) -> str:
        """The bare sender address."""
        return parseaddr(self.from_)[1]

    @property
    def list_domain(self) -> str:
        """The sender's domain, for List-Id and the unsubscribe mailto."""
        return self.from_address.rsplit("@", 1)[-1]
