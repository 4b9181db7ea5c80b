"""Connections the warehouse planner works through: PostgreSQL (psycopg 3) and any DBAPI connection.

The planner only needs a few operations: run a statement, fetch a few rows, load primary keys into a
staging table, load a whole snapshot from CSV (when a snapshot moves in from the local planner), stream
the rows to send out as Arrow, and commit or roll back. Statements come from
:mod:`sfsync.sync.warehouse.sql`; nothing here builds SQL from names or values.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv

from sfsync.config.env import redact_url
from sfsync.config.sources import PostgresSource, SnowflakeSource
from sfsync.errors import SourceError
from sfsync.sources.base import ModelQuery
from sfsync.sources.postgres import PostgresReader
from sfsync.sources.snowflake import connect_snowflake

#: Rows per batch when keys are inserted one statement per batch (warehouses without COPY).
INSERT_BATCH_ROWS = 10_000
#: PostgreSQL settings of the planner's session. JIT off: the diff's wide comparison expressions run once
#: per diff, and compiling them took longer than the queries themselves (11 s of JIT for a 1M-row diff).
POSTGRES_SESSION = {"jit": "off"}


class Warehouse(ABC):
    """One open connection (a transaction is always open: statements run in it until commit)."""

    #: the sqlglot dialect its SQL is rendered in
    dialect: str
    name: str

    @abstractmethod
    def execute(self, sql: str) -> None: ...

    @abstractmethod
    def fetchall(self, sql: str) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def load_keys(self, copy_sql: str, insert_sql: str, keys: Sequence[str]) -> None:
        """Load text keys into a one-column staging table (COPY where the warehouse has it)."""

    @abstractmethod
    def load_csv(self, copy_sql: str, insert_sql: str, path: Path) -> None:
        """Load a CSV file (no header; an unquoted empty field is NULL) with the COPY statement, or the
        parameterised insert of one row where the warehouse has no COPY from the client."""

    @abstractmethod
    def read_arrow(self, sql: str) -> pa.RecordBatchReader:
        """Stream a query's rows out as Arrow (committed tables only: it may use another connection)."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def fail(self, what: str, exc: Exception) -> SourceError:
        return SourceError(
            f"source {self.name!r}: {what} failed in the warehouse: {str(exc).strip()}",
            source=self.name,
            hint="check the grants of the planner schema (docs/warehouse-planner.md#grants); "
            "nothing was sent",
        )


class PostgresWarehouse(Warehouse):
    """PostgreSQL through psycopg 3; rows leave through the PostgreSQL reader (COPY parsed by Arrow)."""

    dialect = "postgres"

    def __init__(self, name: str, config: PostgresSource) -> None:
        self.name = name
        self._config = config
        url = config.url.get_secret_value()
        try:
            self._conn = psycopg.connect(
                url,
                connect_timeout=config.connect_timeout_seconds,
                options="-c TimeZone=UTC -c DateStyle=ISO,YMD",
            )
        except psycopg.Error as exc:
            raise SourceError(
                f"source {name!r}: cannot connect to PostgreSQL at {redact_url(url)}: {str(exc).strip()}",
                source=name,
                hint="check the url and that the server accepts connections from here",
            ) from exc
        try:  # a value bound as a parameter, not pasted into SQL
            settings = {**POSTGRES_SESSION, "work_mem": config.planner_work_mem}
            for name, value in settings.items():
                self._conn.execute(b"SELECT set_config(%s, %s, false)", (name, value))
            self._conn.commit()
        except psycopg.Error as exc:
            self._conn.close()
            raise self.fail(f"setting the session ({settings})", exc) from exc
        # every statement of one diff sees the same data: the model read once, consistently
        self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ

    def execute(self, sql: str) -> None:
        try:
            self._conn.execute(sql.encode())
        except psycopg.Error as exc:
            raise self.fail(sql.split(" ", 3)[0].lower() + " statement", exc) from exc

    def fetchall(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn.execute(sql.encode()).fetchall())
        except psycopg.Error as exc:
            raise self.fail("a query", exc) from exc

    def load_keys(self, copy_sql: str, insert_sql: str, keys: Sequence[str]) -> None:
        try:
            with self._conn.cursor() as cur, cur.copy(copy_sql.encode()) as copy:
                for key in keys:
                    copy.write_row((key,))
        except psycopg.Error as exc:
            raise self.fail("loading the accepted keys", exc) from exc

    def load_csv(self, copy_sql: str, insert_sql: str, path: Path) -> None:
        try:
            statement = (copy_sql + " WITH (FORMAT csv)").encode()
            with self._conn.cursor() as cur, cur.copy(statement) as copy, open(path, "rb") as fh:
                while block := fh.read(1 << 20):
                    copy.write(block)
        except psycopg.Error as exc:
            raise self.fail("loading the snapshot", exc) from exc

    def read_arrow(self, sql: str) -> pa.RecordBatchReader:
        reader = PostgresReader(self.name, self._config)
        return reader.read(ModelQuery(source=self.name, model="rows to send", sql=sql))

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def close(self) -> None:
        self._conn.close()


