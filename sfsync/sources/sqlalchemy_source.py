"""Any SQLAlchemy URL: Snowflake, BigQuery, Databricks (``pip install 'sfsync[snowflake]'`` etc.), SQLite...

Rows stream with ``stream_results`` (a server-side cursor where the driver has one) in partitions of
``batch_rows``. DBAPI drivers do not describe column types uniformly, so the Arrow schema is inferred from a
sample of the model's first :data:`SCHEMA_SAMPLE_ROWS` rows and every later batch is converted to it; a
column with no value in the sample is text. When a column's values change type later, the read fails with
a hint to CAST the column in the model's SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sfsync.config.env import redact_url
from sfsync.config.sources import SqlAlchemySource
from sfsync.errors import SourceError
from sfsync.sources.base import ModelQuery, StreamingSource, check_columns, rows_to_batch

SCHEMA_SAMPLE_ROWS = 1000
"""Rows read to infer the Arrow type of each column of a SQLAlchemy source."""

EXTRAS = {
    "snowflake": "pip install 'sfsync[snowflake]'  (snowflake-sqlalchemy)",
    "bigquery": "pip install 'sfsync[bigquery]'  (sqlalchemy-bigquery)",
    "databricks": "pip install 'sfsync[databricks]'  (databricks-sqlalchemy)",
}


def _normalize(t: pa.DataType) -> pa.DataType:
    if pa.types.is_null(t):
        return pa.string()
    if pa.types.is_integer(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    if pa.types.is_decimal(t):
        return pa.decimal128(38, min(max(t.scale, 0), 38))
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_time(t):
        return pa.time64("us")
    if pa.types.is_large_string(t):
        return pa.string()
    return t


def infer_schema(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> pa.Schema:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    fields = []
    for name, values in zip(names, columns, strict=True):
        try:
            t = pa.array(values).type
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            t = pa.string()
        fields.append(pa.field(name, _normalize(t)))
    return pa.schema(fields)


class SqlAlchemyReader(StreamingSource):
    kind = "sqlalchemy"

    def __init__(self, name: str, config: SqlAlchemySource) -> None:
        super().__init__(name)
        url = config.url.get_secret_value()
        self._shown = redact_url(url)
        try:
            self._engine: Engine = sa.create_engine(url, connect_args=dict(config.connect_args))
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as e:
            dialect = url.split(":", 1)[0].split("+", 1)[0]
            extra = EXTRAS.get(dialect)
            raise SourceError(
                f"source {name!r}: SQLAlchemy cannot use {self._shown}: {e}",
                source=name,
                hint=f"install the dialect: {extra}"
                if extra
                else "check the URL and install its SQLAlchemy dialect",
            ) from e

    def close(self) -> None:
        self._engine.dispose()

    def _connect(self) -> Connection:
        try:
            return self._engine.connect()
        except sa.exc.SQLAlchemyError as e:
            detail = str(getattr(e, "orig", None) or e).strip()
            raise SourceError(
                f"source {self.name!r}: cannot connect to {self._shown}: {detail}",
                source=self.name,
                hint="check the URL, the credentials in the environment or .env, and that the database "
                "is reachable",
            ) from e

    def _quote(self, name: str) -> str:
        return str(self._engine.dialect.identifier_preparer.quote(name))

    def _fail(self, query: ModelQuery, e: Exception) -> SourceError:
        detail = getattr(e, "orig", None) or e
        return SourceError(
            f"{query.label} failed: {str(detail).strip()}",
            source=query.source,
            model=query.model,
            hint="fix the model's sql/table or the segment's where; CAST a column in the model's SQL "
            "when its "
            "values are of mixed types",
        )

    def schema(self, query: ModelQuery) -> pa.Schema:
        with self._connect() as conn:
            try:
                result = conn.exec_driver_sql(query.compose(self._quote, limit=SCHEMA_SAMPLE_ROWS))
                names = list(result.keys())
                rows = result.fetchall()
            except sa.exc.SQLAlchemyError as e:
                raise self._fail(query, e) from e
        if query.columns is not None:
            check_columns(query, self._all_columns(query))
        return infer_schema(names, rows)

    def _all_columns(self, query: ModelQuery) -> list[str]:
        with self._connect() as conn:
            try:
                return list(
                    conn.exec_driver_sql(query.with_columns(None).compose(self._quote, limit=0)).keys()
                )
            except sa.exc.SQLAlchemyError as e:
                raise self._fail(query, e) from e

    def _stream(self, query: ModelQuery, batch_rows: int, limit: int | None) -> pa.RecordBatchReader:
        schema = self.schema(query)
        sql = query.compose(self._quote, limit=limit)

        def batches() -> Iterator[pa.RecordBatch]:
            # the streaming connection opens on the first batch and closes after the last (or on error)
            with self._connect() as conn:
                try:
                    result = conn.execution_options(
                        stream_results=True, yield_per=batch_rows
                    ).exec_driver_sql(sql)
                    for part in result.partitions(batch_rows):
                        yield rows_to_batch(part, schema)
                except (sa.exc.SQLAlchemyError, pa.ArrowInvalid, pa.ArrowTypeError) as e:
                    raise self._fail(query, e) from e

        return pa.RecordBatchReader.from_batches(schema, batches())

    def count_rows(self, query: ModelQuery) -> int:
        with self._connect() as conn:
            try:
                value = conn.exec_driver_sql(
                    query.with_columns(None).compose(self._quote, count=True)
                ).scalar()
            except sa.exc.SQLAlchemyError as e:
                raise self._fail(query, e) from e
        return int(value or 0)

    def test_connection(self) -> None:
        with self._connect() as conn:
            try:
                conn.exec_driver_sql("select 1")
            except sa.exc.SQLAlchemyError as e:
                raise SourceError(
                    f"source {self.name!r}: {self._shown} does not answer: {e}", source=self.name
                ) from e


__all__ = ["EXTRAS", "SCHEMA_SAMPLE_ROWS", "SqlAlchemyReader", "infer_schema"]
