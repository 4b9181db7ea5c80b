"""Rows of the ``runs`` table as :class:`~sfsync.state.RunRecord` (the columns read and how)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sfsync.state.records import RunCounts, RunProgress, RunRecord, RunStatus, Trigger, api_used

RUN_COLUMNS = (
    "id, sync, trigger, status, started_at, finished_at, rows_read, new, changed, unchanged, created,"
    " updated, rejected, api_calls, removed, duration_s, error, api, pid, host, progress"
)


def now() -> datetime:
    return datetime.now(UTC)


def timestamp(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value is not None else None


def run_record(row: tuple[object, ...]) -> RunRecord:
    """One ``SELECT {RUN_COLUMNS} FROM runs`` row."""
    (rid, sync, trig, status, started, finished, *nums, duration, error, api, pid, host, progress) = row
    counts = RunCounts(*(int(str(n)) for n in nums))
    started_at = timestamp(started)
    assert started_at is not None
    return RunRecord(
        id=int(str(rid)),
        sync=str(sync),
        trigger=Trigger(str(trig)),
        status=RunStatus(str(status)),
        started_at=started_at,
        finished_at=timestamp(finished),
        counts=counts,
        duration_s=float(str(duration)) if duration is not None else None,
        error=str(error) if error is not None else None,
        api=api_used(api),
        pid=int(str(pid)),
        host=str(host),
        progress=RunProgress.from_dict(json.loads(str(progress))) if progress else None,
    )


__all__ = ["RUN_COLUMNS", "now", "run_record", "timestamp"]
