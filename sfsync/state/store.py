"""The state store: run history, row results, run journal and per-sync status in SQLite, plus snapshots
and run locks on disk, all under one directory (``.sfsync/`` beside the project by default)::

    .sfsync/
      state.db             SQLite (WAL): runs, journal, sync_status
      results/<run id>/    per-row results, Parquet part files (see results.py)
      locks/<sync>.lock    per-sync run locks (flock)
      snapshots/<sync>/    last synced values, swapped in atomically (see snapshots.py)
      work/<sync>/<id>/    a diff's outputs until the snapshot advances
      tmp/                 DuckDB spill files

Or, for a project several workers serve (``state: url`` in the project file), runs, journal, sync status
and run leases in a PostgreSQL schema (``db.py``, ``pgschema.py``, ``lease.py``), snapshots and row
results in a directory the workers share or on object storage (``files.py``, ``objectfiles.py``). The
store's SQL is the same for both.

A CLI run, the scheduler and the web UI may use one store at the same time from different processes:
SQLite runs in WAL mode (readers never block the writer), every write is a short ``BEGIN IMMEDIATE``
transaction (so writers queue instead of failing on a lock upgrade), and ``busy_timeout`` makes a writer
wait for the current one instead of raising "database is locked". One ``StateStore`` object may be shared
by threads: it serialises use of its connection.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

import pyarrow as pa

from sfsync.config import Api
from sfsync.errors import NotFoundError, StateError
from sfsync.state import journal, results
from sfsync.state.backends import open_postgres, open_sqlite
from sfsync.state.db import Conn, Database, PostgresDatabase
from sfsync.state.failures import unwritable
from sfsync.state.files import LocalFiles, StateFiles
from sfsync.state.lease import LeaseLock, lease_held_here, lease_owner
from sfsync.state.lock import LockOwner, RunLock, held_here, is_locked, read_owner
from sfsync.state.paths import (
    DEFAULT_PG_SCHEMA,
    STATE_DIR_NAME,
    StatePaths,
    StateSettings,
    default_state_dir,
    prepare_dirs,
)
from sfsync.state.records import (
    JOURNAL_TRANSITIONS,
    JournalEntry,
    JournalState,
    RowResult,
    RunCounts,
    RunProgress,
    RunRecord,
    RunStatus,
    SyncStatus,
    Trigger,
)
from sfsync.state.runrows import RUN_COLUMNS as _RUN_COLUMNS
from sfsync.state.runrows import now as _now
from sfsync.state.runrows import run_record as _run
from sfsync.state.runrows import timestamp as _ts
from sfsync.state.snapshots import SnapshotStore, check_sync_name


class StateStore:
    """Run history, row results, run journal, per-sync status, snapshots and run locks of one project."""

    def __init__(
        self, paths: StatePaths, db: Database, settings: StateSettings, files: StateFiles | None = None
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.files = files or LocalFiles(paths.root)
        self.snapshots = SnapshotStore(self.files, "snapshots")
        self.db = db

    # -- opening -------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        settings: StateSettings | None = None,
        *,
        url: str | None = None,
        schema: str = DEFAULT_PG_SCHEMA,
        scratch: str | os.PathLike[str] | None = None,
        files: StateFiles | None = None,
    ) -> StateStore:
        """Open (creating if needed) the store in ``directory`` and bring its schema up to date.

        With ``url`` (``postgresql://…``) runs, journal, sync status and run leases live in that database
        (in ``schema``), shared by every worker of the project; ``directory`` still holds the files
        (snapshots, row results, work files), except this process's scratch files, which go under
        ``scratch`` when given (a local directory, when ``directory`` is shared).

        ``files`` (object storage): snapshots and row results there, cached in ``directory/cache``; checked
        (bucket, credentials, rights) before the database is opened.
        """
        settings = settings or StateSettings()
        cache = Path(directory) / "cache" if files is not None else None
        paths = StatePaths(Path(directory), Path(scratch) if scratch is not None else None, cache)
        prepare_dirs(paths)
        if files is not None:
            files.check()
        if url is not None:
            return cls(paths, open_postgres(url, schema, settings), settings, files)
        return cls(paths, open_sqlite(paths, settings), settings, files)

    @classmethod
    def for_project(
        cls, project_file: str | os.PathLike[str], settings: StateSettings | None = None
    ) -> StateStore:
        return cls.open(default_state_dir(project_file), settings)

    @property
    def shared(self) -> bool:
        """True when the database is shared by several workers (PostgreSQL)."""
        return isinstance(self.db, PostgresDatabase)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({str(self.paths.root)!r})"

    def _write(self) -> AbstractContextManager[Conn]:
        """One write transaction (SQLite: ``BEGIN IMMEDIATE``, so concurrent writers queue)."""
        return self.db.write()

    def _read(self) -> AbstractContextManager[Conn]:
        return self.db.read()

    # -- runs ----------------------------------------------------------------------------------------
    def start_run(self, sync: str, trigger: Trigger | str = Trigger.MANUAL) -> RunRecord:
        """Record a run that starts now (status ``running``)."""
        check_sync_name(sync)
        trig = Trigger(trigger)
        with self._write() as conn:
            row = conn.execute(
                "INSERT INTO runs (sync, trigger, status, started_at, pid, host)"
                f" VALUES (?, ?, 'running', ?, ?, ?)"
                f" RETURNING {_RUN_COLUMNS}",
                (sync, trig.value, _now().isoformat(), os.getpid(), socket.gethostname()),
            ).fetchone()
        return _run(tuple(row))

    def update_run(self, run_id: int, counts: RunCounts, *, api: Api | None = None) -> RunRecord:
        """Store progress counts of a running run (the web UI shows them live)."""
        return self._set_run(run_id, counts=counts, api=api, status=None, error=None)

    def set_progress(self, run_id: int, progress: RunProgress) -> None:
        """Store where a running run is (phase, rows sent, Bulk jobs): other processes show it live."""
        data = json.dumps(progress.to_dict(), separators=(",", ":"))
        with self._write() as conn:
            conn.execute("UPDATE runs SET progress = ? WHERE id = ?", (data, run_id))

    def finish_run(
        self,
        run_id: int,
        status: RunStatus | str,
        counts: RunCounts | None = None,
        *,
        api: Api | None = None,
        error: str | None = None,
    ) -> RunRecord:
        """End a run: final status, counts, API used and error text (never a secret: callers redact)."""
        final = RunStatus(status)
        if final is RunStatus.RUNNING:
            raise StateError(f"finish_run({run_id}) needs a final status, not running")
        return self._set_run(run_id, counts=counts, api=api, status=final, error=error)

    def _set_run(
        self,
        run_id: int,
        *,
        counts: RunCounts | None,
        api: Api | None,
        status: RunStatus | None,
        error: str | None,
    ) -> RunRecord:
        with self._write() as conn:
            current = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
            if current is None:
                raise StateError(f"run {run_id} does not exist in {self.db.where}")
            run = _run(tuple(current))
            c = counts or run.counts
            sets = (
                "rows_read = ?, new = ?, changed = ?, unchanged = ?, created = ?, updated = ?, rejected = ?,"
                " api_calls = ?, removed = ?, api = coalesce(?, api)"
            )
            args: list[object] = [
                c.rows_read,
                c.new,
                c.changed,
                c.unchanged,
                c.created,
                c.updated,
                c.rejected,
                c.api_calls,
                c.removed,
                api,
            ]
            if status is not None:
                now = _now()
                sets += ", status = ?, finished_at = ?, duration_s = ?, error = ?"
                args += [status.value, now.isoformat(), (now - run.started_at).total_seconds(), error]
            row = conn.execute(
                f"UPDATE runs SET {sets} WHERE id = ? RETURNING {_RUN_COLUMNS}", [*args, run_id]
            ).fetchone()
        return _run(tuple(row))

    def get_run(self, run_id: int) -> RunRecord:
        with self._read() as conn:
            row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"run {run_id} does not exist",
                what="run",
                name=str(run_id),
                hint="list runs with `sfsync runs`",
            )
        return _run(tuple(row))

    def runs(
        self, sync: str | None = None, limit: int = 50, *, status: RunStatus | str | None = None
    ) -> list[RunRecord]:
        """Most recent runs first, optionally of one sync and/or one status."""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE 1 = 1"
        args: list[object] = []
        if sync is not None:
            sql += " AND sync = ?"
            args.append(sync)
        if status is not None:
            sql += " AND status = ?"
            args.append(RunStatus(status).value)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._read() as conn:
            return [_run(tuple(r)) for r in conn.execute(sql, args)]

    def last_run(self, sync: str, *, status: RunStatus | str | None = None) -> RunRecord | None:
        found = self.runs(sync, 1, status=status)
        return found[0] if found else None

    def reap_interrupted(self, sync: str | None = None) -> list[RunRecord]:
        """Mark ``running`` runs whose process is gone as ``interrupted``; return them (for recovery).

        A live run always holds its sync's run lock, so a ``running`` run is gone when the lock is free,
        or when this process holds it (call this right after taking the lock, before starting a run).
        Runs started by this very process are never reaped.
        """
        me = (os.getpid(), socket.gethostname())
        gone = []
        for run in self.runs(sync, limit=1_000_000, status=RunStatus.RUNNING):
            if (run.pid, run.host) == me:
                continue
            if self._lock_held_here(run.sync) or self._lock_free(run.sync):
                gone.append(run.id)
        return [
            self._set_run(
                run_id,
                counts=None,
                api=None,
                status=RunStatus.INTERRUPTED,
                error="the process running this sync stopped before the run finished",
            )
            for run_id in gone
        ]

    # -- sync logs in the warehouse ------------------------------------------------------------------
    def runs_to_export(self, limit: int) -> list[RunRecord]:
        """Finished runs not yet written to the project's sync log tables, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE status != 'running' AND logs_exported_at IS NULL"
                " ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [_run(tuple(r)) for r in rows]

    def mark_logs_exported(self, run_id: int, exported: bool = True) -> None:
        """Record that ``run_id`` is in the sync log tables (``exported=False``: it must be written again)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET logs_exported_at = ? WHERE id = ?",
                (_now().isoformat() if exported else None, run_id),
            )

    def reset_logs_exported(self) -> None:
        """Mark every run as not yet in the sync log tables (to write the whole history again)."""
        with self._write() as conn:
            conn.execute("UPDATE runs SET logs_exported_at = NULL")

    # -- row results ---------------------------------------------------------------------------------
    def run_ids(self, sync: str) -> list[int]:
        """Ids of every run of ``sync`` in the history, newest first."""
        with self._read() as conn:
            rows = conn.execute("SELECT id FROM runs WHERE sync = ? ORDER BY id DESC", (sync,))
            return [int(r[0]) for r in rows]

    def result_parts(self, run_id: int) -> list[Path]:
        """The row result files of a run readers may read, local (see ``sfsync.state.results``)."""
        return results.live_parts(results.RunParts.of(self.files, run_id), self._collected(run_id))

    def _collected(self, run_id: int) -> list[str]:
        with self._read() as conn:
            sql = "SELECT job_id FROM journal WHERE run_id = ? AND state = 'collected'"
            return [str(r[0]) for r in conn.execute(sql, (run_id,))]

    def record_results(
        self,
        run_id: int,
        data: pa.Table | pa.RecordBatchReader,
        *,
        operation: str | None = None,
        collected_job_id: str | None = None,
    ) -> int:
        """Store per-row results (columns: see ``sfsync.state.results``) as one part file.

        With ``collected_job_id`` the journal entry of that Bulk job then moves to ``collected``; the
        job's part is read only once it has, so after a crash either both happened or neither did (see
        ``sfsync.state.results``).
        """
        run = self.get_run(run_id)
        table = results.normalise(run_id, data, operation=operation)
        if collected_job_id is not None:
            self._check_collectable(collected_job_id)
        elif table.num_rows == 0:
            return 0
        directory = results.RunParts.of(self.files, run.id)
        try:
            part = results.write_part(
                directory,
                table,
                job_id=collected_job_id,
                compression=self.settings.results_compression,
                fsync=self.settings.synchronous.upper() in ("FULL", "EXTRA"),
            )
        except OSError as exc:
            where = self.files.local_dir(directory.key)
            raise unwritable(exc, where, f"the row results of run {run_id}") from exc
        if collected_job_id is not None:
            try:
                with self._write() as conn:
                    journal.set_state(
                        conn, collected_job_id, JournalState.COLLECTED, error=None, now=_now().isoformat()
                    )
            except BaseException:
                self.files.delete(part)  # not live anyway (the job is not collected); tidy up
                raise
        return int(table.num_rows)

    def result_run_ids(self) -> set[int]:
        """Ids of the runs that have a row results directory."""
        return {int(n) for n in self.files.subdirs(results.RESULTS_DIR) if n.isdigit()}

    def _check_collectable(self, job_id: str) -> None:
        """Fail before writing anything if the journal would refuse to mark ``job_id`` collected."""
        entry = self.journal_entry(job_id)
        done = JournalState.COLLECTED
        if entry is None or (entry.state is not done and done not in JOURNAL_TRANSITIONS[entry.state]):
            with self._write() as conn:  # raises the journal's own error (and rolls back)
                journal.set_state(conn, job_id, done, error=None, now=_now().isoformat())

    def row_results(
        self,
        run_id: int,
        *,
        success: bool | None = None,
        code: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RowResult]:
        """Results of a run in the order stored, optionally only successes/failures or one error code."""
        run = self.get_run(run_id)
        parts = self.result_parts(run_id)
        return results.select_results(
            parts, run_id, run.sync, success=success, code=code, limit=limit, offset=offset
        )

    def rejected_rows(
        self, run_id: int, code: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[RowResult]:
        """Rows Salesforce rejected in a run, optionally only one error code, in the order stored."""
        return self.row_results(run_id, success=False, code=code, limit=limit, offset=offset)

    def accepted_keys(self, run_id: int) -> pa.Array:
        """Primary keys (text) of the rows Salesforce accepted in a run: for ``advance_snapshot``."""
        return results.accepted_keys(self.result_parts(run_id))

    def result_keys(self, run_id: int) -> pa.Array:
        """Primary keys (text) of the rows of a run that have a stored result, accepted or rejected."""
        return results.result_keys(self.result_parts(run_id))

    def record_ids(self, run_id: int) -> pa.Array:
        """Record ids Salesforce gave the accepted rows of a run (crash recovery tells them from records
        the run's lost answers created)."""
        return results.record_ids(self.result_parts(run_id))

    def rejected_table(self, run_id: int, code: str | None = None) -> pa.Table:
        """Rejected rows as Arrow (for ``show-run --rejected --json`` and CSV export)."""
        return results.select_arrow(self.result_parts(run_id), success=False, code=code, limit=None, offset=0)

    def rejected_counts(self, run_id: int) -> dict[str, int]:
        """Rejected rows of a run by error code, most frequent first."""
        return results.count_by_code(self.result_parts(run_id))

    def prune_results(self, keep_runs: int) -> int:
        """Delete row results (and settled journal entries) of all but the ``keep_runs`` latest runs of each
        sync; return the result rows deleted."""
        with self._read() as conn:
            old = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY sync ORDER BY id DESC) AS n"
                    " FROM runs) AS ranked WHERE n > ?",
                    (keep_runs,),
                )
            ]
        deleted = 0
        kept = self.result_run_ids()
        for run_id in old:
            parts = results.RunParts.of(self.files, run_id)
            if run_id in kept:
                deleted += results.count_live_rows(parts, self._collected(run_id))  # footers only
                self.files.delete_tree(parts.key)
            self.files.forget(parts.key)  # another worker pruned it: this one's cached copies go too
        if old:  # the settled journal entries of those runs (Bulk jobs, REST batches) go with them
            with self._write() as conn:
                conn.executemany(
                    "DELETE FROM journal WHERE run_id = ? AND state IN ('collected', 'aborted')",
                    [(run_id,) for run_id in old],
                )
        return deleted

    # -- run journal ---------------------------------------------------------------------------------
    def journal_add(
        self,
        run_id: int,
        job_id: str,
        object: str,
        operation: str,
        *,
        chunk_path: str | None = None,
        row_start: int | None = None,
        row_end: int | None = None,
    ) -> JournalEntry:
        """Journal a Bulk job (state ``new``) right after creating it and before uploading to it."""
        run = self.get_run(run_id)
        with self._write() as conn:
            return journal.add_entry(
                conn,
                run_id=run_id,
                sync=run.sync,
                job_id=job_id,
                object=object,
                operation=operation,
                chunk_path=chunk_path,
                row_start=row_start,
                row_end=row_end,
                now=_now().isoformat(),
            )

    def journal_set_state(
        self, job_id: str, state: JournalState | str, *, error: str | None = None
    ) -> JournalEntry:
        with self._write() as conn:
            return journal.set_state(conn, job_id, JournalState(state), error=error, now=_now().isoformat())

    def journal_entry(self, job_id: str) -> JournalEntry | None:
        with self._read() as conn:
            return journal.get_entry(conn, job_id)

    def journal_entries(self, *, run_id: int | None = None, sync: str | None = None) -> list[JournalEntry]:
        with self._read() as conn:
            return journal.select_entries(conn, run_id=run_id, sync=sync, pending_only=False)

    def journal_pending(self, sync: str) -> list[JournalEntry]:
        """Jobs of a sync not yet collected or aborted: what crash recovery must deal with."""
        with self._read() as conn:
            return journal.select_entries(conn, run_id=None, sync=sync, pending_only=True)

    # -- per-sync status -----------------------------------------------------------------------------
    def sync_status(self, sync: str) -> SyncStatus:
        with self._read() as conn:
            row = conn.execute(
                "SELECT paused, pause_cause, paused_at, warning_state, updated_at, pause_automatic"
                " FROM sync_status WHERE sync = ?",
                (sync,),
            ).fetchone()
        if row is None:
            return SyncStatus(sync=sync)
        paused, cause, paused_at, warning, updated, automatic = row
        return SyncStatus(
            sync=sync,
            paused=bool(paused),
            pause_cause=cause,
            paused_at=_ts(paused_at),
            pause_automatic=bool(paused) and bool(automatic),
            warning_state={str(k): str(v) for k, v in json.loads(warning or "{}").items()},
            updated_at=_ts(updated),
        )

    def sync_statuses(self) -> list[SyncStatus]:
        with self._read() as conn:
            names = [str(r[0]) for r in conn.execute("SELECT sync FROM sync_status ORDER BY sync")]
        return [self.sync_status(n) for n in names]

    def set_paused(
        self, sync: str, paused: bool, cause: str | None = None, *, automatic: bool = False
    ) -> SyncStatus:
        """Pause (with a cause shown to users, e.g. "paused by alice" or "the source cannot be read: …";
        ``automatic`` when the sync pauses itself) or resume."""
        check_sync_name(sync)
        now = _now().isoformat()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO sync_status (sync, paused, pause_cause, paused_at, pause_automatic, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sync) DO UPDATE SET paused = excluded.paused,"
                " pause_cause = excluded.pause_cause, paused_at = excluded.paused_at,"
                " pause_automatic = excluded.pause_automatic, updated_at = excluded.updated_at",
                (
                    sync,
                    int(paused),
                    cause if paused else None,
                    now if paused else None,
                    int(paused and automatic),
                    now,
                ),
            )
        return self.sync_status(sync)

    def set_warning_state(self, sync: str, state: Mapping[str, str]) -> SyncStatus:
        """Replace the alerting state of a sync's warnings (rule name → state, e.g. ``firing``)."""
        check_sync_name(sync)
        now = _now().isoformat()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO sync_status (sync, warning_state, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (sync) DO UPDATE SET warning_state = excluded.warning_state,"
                " updated_at = excluded.updated_at",
                (sync, json.dumps(dict(state), sort_keys=True), now),
            )
        return self.sync_status(sync)

    # -- run locks -----------------------------------------------------------------------------------
    def lock(self, sync: str, *, run_id: int | None = None) -> RunLock | LeaseLock:
        """The cross-process run lock of a sync (not yet taken): ``with store.lock(name): ...``.

        Entering raises :class:`~sfsync.state.lock.SyncBusyError` if another process (or another run in
        this one) holds it; ``.acquire(wait=seconds)`` waits first. SQLite: a ``flock`` on
        ``locks/<sync>.lock`` (one machine); PostgreSQL: a lease row with heartbeat and expiry, shared by
        every worker (``sfsync.state.lease``).
        """
        if isinstance(self.db, PostgresDatabase):
            return LeaseLock(
                self.db,
                check_sync_name(sync),
                run_id=run_id,
                lease_seconds=self.settings.lease_seconds,
                heartbeat_seconds=self.settings.lease_heartbeat_seconds,
            )
        return RunLock(self.paths.lock_file(sync), sync, run_id=run_id)

    def lock_owner(self, sync: str) -> LockOwner | None:
        """Who runs the sync right now, or None if nobody does."""
        if isinstance(self.db, PostgresDatabase):
            return lease_owner(self.db, sync)
        path = self.paths.lock_file(sync)
        return read_owner(path) if is_locked(path) else None

    def _lock_free(self, sync: str) -> bool:
        if isinstance(self.db, PostgresDatabase):
            return lease_owner(self.db, sync) is None
        return not is_locked(self.paths.lock_file(sync))

    def _lock_held_here(self, sync: str) -> bool:
        if isinstance(self.db, PostgresDatabase):
            return lease_held_here(self.db, sync)
        return held_here(self.paths.lock_file(sync))


__all__ = ["STATE_DIR_NAME", "StatePaths", "StateSettings", "StateStore", "default_state_dir"]
