"""Typed rows of the state store: runs, row results, journal entries, per-sync status.

These are plain frozen dataclasses; the store converts SQLite rows into them so callers never handle
tuples or dict bags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, get_args

from sfsync.config import Api

_APIS: tuple[Api, ...] = get_args(Api)


class Trigger(StrEnum):
    """What started a run."""

    MANUAL = "manual"
    SCHEDULE = "schedule"
    UI = "ui"
    API = "api"


class RunStatus(StrEnum):
    """Life of a run: ``running`` until it ends as one of the four final states.

    - ``succeeded``: the run finished and Salesforce accepted every row it sent (or it had nothing to send).
    - ``partial``: the run finished, Salesforce accepted some rows and rejected others (each rejected row
      is stored with its error and sent again next run).
    - ``failed``: the run stopped on an error, a Bulk job failed as a whole, or every row it sent was
      rejected (unless all it sent were rows rejected before and retried: then it is ``partial``).
    - ``interrupted``: the process running it died (killed, crashed, power loss) or was stopped before it
      could finish; the next run of the sync recovers its journal.

    :func:`finished_status` decides between the first three for a run that ran to its end.
    """

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self is not RunStatus.RUNNING

    @property
    def ran_to_end(self) -> bool:
        """The run finished its work: its counts are complete (succeeded or partial)."""
        return self in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)


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
    #: records cleared, flagged or deleted because their rows left the model (``on_row_removed``)
    removed: int = 0

    @property
    def sent(self) -> int:
        """Rows Salesforce gave an outcome for (created, updated, removed or rejected)."""
        return self.created + self.updated + self.removed + self.rejected

    @property
    def rejected_percent(self) -> float:
        """Share of the rows sent that were rejected (0 when nothing was sent)."""
        return 100.0 * self.rejected / self.sent if self.sent else 0.0


class RunPhase(StrEnum):
    """What a running run is doing now (shown live by the web UI, stored in ``runs.progress``)."""

    READING = "reading"  # reading the model from its source
    DIFFING = "diffing"  # comparing it with the last snapshot
    PLANNING = "planning"  # checking the mapping, looking up ids, freezing what to send
    SENDING = "sending"  # writing to Salesforce (REST calls, Bulk uploads)
    COLLECTING = "collecting"  # waiting for Bulk jobs and storing their per-row results


@dataclass(frozen=True)
class BulkJobProgress:
    """One Bulk job of a running run: its Salesforce state and how many of its rows it processed."""

    id: str
    state: str  # Salesforce's: Open, UploadComplete, InProgress, JobComplete, Failed, Aborted
    rows: int
    processed: int = 0
    failed: int = 0
    collected: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunProgress:
    """Where a running run is: its phase, rows read, rows with an outcome of rows to send, Bulk jobs."""

    phase: RunPhase
    rows_read: int = 0
    to_send: int = 0
    sent: int = 0
    api: Api | None = None
    jobs: tuple[BulkJobProgress, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "rows_read": self.rows_read,
            "to_send": self.to_send,
            "sent": self.sent,
            "api": self.api,
            "jobs": [j.to_dict() for j in self.jobs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunProgress:
        return cls(
            phase=RunPhase(str(data["phase"])),
            rows_read=int(data.get("rows_read") or 0),
            to_send=int(data.get("to_send") or 0),
            sent=int(data.get("sent") or 0),
            api=api_used(data.get("api")),
            jobs=tuple(BulkJobProgress(**j) for j in data.get("jobs") or ()),
        )


def api_used(value: object) -> Api | None:
    """The API a stored run or progress names (``None``: not chosen yet, or a word this version does not
    know, which is shown as no API rather than failing the history)."""
    text = None if value is None else str(value)
    return next((api for api in _APIS if api == text), None)


def finished_status(counts: RunCounts, *, failed: bool = False, retried: int = 0) -> RunStatus:
    """The final status of a run that ran to its end with these counts.

    ``failed`` when part of it failed as a whole (a Bulk job Salesforce marked Failed). A run that had
    every row it sent rejected failed too, unless all it sent were ``retried`` rows (rejected by an earlier
    run and sent again): rows that keep failing leave a sync partial, they do not make each run a failure.
    """
    if failed or (counts.rejected and counts.rejected == counts.sent and counts.sent > retried):
        return RunStatus.FAILED
    if counts.rejected:
        return RunStatus.PARTIAL
    return RunStatus.SUCCEEDED


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
    api: Api | None
    pid: int
    host: str
    progress: RunProgress | None = None

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
    "BulkJobProgress",
    "JournalEntry",
    "JournalState",
    "RowResult",
    "RunCounts",
    "RunPhase",
    "RunProgress",
    "RunRecord",
    "RunStatus",
    "SyncStatus",
    "Trigger",
    "finished_status",
]
