"""The SQLite schema of the state store, as an ordered list of migrations.

``PRAGMA user_version`` holds the number of migrations applied. Opening a store applies the missing ones
inside one ``BEGIN IMMEDIATE`` transaction, so several processes opening a fresh store at once apply each
migration exactly once. A store written by a newer sfsync (more migrations than this code knows) is refused
rather than guessed at. Append new migrations; never edit an applied one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from sfsync.errors import StateError
from sfsync.state import results

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, row results, run journal, per-sync status
    """
    CREATE TABLE runs (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        sync          TEXT    NOT NULL,
        trigger       TEXT    NOT NULL CHECK (trigger IN ('manual', 'schedule', 'ui', 'api')),
        status        TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
        started_at    TEXT    NOT NULL,
        finished_at   TEXT,
        rows_read     INTEGER NOT NULL DEFAULT 0,
        new           INTEGER NOT NULL DEFAULT 0,
        changed       INTEGER NOT NULL DEFAULT 0,
        unchanged     INTEGER NOT NULL DEFAULT 0,
        created       INTEGER NOT NULL DEFAULT 0,
        updated       INTEGER NOT NULL DEFAULT 0,
        rejected      INTEGER NOT NULL DEFAULT 0,
        api_calls     INTEGER NOT NULL DEFAULT 0,
        duration_s    REAL,
        error         TEXT,
        api           TEXT,
        pid           INTEGER NOT NULL,
        host          TEXT    NOT NULL
    );
    CREATE INDEX runs_by_sync ON runs (sync, id);
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';

    CREATE TABLE row_results (
        run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        sync          TEXT    NOT NULL,
        primary_key   TEXT    NOT NULL,
        operation     TEXT    NOT NULL,
        success       INTEGER NOT NULL,
        record_id     TEXT,
        error_code    TEXT,
        message       TEXT,
        fields        TEXT
    );
    CREATE INDEX row_results_by_run ON row_results (run_id, success, error_code);

    CREATE TABLE journal (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        sync          TEXT    NOT NULL,
        job_id        TEXT    NOT NULL UNIQUE,
        object        TEXT    NOT NULL,
        operation     TEXT    NOT NULL,
        state         TEXT    NOT NULL
                      CHECK (state IN ('new', 'uploaded', 'closed', 'collected', 'aborted')),
        chunk_path    TEXT,
        row_start     INTEGER,
        row_end       INTEGER,
        error         TEXT,
        created_at    TEXT    NOT NULL,
        updated_at    TEXT    NOT NULL
    );
    CREATE INDEX journal_by_sync ON journal (sync, state);
    CREATE INDEX journal_by_run ON journal (run_id);

    CREATE TABLE sync_status (
        sync          TEXT PRIMARY KEY,
        paused        INTEGER NOT NULL DEFAULT 0,
        pause_cause   TEXT,
        paused_at     TEXT,
        warning_state TEXT    NOT NULL DEFAULT '{}',
        updated_at    TEXT    NOT NULL
    );
    """,
    # 2: row results moved to Parquet part files (results/<run id>/); existing rows are exported first
    """
    DROP INDEX row_results_by_run;
    DROP TABLE row_results;
    """,
    # 3: who paused a sync is a field (pause_automatic), no longer an "auto: " / "manual: " cause prefix
    """
    ALTER TABLE sync_status ADD COLUMN pause_automatic INTEGER NOT NULL DEFAULT 0;
    UPDATE sync_status SET pause_automatic = 1, pause_cause = substr(pause_cause, 7)
        WHERE pause_cause LIKE 'auto: %';
    UPDATE sync_status SET pause_cause = substr(pause_cause, 9) WHERE pause_cause LIKE 'manual: %';
    """,
    # 4: a run that finished with rejected rows is 'partial' (older runs recorded as succeeded with rejected
    # rows become partial); a running run stores its live progress (JSON); when a run was written to the
    # project's sync log tables (logs: in the project file).
    # SQLite cannot change a CHECK constraint in place: runs is rebuilt. The journal (which references
    # runs) is set aside first, so dropping the old table cascades into nothing, and the AUTOINCREMENT
    # counters are carried over, so a run id is never handed out twice (results/<run id>/ holds its rows).
    """
    CREATE TEMP TABLE journal_keep AS SELECT * FROM journal;
    CREATE TEMP TABLE seq_keep AS SELECT name, seq FROM sqlite_sequence WHERE name IN ('runs', 'journal');
    CREATE TABLE runs_new (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        sync          TEXT    NOT NULL,
        trigger       TEXT    NOT NULL CHECK (trigger IN ('manual', 'schedule', 'ui', 'api')),
        status        TEXT    NOT NULL
                      CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted')),
        started_at    TEXT    NOT NULL,
        finished_at   TEXT,
        rows_read     INTEGER NOT NULL DEFAULT 0,
        new           INTEGER NOT NULL DEFAULT 0,
        changed       INTEGER NOT NULL DEFAULT 0,
        unchanged     INTEGER NOT NULL DEFAULT 0,
        created       INTEGER NOT NULL DEFAULT 0,
        updated       INTEGER NOT NULL DEFAULT 0,
        rejected      INTEGER NOT NULL DEFAULT 0,
        api_calls     INTEGER NOT NULL DEFAULT 0,
        duration_s    REAL,
        error         TEXT,
        api           TEXT,
        pid           INTEGER NOT NULL,
        host          TEXT    NOT NULL,
        progress      TEXT,
        logs_exported_at TEXT
    );
    INSERT INTO runs_new (id, sync, trigger, status, started_at, finished_at, rows_read, new, changed,
                          unchanged, created, updated, rejected, api_calls, duration_s, error, api, pid, host)
        SELECT id, sync, trigger,
               CASE WHEN status = 'succeeded' AND rejected > 0 THEN 'partial' ELSE status END,
               started_at, finished_at, rows_read, new, changed, unchanged, created, updated, rejected,
               api_calls, duration_s, error, api, pid, host
        FROM runs;
    DROP TABLE journal;
    DROP TABLE runs;
    ALTER TABLE runs_new RENAME TO runs;
    CREATE INDEX runs_by_sync ON runs (sync, id);
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
    CREATE TABLE journal (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        sync          TEXT    NOT NULL,
        job_id        TEXT    NOT NULL UNIQUE,
        object        TEXT    NOT NULL,
        operation     TEXT    NOT NULL,
        state         TEXT    NOT NULL
                      CHECK (state IN ('new', 'uploaded', 'closed', 'collected', 'aborted')),
        chunk_path    TEXT,
        row_start     INTEGER,
        row_end       INTEGER,
        error         TEXT,
        created_at    TEXT    NOT NULL,
        updated_at    TEXT    NOT NULL
    );
    INSERT INTO journal SELECT * FROM journal_keep;
    CREATE INDEX journal_by_sync ON journal (sync, state);
    CREATE INDEX journal_by_run ON journal (run_id);
    DELETE FROM sqlite_sequence WHERE name IN ('runs', 'journal');
    INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM seq_keep;
    DROP TABLE journal_keep;
    DROP TABLE seq_keep;
    """,
    # 5: rows whose records a run cleared, flagged or deleted because they left the model (on_row_removed)
    """
    ALTER TABLE runs ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: (PostgreSQL: refresh_tokens) nothing to do: a SQLite store keeps refresh tokens in files (tokens.py)
    "",
)

