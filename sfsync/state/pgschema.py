"""The PostgreSQL schema of the state store, migration by migration beside the SQLite one (``schema.py``).

Migration *N* here is the PostgreSQL form of SQLite migration *N*, so both backends are at the same
version after the same sfsync, and a migration added to one list without the other fails the test that
compares their lengths (``tests/state/test_pgschema.py``). PostgreSQL stores started at version 4, so
its migration 1 creates the version-4 shape at once (plus the tables only PostgreSQL uses: ``leases`` for
the per-sync run leases, ``schedule_slots`` for the slots several schedulers share), and 2 to 4 are
empty. Migration 6 adds ``refresh_tokens`` (the newest rotated refresh token of each destination, shared
by the workers: ``pgtokens.py``); a SQLite store keeps those in files, so its migration 6 is empty.
Append new migrations to both lists with the same number; never edit an applied one.

The applied version is the one row of ``sfsync_schema``. Migrating holds a transaction-scoped advisory
lock on the schema's name, so workers starting at once apply each migration exactly once.
"""

from __future__ import annotations

from sfsync.errors import StateError
from sfsync.state.db import PostgresDatabase

PG_MIGRATIONS: tuple[str, ...] = (
    # 1: the version-4 shape of the SQLite store, plus leases and schedule_slots
    """
    CREATE TABLE runs (
        id            BIGSERIAL PRIMARY KEY,
        sync          TEXT    NOT NULL,
        trigger       TEXT    NOT NULL CHECK (trigger IN ('manual', 'schedule', 'ui', 'api')),
        status        TEXT    NOT NULL
                      CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted')),
        started_at    TEXT    NOT NULL,
        finished_at   TEXT,
        rows_read     BIGINT  NOT NULL DEFAULT 0,
        new           BIGINT  NOT NULL DEFAULT 0,
        changed       BIGINT  NOT NULL DEFAULT 0,
        unchanged     BIGINT  NOT NULL DEFAULT 0,
        created       BIGINT  NOT NULL DEFAULT 0,
        updated       BIGINT  NOT NULL DEFAULT 0,
        rejected      BIGINT  NOT NULL DEFAULT 0,
        api_calls     BIGINT  NOT NULL DEFAULT 0,
        duration_s    DOUBLE PRECISION,
        error         TEXT,
        api           TEXT,
        pid           INTEGER NOT NULL,
        host          TEXT    NOT NULL,
        progress      TEXT,
        logs_exported_at TEXT
    );
    CREATE INDEX runs_by_sync ON runs (sync, id);
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';

    CREATE TABLE journal (
        id            BIGSERIAL PRIMARY KEY,
        run_id        BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        sync          TEXT    NOT NULL,
        job_id        TEXT    NOT NULL UNIQUE,
        object        TEXT    NOT NULL,
        operation     TEXT    NOT NULL,
        state         TEXT    NOT NULL
                      CHECK (state IN ('new', 'uploaded', 'closed', 'collected', 'aborted')),
        chunk_path    TEXT,
        row_start     BIGINT,
        row_end       BIGINT,
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
        updated_at    TEXT    NOT NULL,
        pause_automatic INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE leases (
        sync          TEXT PRIMARY KEY,
        token         TEXT        NOT NULL,
        pid           INTEGER     NOT NULL,
        host          TEXT        NOT NULL,
        run_id        BIGINT,
        since         TIMESTAMPTZ NOT NULL,
        expires_at    TIMESTAMPTZ NOT NULL
    );

    CREATE TABLE schedule_slots (
        sync          TEXT PRIMARY KEY,
        last_fire     TEXT NOT NULL,
        fingerprint   TEXT NOT NULL
    );
    """,
    # 2: (SQLite: row results moved to Parquet) nothing to do: PostgreSQL never held them
    "",
    # 3: (SQLite: pause_automatic) already in 1
    "",
    # 4: (SQLite: runs rebuilt for 'partial', progress, logs_exported_at) already in 1
    "",
    # 5: rows whose records a run cleared, flagged or deleted because they left the model (on_row_removed)
    """
    ALTER TABLE runs ADD COLUMN removed BIGINT NOT NULL DEFAULT 0;
    """,
    # 6: the newest refresh token of each destination (rotation), shared by the workers (pgtokens.py)
    """
    CREATE TABLE refresh_tokens (
        destination   TEXT PRIMARY KEY,
        origin        TEXT,
        refresh_token TEXT,
        saved_at      TIMESTAMPTZ
    );
    """,
)


def pg_migrate(db: PostgresDatabase) -> int:
    """Bring the store's schema up to date; return its version."""
    with db.write() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('sfsync-state:' || current_schema()))")
        conn.execute("CREATE TABLE IF NOT EXISTS sfsync_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM sfsync_schema").fetchone()
        version = int(row[0]) if row else 0
        if row is None:
            conn.execute("INSERT INTO sfsync_schema (version) VALUES (0)")
        if version > len(PG_MIGRATIONS):
            raise StateError(
                f"the PostgreSQL state store {db.where} has schema version {version}, newer than this "
                f"sfsync knows ({len(PG_MIGRATIONS)})",
                hint="upgrade sfsync on every worker, or use another schema (state: schema:)",
            )
        for number in range(version, len(PG_MIGRATIONS)):
            for statement in (s.strip() for s in PG_MIGRATIONS[number].split(";")):
                if statement:
                    conn.execute(statement)
        conn.execute("UPDATE sfsync_schema SET version = ?", (len(PG_MIGRATIONS),))
    return len(PG_MIGRATIONS)


__all__ = ["PG_MIGRATIONS", "pg_migrate"]
