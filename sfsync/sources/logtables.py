"""Sync logs in the warehouse: write runs and their row results into tables of a DuckDB or PostgreSQL source.

Two tables (names ``<table_prefix>runs`` and ``<table_prefix>row_results``, in ``schema`` when given), created
when missing; the columns are :data:`RUN_COLUMNS` and :data:`ROW_COLUMNS`, documented in
docs/project-file.md#sync-logs-in-the-warehouse.

Writing a run is one transaction: delete what the tables hold for that ``(project, run_id)``, then
insert the run and its rows. So the tables only grow with new runs (append-only for analysts), and
writing a run again (a retry, a backfill) replaces it instead of duplicating it (idempotent).

Rows go in as Arrow: DuckDB inserts from the Arrow table directly; PostgreSQL receives CSV through
``COPY ... FROM STDIN`` (written by Arrow's C++ CSV writer, a null as an empty field and an empty string as
``""``, which COPY reads back as NULL and '' respectively).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from sfsync.config import DuckDBSource, PostgresSource, Project, SyncLogs
from sfsync.config.env import redact_url
from sfsync.errors import ConfigError, SourceError
from sfsync.sources.duck import quote_ident

#: Columns of the runs table: (name, Arrow type, DuckDB type, PostgreSQL type).
RUN_COLUMNS: tuple[tuple[str, pa.DataType, str, str], ...] = (
    ("project", pa.string(), "VARCHAR", "text"),
    ("run_id", pa.int64(), "BIGINT", "bigint"),
    ("sync", pa.string(), "VARCHAR", "text"),
    ("object", pa.string(), "VARCHAR", "text"),
    ("mode", pa.string(), "VARCHAR", "text"),
    ("trigger", pa.string(), "VARCHAR", "text"),
    ("status", pa.string(), "VARCHAR", "text"),
    ("warning", pa.bool_(), "BOOLEAN", "boolean"),
    ("reason", pa.string(), "VARCHAR", "text"),
    ("started_at", pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ", "timestamptz"),
    ("finished_at", pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ", "timestamptz"),
    ("duration_s", pa.float64(), "DOUBLE", "double precision"),
    ("api", pa.string(), "VARCHAR", "text"),
    ("rows_read", pa.int64(), "BIGINT", "bigint"),
    ("new", pa.int64(), "BIGINT", "bigint"),
    ("changed", pa.int64(), "BIGINT", "bigint"),
    ("unchanged", pa.int64(), "BIGINT", "bigint"),
    ("created", pa.int64(), "BIGINT", "bigint"),
    ("updated", pa.int64(), "BIGINT", "bigint"),
    ("rejected", pa.int64(), "BIGINT", "bigint"),
    ("removed", pa.int64(), "BIGINT", "bigint"),
    ("api_calls", pa.int64(), "BIGINT", "bigint"),
    ("error", pa.string(), "VARCHAR", "text"),
    ("exported_at", pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ", "timestamptz"),
)

#: Columns of the row results table (one row per model row a run sent or refused).
ROW_COLUMNS: tuple[tuple[str, pa.DataType, str, str], ...] = (
    ("project", pa.string(), "VARCHAR", "text"),
    ("run_id", pa.int64(), "BIGINT", "bigint"),
    ("sync", pa.string(), "VARCHAR", "text"),
    ("primary_key", pa.string(), "VARCHAR", "text"),
    ("success", pa.bool_(), "BOOLEAN", "boolean"),
    ("operation", pa.string(), "VARCHAR", "text"),
    ("record_id", pa.string(), "VARCHAR", "text"),
    ("error_code", pa.string(), "VARCHAR", "text"),
    ("message", pa.string(), "VARCHAR", "text"),
    ("fields", pa.string(), "VARCHAR", "text"),
)

RUNS_SCHEMA = pa.schema([(n, t) for n, t, _, _ in RUN_COLUMNS])
ROWS_SCHEMA = pa.schema([(n, t) for n, t, _, _ in ROW_COLUMNS])

_RUN_KEY = "PRIMARY KEY (project, run_id)"
_ROW_CHECK = "CHECK (run_id > 0)"

COPY_CHUNK_ROWS = 100_000
"""Row results converted to CSV and sent to PostgreSQL per COPY write."""


class LogTables(Protocol):
    """Where a project's sync logs go."""

    where: str

    def write(self, project: str, run_id: int, run: pa.Table, rows: Iterable[pa.Table]) -> int:
        """Replace what the tables hold for ``(project, run_id)`` with ``run`` (one row, :data:`RUNS_SCHEMA`)
        and ``rows`` (:data:`ROWS_SCHEMA`), in one transaction; return the row results written."""

    def close(self) -> None: ...


