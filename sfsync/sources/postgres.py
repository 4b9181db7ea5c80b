"""PostgreSQL reader (psycopg 3): a server-side cursor streams the rows in batches of bounded size.

Column types come from the query's result description. Types with a faithful Arrow form are read as
such (binary protocol); the rest are cast in SQL: uuid/json/interval/arrays/enums/... to text, money and
unconstrained or very wide numerics to ``numeric(38, N)``, ``timetz`` to ``time``. The session runs in
UTC, so ``timestamptz`` arrives as UTC instants.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow as pa

from sfsync.config.env import redact_url
from sfsync.config.sources import PostgresSource
from sfsync.errors import SourceError
from sfsync.sources.base import DEFAULT_BATCH_ROWS, ModelQuery, Source, check_columns, rows_to_batch
from sfsync.sources.duck import quote_ident

UNCONSTRAINED_NUMERIC_SCALE = 10
"""Digits after the point kept for ``numeric`` columns declared without precision (cast to numeric(38, N))."""

_OIDS: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    700: pa.float32(),
    701: pa.float64(),
    25: pa.string(),  # text
    1043: pa.string(),  # varchar
    1042: pa.string(),  # bpchar
    19: pa.string(),  # name
    18: pa.string(),  # "char"
    1082: pa.date32(),
    1083: pa.time64("us"),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
_NUMERIC, _MONEY, _TIMETZ, _OID = 1700, 790, 1266, 26


def _column(name: str, oid: int, precision: int | None, scale: int | None) -> tuple[str, pa.DataType]:
    """(select expression, arrow type) for one result column."""
    q = quote_ident(name)
    if oid in _OIDS:
        return q, _OIDS[oid]
    if oid == _NUMERIC:
        if precision is not None and scale is not None and 0 < precision <= 38:
            return q, pa.decimal128(precision, scale)
        s = UNCONSTRAINED_NUMERIC_SCALE if scale is None else min(scale, 38)
        return f"{q}::numeric(38, {s}) as {q}", pa.decimal128(38, s)
    if oid == _MONEY:
        return f"{q}::numeric(38, 2) as {q}", pa.decimal128(38, 2)
    if oid == _TIMETZ:
        return f"{q}::time as {q}", pa.time64("us")
    if oid == _OID:
        return f"{q}::int8 as {q}", pa.int64()
    return f"{q}::text as {q}", pa.string()


class PostgresReader(Source):
    kind = "postgres"

    def __init__(self, name: str, config: PostgresSource) -> None:
        super().__init__(name)
        self._url = config.url.get_secret_value()
        self._timeout = config.connect_timeout_seconds

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self._url, connect_timeout=self._timeout, options="-c TimeZone=UTC")
        except psycopg.Error as e:
            raise SourceError(
                f"source {self.name!r}: cannot connect to PostgreSQL at {redact_url(self._url)}: "
                f"{str(e).strip()}",
                source=self.name,
                hint="check the url (host, port, database, user), that the server runs and accepts "
                "connections from here, and the password variable in the environment or .env",
            ) from e

    def _fail(self, query: ModelQuery, e: Exception) -> SourceError:
        return SourceError(
            f"{query.label} failed in PostgreSQL: {str(e).strip()}",
            source=query.source,
            model=query.model,
            hint="fix the model's sql/table or the segment's where in the project file; "
            "`sfsync check` re-runs this",
        )

    def _plan(self, conn: psycopg.Connection[Any], query: ModelQuery) -> tuple[list[str], pa.Schema]:
        try:
            with conn.cursor() as cur:
                cur.execute(query.with_columns(None).compose(quote_ident, limit=0).encode())
                description = cur.description or []
        except psycopg.Error as e:
            raise self._fail(query, e) from e
        finally:
            conn.rollback()
        by_name = {d.name: d for d in description}
        check_columns(query, list(by_name))
        wanted = query.columns if query.columns is not None else tuple(by_name)
        select, fields = [], []
        for col in wanted:
            d = by_name[col]
            expr, typ = _column(col, d.type_code, d.precision, d.scale)
            select.append(expr)
            fields.append(pa.field(col, typ))
        return select, pa.schema(fields)

    def schema(self, query: ModelQuery) -> pa.Schema:
        with self._connect() as conn:
            return self._plan(conn, query)[1]

    def _stream(self, query: ModelQuery, batch_rows: int, limit: int | None) -> pa.RecordBatchReader:
        with self._connect() as conn:
            select, schema = self._plan(conn, query)
        sql = query.compose(quote_ident, select=select, limit=limit).encode()

        def batches() -> Iterator[pa.RecordBatch]:
            # the streaming connection opens on the first batch and closes after the last (or on error)
            with self._connect() as conn:
                try:
                    with conn.cursor(name="sfsync_read", binary=True) as cur:
                        cur.itersize = batch_rows
                        cur.execute(sql)
                        while rows := cur.fetchmany(batch_rows):
                            yield rows_to_batch(rows, schema)
                except (psycopg.Error, pa.ArrowInvalid, pa.ArrowTypeError) as e:
                    raise self._fail(query, e) from e
                finally:
                    conn.rollback()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def read(self, query: ModelQuery, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> pa.RecordBatchReader:
        return self._stream(query, batch_rows, None)

    def _read_limited(self, query: ModelQuery, limit: int) -> pa.RecordBatchReader:
        return self._stream(query, max(limit, 1), limit)

    def count_rows(self, query: ModelQuery) -> int:
        with self._connect() as conn:
            try:
                row = conn.execute(
                    query.with_columns(None).compose(quote_ident, count=True).encode()
                ).fetchone()
            except psycopg.Error as e:
                raise self._fail(query, e) from e
        return int(row[0]) if row else 0

    def test_connection(self) -> None:
        with self._connect() as conn:
            conn.execute(b"select 1")


__all__ = ["UNCONSTRAINED_NUMERIC_SCALE", "PostgresReader"]
