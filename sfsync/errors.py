"""Errors raised by sfsync, grouped by what the caller should do about them.

::

    SfsyncError                      root: anything sfsync raises on purpose
    ├── ConfigError                  fix the project file / mapping (exit code 2)
    ├── SourceError                  the warehouse could not be read (connection, SQL, missing table)
    ├── StateError                   the local state store is unusable (corrupt, locked for too long)
    └── SalesforceError              Salesforce answered with an error that is not a per-row rejection
        ├── TransientError           retry later with backoff (429, 5xx, UNABLE_TO_LOCK_ROW, resets)
        ├── AuthError                credentials wrong, session cannot be refreshed
        ├── LimitError               daily API quota exhausted or the configured share reached: stop
        └── SalesforceConfigError    unknown object/field or a request the org refuses as malformed

Row-level rejections (a record Salesforce refused) are data, never exceptions. Messages say how to fix
the problem and never contain a secret.
"""

from __future__ import annotations


class SfsyncError(Exception):
    """Root of every error sfsync raises on purpose."""

    exit_code = 1
    #: the run this error ended, when it ended one (set by the sync engine)
    run_id: int | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

    def full_text(self) -> str:
        """The message, every problem it groups, and the hint: what run history stores."""
        problems = [p for p in getattr(self, "problems", None) or [] if p != self.message]
        lines = [self.message, *(f"  - {p}" for p in problems)]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class ConfigError(SfsyncError):
    """The project (file, mapping, reference) is wrong; the user must fix it. Nothing was written."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        problems: list[str] | None = None,
        file: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or [message]
        self.file = file


class SourceError(SfsyncError):
    """A warehouse source could not be reached or a model's query failed."""

    def __init__(
        self, message: str, *, source: str | None = None, model: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.source = source
        self.model = model


class StateError(SfsyncError):
    """The local state store (snapshots, run history) cannot be used."""


class SalesforceError(SfsyncError):
    """Salesforce answered with an error that stops the current operation."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        hint: str | None = None,
        object: str | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.object = object
        self.job_id = job_id


class TransientError(SalesforceError):
    """Temporary failure (429, 5xx, lock contention, connection reset): retry with backoff."""


class AuthError(SalesforceError):
    """Authentication failed or the session expired and cannot be refreshed."""

    exit_code = 2


class LimitError(SalesforceError):
    """The daily API quota is exhausted (or the configured share of it is used): stop, do not hammer."""


class SalesforceConfigError(SalesforceError):
    """The org refused the request as malformed: unknown object or field, bad query, wrong type."""

    exit_code = 2


__all__ = [
    "AuthError",
    "ConfigError",
    "LimitError",
    "SalesforceConfigError",
    "SalesforceError",
    "SfsyncError",
    "SourceError",
    "StateError",
    "TransientError",
]