def _names(logs: SyncLogs) -> tuple[str, str]:
    """The quoted names of the runs and row results tables."""
    prefix = f"{quote_ident(logs.schema_)}." if logs.schema_ else ""
    return (
        prefix + quote_ident(logs.table_prefix + "runs"),
        prefix + quote_ident(logs.table_prefix + "row_results"),
    )


Columns = tuple[tuple[str, pa.DataType, str, str], ...]


def _create(table: str, columns: Columns, constraint: str, *, postgres: bool) -> str:
    cols = ", ".join(f"{quote_ident(name)} {pg if postgres else duck}" for name, _, duck, pg in columns)
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols}, {constraint})"


def _add_missing(table: str, columns: Columns, have: set[str], *, postgres: bool) -> list[str]:
    """``ALTER TABLE`` statements adding the columns a table made by an earlier sfsync lacks (``removed``
    came after the first release); existing rows get NULL there. Nothing when none is missing, so a user
    without ALTER rights on tables made beforehand is never asked for more."""
    return [
        f"ALTER TABLE {table} ADD COLUMN {quote_ident(name)} {pg if postgres else duck}"
        for name, _, duck, pg in columns
        if name not in have
    ]


_COLUMNS_OF = (
    "SELECT column_name FROM information_schema.columns WHERE table_schema = {schema} AND table_name = ?"
)


class DuckDBLogTables:
    """Sync logs in a DuckDB database file (created when missing)."""

    def __init__(self, name: str, path: Path, logs: SyncLogs) -> None:
        self.where = f"{name} ({path})"
        self._runs, self._rows = _names(logs)
        try:
            self._con = duckdb.connect(str(path))
            if logs.schema_:
                self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(logs.schema_)}")
            self._con.execute(_create(self._runs, RUN_COLUMNS, _RUN_KEY, postgres=False))
            self._con.execute(_create(self._rows, ROW_COLUMNS, _ROW_CHECK, postgres=False))
            schema = "?" if logs.schema_ else "current_schema()"
            for table, name, columns in (
                (self._runs, logs.table_prefix + "runs", RUN_COLUMNS),
                (self._rows, logs.table_prefix + "row_results", ROW_COLUMNS),
            ):
                params = [logs.schema_, name] if logs.schema_ else [name]
                got = self._con.execute(_COLUMNS_OF.format(schema=schema), params).fetchall()
                for statement in _add_missing(table, columns, {r[0] for r in got}, postgres=False):
                    self._con.execute(statement)
        except duckdb.Error as e:
            raise SourceError(
                f"sync logs: cannot write to DuckDB file {path}: {e}",
                source=name,
                hint="another process (or a reader of this warehouse) may hold the file; the run is written "
                "again after the next run, or with `sfsync export-logs`",
            ) from e

    def write(self, project: str, run_id: int, run: pa.Table, rows: Iterable[pa.Table]) -> int:
        con, written = self._con, 0
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(f"DELETE FROM {self._rows} WHERE project = ? AND run_id = ?", [project, run_id])
            con.execute(f"DELETE FROM {self._runs} WHERE project = ? AND run_id = ?", [project, run_id])
            con.register("sfsync_run", run)
            con.execute(f"INSERT INTO {self._runs} BY NAME SELECT * FROM sfsync_run")
            con.unregister("sfsync_run")
            for table in rows:
                con.register("sfsync_rows", table)
                con.execute(f"INSERT INTO {self._rows} BY NAME SELECT * FROM sfsync_rows")
                con.unregister("sfsync_rows")
                written += table.num_rows
            con.execute("COMMIT")
        except duckdb.Error as e:
            con.execute("ROLLBACK")
            raise SourceError(f"sync logs: writing run {run_id} to {self.where} failed: {e}") from e
        return written

    def close(self) -> None:
        self._con.close()


