"""Errors raised by sfsync, grouped by what the caller should do about them.

::

    SfsyncError                      root: anything sfsync raises on purpose (problems, hint, run_id)
    ├── ConfigError                  fix the project file / mapping (exit code 2); nothing was written
    │   ├── ProjectFileError         the project file itself: each problem with file:line and key path
    │   └── SyncRefused              the web UI's editor refused an edit (sfsync.yml left as it was)
    ├── NotFoundError                a sync, run, model, destination or job named by the caller does not
    │                                exist (exit code 2; HTTP 404)
    ├── ConflictError                the sync refuses this now; wait or change its state (HTTP 409)
    │   ├── SyncBusyError            another process (or run) holds the sync's run lock
    │   ├── SyncPausedError          the sync is paused: resume it first
    │   └── SchedulerRunningError    another scheduler already serves this project
    ├── SourceError                  the warehouse could not be read (connection, SQL, missing table)
    ├── StateError                   the local state store is unusable (corrupt, unwritable, too new)
    │   └── LeaseLostError           a run lost its sync's run lease (PostgreSQL state) and stopped sending
    ├── RemovalGuardError            a run would remove more rows' records than on_row_removed allows
    │                                (or its model came back empty): stopped before writing anything
    ├── NotifierError                a notification could not be delivered (``retryable`` says if later may)
    └── SalesforceError              Salesforce answered with an error that is not a per-row rejection
        ├── TransientError           retry later with backoff (429, 5xx, UNABLE_TO_LOCK_ROW, resets)
        │   └── UnreachableError     no answer at all: connection refused, DNS failure, timeout
        ├── AuthError                credentials wrong, session cannot be refreshed
        ├── LimitError               daily API quota exhausted or the configured share reached: stop
        └── SalesforceConfigError    unknown object/field or a request the org refuses as malformed

Row-level rejections (a record Salesforce refused) are data, never exceptions. Messages say how to fix
the problem and never contain a secret. ``tests/test_layers.py`` checks that no other module of sfsync
(outside the standalone emulator) defines an exception class. A Ctrl-C is no error of sfsync's: it
stays KeyboardInterrupt, and :func:`is_interrupt` also recognises the forms DuckDB turns it into.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SfsyncError(Exception):
    """Root of every error sfsync raises on purpose.

    ``problems``: every problem the error groups (a ConfigError lists all mapping problems at once);
    by default just the message. ``run_id``: the run this error ended, when it ended one (the sync
    engine sets it).
    """

    exit_code = 1

    def __init__(
        self, message: str, *, hint: str | None = None, problems: Sequence[str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems: list[str] = list(problems) if problems else [message]
        self.run_id: int | None = None

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message

    @property
    def other_problems(self) -> list[str]:
        """The problems beyond the message itself (empty when the message says it all)."""
        return [p for p in self.problems if p != self.message]

    def full_text(self) -> str:
        """The message, every problem it groups, and the hint: what run history stores."""
        lines = [self.message, *(f"  - {p}" for p in self.other_problems)]
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
        problems: Sequence[str] | None = None,
        file: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, problems=problems)
        self.file = file


class ProjectFileError(ConfigError):
    """A project file with problems; ``details`` holds them structured (``sfsync.config.ConfigProblem``:
    file, key path, line, message), ``problems`` as text."""

    def __init__(self, file: str, details: Sequence[Any], *, hint: str | None = None) -> None:
        count = len(details)
        message = str(details[0]) if count == 1 else f"{file}: {count} problems in the project file"
        super().__init__(
            message,
            hint=hint or "fix each problem listed; docs/project-file.md describes every key",
            problems=[str(p) for p in details],
            file=file,
        )
        self.details = list(details)


class SyncRefused(ConfigError):
    """The web UI's editor did not save a sync; ``items`` says why (each with its key or column/field)."""

    def __init__(self, message: str, items: Sequence[Any]) -> None:
        super().__init__(message, problems=[str(getattr(p, "message", p)) for p in items])
        self.items = list(items)


