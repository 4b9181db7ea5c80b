"""The run journal: every Bulk job a run creates, written down before anything is uploaded to it, then
its upload and close as each call returns.

Crash recovery reads the entries not yet in a final state (:meth:`JournalState.final`) and asks Salesforce
for each job's state (the journal may be one step behind): Open jobs are aborted, the others are polled
and their results collected. State changes
are checked against :data:`~sfsync.state.records.JOURNAL_TRANSITIONS`, so a bug cannot, say, collect a
job twice or resurrect an aborted one.
"""

from __future__ import annotations

from datetime import datetime

from sfsync.errors import StateError
from sfsync.state.db import INTEGRITY_ERRORS, Conn
from sfsync.state.records import JOURNAL_TRANSITIONS, JournalEntry, JournalState

_COLUMNS = (
    "id, run_id, sync, job_id, object, operation, state, chunk_path, row_start, row_end, error,"
    " created_at, updated_at"
)


def _entry(row: tuple[object, ...]) -> JournalEntry:
    (eid, run_id, sync, job_id, obj, op, state, chunk, start, end, error, created, updated) = row
    return JournalEntry(
        id=int(str(eid)),
        run_id=int(str(run_id)),
        sync=str(sync),
        job_id=str(job_id),
        object=str(obj),
        operation=str(op),
        state=JournalState(str(state)),
        chunk_path=str(chunk) if chunk is not None else None,
        row_start=int(str(start)) if start is not None else None,
        row_end=int(str(end)) if end is not None else None,
        error=str(error) if error is not None else None,
        created_at=datetime.fromisoformat(str(created)),
        updated_at=datetime.fromisoformat(str(updated)),
    )


def add_entry(
    conn: Conn,
    *,
    run_id: int,
    sync: str,
    job_id: str,
    object: str,
    operation: str,
    chunk_path: str | None,
    row_start: int | None,
    row_end: int | None,
    now: str,
) -> JournalEntry:
    try:
        cur = conn.execute(
            "INSERT INTO journal (run_id, sync, job_id, object, operation, state, chunk_path, row_start,"
            " row_end, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?)"
            f" RETURNING {_COLUMNS}",
            (run_id, sync, job_id, object, operation, chunk_path, row_start, row_end, now, now),
        )
    except INTEGRITY_ERRORS as exc:
        raise StateError(
            f"cannot journal Bulk job {job_id} for run {run_id}: {exc}",
            hint="a job id is journaled once; the run id must exist",
        ) from exc
    return _entry(tuple(cur.fetchone()))


def get_entry(conn: Conn, job_id: str) -> JournalEntry | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM journal WHERE job_id = ?", (job_id,)).fetchone()
    return _entry(tuple(row)) if row else None


def set_state(conn: Conn, job_id: str, state: JournalState, *, error: str | None, now: str) -> JournalEntry:
    current = get_entry(conn, job_id)
    if current is None:
        raise StateError(
            f"Bulk job {job_id} is not in the run journal", hint="journal it with journal_add first"
        )
    if state != current.state and state not in JOURNAL_TRANSITIONS[current.state]:
        raise StateError(
            f"Bulk job {job_id} cannot go from {current.state.value} to {state.value} in the run journal",
            hint="journal states run new → uploaded → closed → collected, or → aborted",
        )
    cur = conn.execute(
        f"UPDATE journal SET state = ?, error = coalesce(?, error), updated_at = ? WHERE job_id = ?"
        f" RETURNING {_COLUMNS}",
        (state.value, error, now, job_id),
    )
    return _entry(tuple(cur.fetchone()))


def select_entries(
    conn: Conn, *, run_id: int | None, sync: str | None, pending_only: bool
) -> list[JournalEntry]:
    sql = f"SELECT {_COLUMNS} FROM journal WHERE 1 = 1"
    args: list[object] = []
    if run_id is not None:
        sql += " AND run_id = ?"
        args.append(run_id)
    if sync is not None:
        sql += " AND sync = ?"
        args.append(sync)
    if pending_only:
        sql += " AND state NOT IN ('collected', 'aborted')"
    sql += " ORDER BY id"
    return [_entry(tuple(r)) for r in conn.execute(sql, args)]


__all__ = ["add_entry", "get_entry", "select_entries", "set_state"]
