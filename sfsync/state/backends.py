"""Opening the database under the state store: SQLite in the state directory, or PostgreSQL at a URL."""

from __future__ import annotations

import sqlite3
from contextlib import suppress

from sfsync.config.env import redact_url
from sfsync.errors import StateError
from sfsync.state.db import PostgresDatabase, SqliteDatabase
from sfsync.state.failures import unwritable, write_failure
from sfsync.state.paths import PRIVATE_FILE_MODE, StatePaths, StateSettings
from sfsync.state.pgschema import pg_migrate
from sfsync.state.schema import migrate


def open_sqlite(paths: StatePaths, settings: StateSettings) -> SqliteDatabase:
    """``state.db`` in WAL mode, migrated to the current schema."""
    try:
        conn = sqlite3.connect(
            paths.database,
            timeout=settings.busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        for db_file in (paths.database, *paths.database.parent.glob(paths.database.name + "-*")):
            # another process's rollback journal or WAL may come and go between glob and chmod
            with suppress(FileNotFoundError):
                db_file.chmod(PRIVATE_FILE_MODE)
    except (OSError, sqlite3.Error) as exc:
        if write_failure(exc) is not None:
            raise unwritable(exc, paths.root, "the state store") from exc
        raise StateError(
            f"cannot open the state store in {paths.root}: {exc}",
            hint="check that the directory is writable, or choose another state directory",
        ) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(settings.busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StateError(
                f"the state store {paths.database} cannot use WAL mode (got {mode})",
                hint="put the state directory on a local filesystem",
            )
        conn.execute(f"PRAGMA synchronous = {settings.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, path=str(paths.database), results_dir=paths.results)
    except sqlite3.Error as exc:
        conn.close()
        if write_failure(exc) is not None:  # not corrupt: unwritable
            raise unwritable(exc, paths.root, "the state store") from exc
        raise StateError(
            f"the state store {paths.database} is unusable: {exc}",
            hint="if the file is corrupt, move it away; run history starts afresh (snapshots are kept)",
        ) from exc
    except BaseException:
        conn.close()
        raise
    return SqliteDatabase(conn, paths.database, paths.root, settings.busy_timeout_ms)


def open_postgres(url: str, schema: str, settings: StateSettings) -> PostgresDatabase:
    """The store's schema in the PostgreSQL database at ``url``, migrated to the current version."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise StateError(
            f"state url {redact_url(url)} is not a PostgreSQL URL",
            hint="use postgresql://user:${PASSWORD}@host:5432/dbname, or leave state: url out for SQLite",
        )
    db = PostgresDatabase(url, schema=schema, connect_timeout_s=settings.connect_timeout_s)
    try:
        pg_migrate(db)
    except BaseException:
        db.close()
        raise
    return db


__all__ = ["open_postgres", "open_sqlite"]