#: Python steps that run right before a migration's statements, in the same transaction.
_BEFORE: dict[int, Callable[[sqlite3.Connection, Path], None]] = {}


def _export_row_results(conn: sqlite3.Connection, results_dir: Path) -> None:
    """Before migration 2: write each run's SQLite row results as its first part file."""
    run_ids = [int(r[0]) for r in conn.execute("SELECT DISTINCT run_id FROM row_results ORDER BY 1")]
    for run_id in run_ids:
        rows = conn.execute(
            "SELECT primary_key, success, operation, record_id, error_code, message, fields"
            " FROM row_results WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        ).fetchall()
        columns = list(zip(*rows, strict=True))
        table = pa.Table.from_arrays(
            [
                pa.array(columns[0], pa.string()),
                pa.array([bool(v) for v in columns[1]], pa.bool_()),
                *(pa.array(c, pa.string()) for c in columns[2:]),
            ],
            schema=results.PART_SCHEMA,
        )
        directory = results.run_dir(results_dir, run_id)
        for old in directory.glob("part-*.parquet"):  # an export interrupted before its commit
            old.unlink()
        results.write_part(directory, table, job_id=None, compression="zstd", fsync=True)


_BEFORE[1] = _export_row_results


def migrate(conn: sqlite3.Connection, *, path: str, results_dir: Path) -> int:
    """Bring the schema of ``conn`` (in autocommit mode) up to date; return the schema version.

    ``results_dir`` is where row results live as Parquet (migration 2 moves them there).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise StateError(
                f"state store {path} has schema version {version}, newer than this sfsync knows "
                f"({len(MIGRATIONS)})",
                hint="upgrade sfsync, or point --state-dir at another directory",
            )
        for number in range(version, len(MIGRATIONS)):
            if number in _BEFORE:
                _BEFORE[number](conn, results_dir)
            for statement in _statements(MIGRATIONS[number]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
    return [s.strip() for s in script.split(";") if s.strip()]


__all__ = ["MIGRATIONS", "migrate"]
