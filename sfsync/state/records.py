"""Typed rows of the state store: runs, row results, journal entries, per-sync status.

These are plain frozen dataclasses; the store converts SQLite rows into them so callers never handle
tuples or dict bags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Trigger(StrEnum):
    """What started a run."""

    MANUAL = "manual"
    SCHEDULE = "schedule"
    UI = "ui"
    API = "api"


class RunStatus(StrEnum):
    """Life of a run: ``running`` until it ends as one of the three final states.

    ``interrupted`` marks a run whose process died (killed, crashed, power loss) before it could finish;
    the next run of the sync recovers its journal.
    """

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class JournalState(StrEnum):
    """State of one Bulk job in the run journal: ``new → uploaded → closed → collected``, or ``aborted``.

    REST batches (job ids ``rest-<run>-<n>``) use ``new`` (journaled before they are sent), then
    ``closed → collected`` once every record that may have been written has its result stored
    (``sfsync.sync.inflight``).

    Each state is written right after the call it records returned, so it is never ahead of Salesforce
    and at most one step behind (a kill between the call and the write). Recovery therefore asks
    Salesforce for the job's state instead of trusting this one (``docs/state.md``, "The journal").

    - ``new``: the job was created; nothing uploaded yet.
    - ``uploaded``: the CSV upload returned; the job is not closed yet (Open).
    - ``closed``: the close (UploadComplete) returned: Salesforce processes the job.
    - ``collected``: per-row results stored (final).
    - ``aborted``: the job was aborted (final).
    """

    NEW = "new"
    UPLOADED = "uploaded"
    CLOSED = "closed"
    COLLECTED = "collected"
    ABORTED = "aborted"

    @property
    def final(self) -> bool:
        return self in (JournalState.COLLECTED, JournalState.ABORTED)


#: Allowed journal transitions (a state may also be set again to itself: recovery code is idempotent).
JOURNAL_TRANSITIONS: dict[JournalState, frozenset[JournalState]] = {
    JournalState.NEW: frozenset({JournalState.UPLOADED, JournalState.CLOSED, JournalState.ABORTED}),
    JournalState.UPLOADED: frozenset({JournalState.CLOSED, JournalState.ABORTED}),
    JournalState.CLOSED: frozenset({JournalState.COLLECTED, JournalState.ABORTED}),
    JournalState.COLLECTED: frozenset(),
    JournalState.ABORTED: frozenset(),
}


@dataclass(frozen=True)
class RunCounts:
    """The numbers a run reports. All default to 0 so callers set only what they know."""

    rows_read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    api_calls: int = 0

    @property
    def sent(self) -> int:
        """Rows Salesforce gave an outcome for (created, updated or rejected)."""
        return self.created + self.updated + self.rejected

    @property
    def rejected_percent(self) -> float:
        """Share of the rows sent that were rejected (0 when nothing was sent)."""
        return 100.0 * self.rejected / self.sent if self.sent else 0.0


@dataclass(frozen=True)
class RunRecord:
    """One run of one sync (a row of ``runs``)."""

    id: int
    sync: str
    trigger: Trigger
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    counts: RunCounts
    duration_s: float | None
    error: str | None
    api: str | None
    pid: int
    host: str

    @property
    def finished(self) -> bool:
        return self.status is not RunStatus.RUNNING


@dataclass(frozen=True)
class RowResult:
    """What Salesforce did with one row of a run (a row of ``row_results``)."""

    run_id: int
    sync: str
    primary_key: str
    operation: str
    success: bool
    record_id: str | None
    error_code: str | None
    message: str | None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class JournalEntry:
    """One Bulk job of a run, journaled before anything is uploaded to it."""

    id: int
    run_id: int
    sync: str
    job_id: str
    object: str
    operation: str
    state: JournalState
    chunk_path: str | None
    row_start: int | None
    row_end: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SyncStatus:
    """Per-sync switches that outlive runs: paused (and why), and the alerting state of its warnings.

    ``pause_automatic``: the sync paused itself after a run found a broken part (source, mapping, login);
    it resumes itself once its check passes. A pause asked for by a person is lifted only by a person.
    """

    sync: str
    paused: bool = False
    pause_cause: str | None = None
    paused_at: datetime | None = None
    pause_automatic: bool = False
    warning_state: dict[str, str] = field(default_factory=dict)
    updated_at: datetime | None = None


__all__ = [
    "JOURNAL_TRANSITIONS",
    "JournalEntry",
    "JournalState",
    "RowResult",
    "RunCounts",
    "RunRecord",
    "RunStatus",
    "SyncStatus",
    "Trigger",
]
