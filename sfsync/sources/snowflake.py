"""Snowflake through its Python connector (``pip install 'sfsync[snowflake]'``): ``type: snowflake``.

Tested only against fakesnow (a local Snowflake fake over DuckDB), not a real account
(docs/warehouse-planner.md#dialects). Rows come out through the DBAPI cursor in ``fetchmany`` batches;
as for SQLAlchemy sources, the Arrow schema is inferred from a sample of the first rows
(:data:`sfsync.sources.sqlalchemy_source.SCHEMA_SAMPLE_ROWS`) and every batch is converted to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from sfsync.config.sources import SnowflakeSource
from sfsync.errors import SourceError
from sfsync.sources.base import ModelQuery, StreamingSource, check_columns, rows_to_batch
from sfsync.sources.sqlalchemy_source import SCHEMA_SAMPLE_ROWS, infer_schema

EXTRA = "pip install 'sfsync[snowflake]'  (snowflake-connector-python)"


def quote(name: str) -> str:
    """A Snowflake-quoted identifier (case kept)."""
    return '"' + name.replace('"', '""') + '"'


def connect_snowflake(name: str, config: SnowflakeSource) -> Any:
    """A DBAPI connection (``%s`` parameters) to the source's account, database and schema."""
    try:
        import snowflake.connector
    except ImportError as exc:
        raise SourceError(
            f"source {name!r}: the Snowflake connector is not installed", source=name, hint=EXTRA
        ) from exc
    args: dict[str, Any] = {
        "account": config.account,
        "user": config.user,
        "password": config.password.get_secret_value(),
        "database": config.database,
        "schema": config.schema_,
        "login_timeout": config.login_timeout_seconds,
    }
    if config.warehouse is not None:
        args["warehouse"] = config.warehouse
    if config.role is not None:
        args["role"] = config.role
    try:
        return snowflake.connector.connect(**args)
    except snowflake.connector.errors.Error as exc:
        raise SourceError(
            f"source {name!r}: cannot connect to Snowflake account {config.account!r} as {config.user!r}: "
            f"{str(exc).strip()}",
            source=name,
            hint="check account, user, the password in the environment or .env, and the role's grants",
        ) from exc


class SnowflakeReader(StreamingSource):
    kind = "snowflake"

    def __init__(self, name: str, config: SnowflakeSource) -> None:
        super().__init__(name)
        self._config = config
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = connect_snowflake(self.name, self._config)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _fail(self, query: ModelQuery, e: Exception) -> SourceError:
        return SourceError(
            f"{query.label} failed: {str(e).strip()}",
            source=query.source,
            model=query.model,
            hint="fix the model's sql/table or the segment's where; CAST a column in the model's SQL "
            "when its values are of mixed types",
        )

    def _run(self, query: ModelQuery, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        import snowflake.connector

        cur = self._connection().cursor()
        try:
            cur.execute(sql)
            names = [str(d[0]) for d in cur.description]
            return names, [tuple(r) for r in cur.fetchall()]
        except snowflake.connector.errors.Error as e:
            raise self._fail(query, e) from e
        finally:
            cur.close()

    def schema(self, query: ModelQuery) -> pa.Schema:
        names, rows = self._run(query, query.compose(quote, limit=SCHEMA_SAMPLE_ROWS))
        if query.columns is not None:
            check_columns(query, self._run(query, query.with_columns(None).compose(quote, limit=0))[0])
        return infer_schema(names, rows)

    def _stream(self, query: ModelQuery, batch_rows: int, limit: int | None) -> pa.RecordBatchReader:
        import snowflake.connector

        schema = self.schema(query)
        sql = query.compose(quote, limit=limit)

        def batches() -> Iterator[pa.RecordBatch]:
            cur = self._connection().cursor()
            try:
                cur.execute(sql)
                while rows := cur.fetchmany(batch_rows):
                    yield rows_to_batch([tuple(r) for r in rows], schema)
            except (snowflake.connector.errors.Error, pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise self._fail(query, e) from e
            finally:
                cur.close()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def count_rows(self, query: ModelQuery) -> int:
        _, rows = self._run(query, query.with_columns(None).compose(quote, count=True))
        return int(rows[0][0] or 0) if rows else 0

    def test_connection(self) -> None:
        self._run(ModelQuery(source=self.name, model="connection test", sql="select 1"), "select 1")


__all__ = ["SnowflakeReader", "connect_snowflake", "quote"]
