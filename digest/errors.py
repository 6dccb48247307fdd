"""One exception tree: every error says what went wrong (`message`) and how to fix it (`hint`).

    DigestError                      exit 1 unless a subclass says otherwise
    ├── ConfigError                  exit 2: the config file is unreadable or invalid
    ├── UnknownSubscriberError       exit 2: a command names nobody
    ├── UnknownSourceError           exit 2: a command names a source the config lacks
    ├── AlreadyRunningError          exit 3: another daemon holds this database
    ├── StorageError                 the database is unreachable or its schema is unexpected
    ├── FetchError                   a feed could not be fetched
    │   ├── TransientFetchError      worth retrying: 408, 425, 429, 5xx, a dropped answer
    │   │   └── UnreachableError     no answer in time, refused, no such host: later only
    │   └── PermanentFetchError      retrying will not help soon: 4xx, oversized, bad URL
    ├── ParseError                   a body is not in the format its source type expects
    ├── LibraryFileError             exit 2: an imported library file cannot be read at all
    ├── SemanticUnavailableError     the semantic ranker is on but its packages are missing
    ├── DeliveryError                a message was not accepted (`temporary`, `down`)
    └── TokenError                   a link is tampered, expired, revoked or for another use

Commands print `error: <message> (<hint>)` and exit with the class's `exit_code`.
"""

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


class UnknownSubscriberError(DigestError):
    """A command names a subscriber who is neither in the config nor in the database."""

    exit_code = 2


class UnknownSourceError(DigestError):
    """A command names a source that is not in the config."""

    exit_code = 2


class AlreadyRunningError(DigestError):
    """Another daemon holds the lock on this database."""

    exit_code = 3


class StorageError(DigestError):
    """The database is unreachable or its schema is not what this version expects."""


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


class UnreachableError(TransientFetchError):
    """No answer within the deadline, a refused connection or an unknown host: worth trying
    again later (the feed backs off), not within the same poll."""


class PermanentFetchError(FetchError):
    """A fetch failure that retrying will not fix soon: 4xx, oversized body, bad URL."""


class ParseError(DigestError):
    """A feed body is not in the format its source type expects."""


class LibraryFileError(DigestError):
    """A library export (BibTeX, RIS, CSL-JSON) that cannot be read at all: empty, in no known
    format, or without one usable entry; the message names the file, the format tried and the
    line or entry where reading failed."""

    exit_code = 2

    def __init__(self, file: str, format: str, problem: str) -> None:
        self.file, self.format, self.problem = file, format, problem
        super().__init__(f"{file}: cannot read this as {format}: {problem}",
                         "export the library again from your reference manager as BibTeX "
                         "(.bib), RIS (.ris) or CSL JSON (.json)")


class SemanticUnavailableError(DigestError):
    """The semantic ranker is enabled but its packages or model are missing."""


class DeliveryError(DigestError):
    """A message was not accepted. `temporary`: try again later; `down`: stop this batch;
    `on_wire`: it broke while this message was being sent, so it counts as this message's
    attempt (a message that always breaks the connection must not block the queue); `busy`:
    the server refused one more connection (421), so the sender uses fewer."""

    def __init__(self, message: str, hint: str = "", *, temporary: bool, down: bool = False,
                 on_wire: bool = False, busy: bool = False):
        super().__init__(message, hint)
        self.temporary = temporary
        self.down = down
        self.on_wire = on_wire
        self.busy = busy


class TokenError(DigestError):
    """A link token is tampered, expired, revoked or meant for another purpose."""
