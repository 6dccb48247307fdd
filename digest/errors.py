"""One exception tree: every error says what went wrong and how to fix it."""

from __future__ import annotations


class DigestError(Exception):
    """Base class of every paper-digest error; `hint` says how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(DigestError):
    """The configuration file is unreadable or invalid; `problems` lists each one."""

    exit_code = 2

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


class FetchError(DigestError):
    """A feed could not be fetched."""

    def __init__(self, message: str, hint: str = "", status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.retry_after = retry_after
        self.body: bytes | None = None


class TransientFetchError(FetchError):
    """A fetch failure worth retrying later: timeouts, 408, 429, 5xx, dropped connections."""


class PermanentFetchError(FetchError):
    """A fetch failure that retrying will not fix soon: 4xx, oversized body, bad URL."""


class ParseError(DigestError):
    """A feed body is not in the format its source type expects."""


class StorageError(DigestError):
    """The database is unreachable or its schema is not what this version expects."""