class PostgresLogTables:
    """Sync logs in a PostgreSQL database (tables created when missing)."""

    def __init__(self, name: str, config: PostgresSource, logs: SyncLogs) -> None:
        url = config.url.get_secret_value()
        self.where = f"{name} ({redact_url(url)})"
        self._runs, self._rows = _names(logs)
        try:
            self._conn = psycopg.connect(url, connect_timeout=config.connect_timeout_seconds)
            with self._conn.transaction():
                if logs.schema_:
                    self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(logs.schema_)}")
                self._conn.execute(_create(self._runs, RUN_COLUMNS, _RUN_KEY, postgres=True))
                self._conn.execute(_create(self._rows, ROW_COLUMNS, _ROW_CHECK, postgres=True))
                schema = "%s" if logs.schema_ else "current_schema()"
                for table, name, columns in (
                    (self._runs, logs.table_prefix + "runs", RUN_COLUMNS),
                    (self._rows, logs.table_prefix + "row_results", ROW_COLUMNS),
                ):
                    params = (logs.schema_, name) if logs.schema_ else (name,)
                    query = _COLUMNS_OF.replace("?", "%s").format(schema=schema)
                    got = self._conn.execute(query, params).fetchall()
                    for statement in _add_missing(table, columns, {r[0] for r in got}, postgres=True):
                        self._conn.execute(statement)
        except psycopg.Error as e:
            raise SourceError(
                f"sync logs: cannot write to PostgreSQL at {self.where}: {str(e).strip()}",
                source=name,
                hint="the user needs CREATE on the schema (or the tables made beforehand) and INSERT, "
                "DELETE on them; the run is written again after the next run",
            ) from e

    def write(self, project: str, run_id: int, run: pa.Table, rows: Iterable[pa.Table]) -> int:
        conn, written = self._conn, 0
        names = ", ".join(quote_ident(n) for n, *_ in RUN_COLUMNS)
        marks = ", ".join(["%s"] * len(RUN_COLUMNS))
        row_names = ", ".join(quote_ident(n) for n, *_ in ROW_COLUMNS)
        try:
            with conn.transaction():
                conn.execute(
                    f"DELETE FROM {self._rows} WHERE project = %s AND run_id = %s", (project, run_id)
                )
                conn.execute(
                    f"DELETE FROM {self._runs} WHERE project = %s AND run_id = %s", (project, run_id)
                )
                values = [run.column(n).to_pylist()[0] for n, *_ in RUN_COLUMNS]
                conn.execute(f"INSERT INTO {self._runs} ({names}) VALUES ({marks})", values)
                with conn.cursor().copy(
                    f"COPY {self._rows} ({row_names}) FROM STDIN WITH (FORMAT csv, HEADER false)"
                ) as copy:
                    for table in rows:
                        for start in range(0, table.num_rows, COPY_CHUNK_ROWS):
                            copy.write(_csv(table.slice(start, COPY_CHUNK_ROWS)))
                        written += table.num_rows
        except psycopg.Error as e:
            raise SourceError(
                f"sync logs: writing run {run_id} to {self.where} failed: {str(e).strip()}"
            ) from e
        return written

    def close(self) -> None:
        self._conn.close()


def _csv(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(include_header=False))
    return out.getvalue()


def open_log_tables(project: Project) -> LogTables:
    """The sync log tables of ``project`` (its ``logs:``), created when missing."""
    logs = project.logs
    if logs is None:
        raise ConfigError(
            "the project has no logs: section", hint="docs/project-file.md#sync-logs-in-the-warehouse"
        )
    config = project.sources.get(logs.source)
    if isinstance(config, DuckDBSource):
        return DuckDBLogTables(logs.source, project.resolve_path(config.path), logs)
    if isinstance(config, PostgresSource):
        return PostgresLogTables(logs.source, config, logs)
    raise ConfigError(f"logs.source {logs.source!r} is not a duckdb or postgres source")


__all__ = [
    "COPY_CHUNK_ROWS",
    "ROWS_SCHEMA",
    "ROW_COLUMNS",
    "RUNS_SCHEMA",
    "RUN_COLUMNS",
    "DuckDBLogTables",
    "LogTables",
    "PostgresLogTables",
    "open_log_tables",
]