def open_snowflake_warehouse(name: str, config: SnowflakeSource) -> DbapiWarehouse:
    """The warehouse planner's connection to a ``type: snowflake`` source (tested on fakesnow only)."""
    conn = connect_snowflake(name, config)
    conn.autocommit(False)  # statements run in transactions the planner commits (DDL commits anyway)
    return DbapiWarehouse(name, conn, "snowflake")


class DbapiWarehouse(Warehouse):
    """Any DBAPI 2 connection (``%s`` parameters), e.g. Snowflake's connector; rows leave through
    ``fetchall`` (fine for the rows to send, which are few)."""

    def __init__(self, name: str, conn: Any, dialect: str) -> None:
        self.name = name
        self._conn = conn
        self.dialect = dialect

    def execute(self, sql: str) -> None:
        cur = self._conn.cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()

    def fetchall(self, sql: str) -> list[tuple[Any, ...]]:
        cur = self._conn.cursor()
        try:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def load_keys(self, copy_sql: str, insert_sql: str, keys: Sequence[str]) -> None:
        cur = self._conn.cursor()
        try:
            for start in range(0, len(keys), INSERT_BATCH_ROWS):
                cur.executemany(insert_sql, [(k,) for k in keys[start : start + INSERT_BATCH_ROWS]])
        finally:
            cur.close()

    def load_csv(self, copy_sql: str, insert_sql: str, path: Path) -> None:
        """Rows inserted in batches of :data:`INSERT_BATCH_ROWS`, values as text (the warehouse casts them
        to the columns' types, as it does for COPY)."""
        if path.stat().st_size == 0:
            return
        width = insert_sql.count("%s")
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True, block_size=1 << 22),
            convert_options=pa_csv.ConvertOptions(
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                column_types={f"f{i}": pa.string() for i in range(width)},
            ),
        )
        cur = self._conn.cursor()
        try:
            for batch in reader:
                rows = list(zip(*(c.to_pylist() for c in batch.columns), strict=True))
                for start in range(0, len(rows), INSERT_BATCH_ROWS):
                    cur.executemany(insert_sql, rows[start : start + INSERT_BATCH_ROWS])
        except Exception as exc:  # the DBAPI driver's own error classes
            raise self.fail("loading the snapshot", exc) from exc
        finally:
            cur.close()

    def read_arrow(self, sql: str) -> pa.RecordBatchReader:
        cur = self._conn.cursor()
        try:
            cur.execute(sql)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        finally:
            cur.close()
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        table = pa.table({n: pa.array(list(c)) for n, c in zip(names, columns, strict=True)})

        def batches() -> Iterator[pa.RecordBatch]:
            yield from table.to_batches()

        return pa.RecordBatchReader.from_batches(table.schema, batches())

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def close(self) -> None:
        self._conn.close()


__all__ = [
    "INSERT_BATCH_ROWS",
    "POSTGRES_SESSION",
    "DbapiWarehouse",
    "PostgresWarehouse",
    "Warehouse",
    "open_snowflake_warehouse",
]