class NotFoundError(SfsyncError):
    """Something the caller named (a sync, run, model, segment, destination or job) does not exist."""

    exit_code = 2

    def __init__(self, message: str, *, what: str, name: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.what = what
        self.name = name


class ConflictError(SfsyncError):
    """The sync (or project) cannot do this right now because of its state; retry later or change it."""

    def __init__(self, message: str, *, sync: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.sync = sync


class SyncBusyError(ConflictError):
    """The sync is being run by another process (or another run in this one).

    ``owner`` describes who holds the lock (pid, host, since, run), ``owner_run_id`` its run if known.
    """

    def __init__(
        self,
        message: str,
        *,
        sync: str,
        owner: str | None = None,
        owner_run_id: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, sync=sync, hint=hint)
        self.owner = owner
        self.owner_run_id = owner_run_id


class SyncPausedError(ConflictError):
    """A run was asked of a paused sync where paused syncs are not run (the web UI's Run now)."""


class SchedulerRunningError(ConflictError):
    """Another scheduler already serves this project."""


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


class LeaseLostError(StateError):
    """A run could not renew its sync's run lease in time (the worker stalled, PostgreSQL was unreachable,
    or another worker took the sync over): it sent nothing more. ``taken_over`` says whether another
    worker holds the lease now. Whoever runs the sync next settles what the run left (its journal)."""

    def __init__(self, message: str, *, sync: str, taken_over: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.sync = sync
        self.taken_over = taken_over


class RemovalGuardError(SfsyncError):
    """A run would clear, flag or delete the records of more rows than the sync's ``on_row_removed`` guard
    allows (or its model came back empty): it stopped before writing anything."""

    def __init__(self, message: str, *, sync: str, removed: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.sync = sync
        self.removed = removed


class NotifierError(SfsyncError):
    """A notifier could not deliver; the message never contains a secret.

    ``retryable``: trying again later may succeed (no answer, server error, 429, SMTP 4xx); a refused
    login, an untrusted certificate or a 4xx HTTP answer will not fix itself.
    """

    def __init__(self, message: str, *, retryable: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


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


class UnreachableError(TransientError):
    """No answer at all (connection refused, DNS failure, timeout), after every retry."""


class AuthError(SalesforceError):
    """Authentication failed or the session expired and cannot be refreshed."""

    exit_code = 2


class LimitError(SalesforceError):
    """The daily API quota is exhausted (or the configured share of it is used): stop, do not hammer."""


class SalesforceConfigError(SalesforceError):
    """The org refused the request as malformed: unknown object or field, bad query, wrong type."""

    exit_code = 2


#: What DuckDB raises when a Ctrl-C lands while a query runs: it checks Python's signals as it waits, runs
#: the SIGINT handler (KeyboardInterrupt), cancels the query and raises this instead (duckdb 1.4-2.0).
DUCKDB_INTERRUPTED = "Query interrupted"


def is_interrupt(exc: BaseException | None) -> bool:
    """Whether ``exc`` is, or was caused by, a Ctrl-C: KeyboardInterrupt, or DuckDB's forms of it
    (``RuntimeError("Query interrupted")``, ``duckdb.InterruptException``) anywhere in its causes."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, KeyboardInterrupt):
            return True
        if type(exc) is RuntimeError and str(exc) == DUCKDB_INTERRUPTED:
            return True
        if type(exc).__name__ == "InterruptException" and "duckdb" in type(exc).__module__:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


__all__ = [
    "AuthError",
    "ConfigError",
    "ConflictError",
    "LeaseLostError",
    "LimitError",
    "NotFoundError",
    "NotifierError",
    "ProjectFileError",
    "RemovalGuardError",
    "SalesforceConfigError",
    "SalesforceError",
    "SchedulerRunningError",
    "SfsyncError",
    "SourceError",
    "StateError",
    "SyncBusyError",
    "SyncPausedError",
    "SyncRefused",
    "TransientError",
    "UnreachableError",
]
