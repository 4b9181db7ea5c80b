"""PostgreSQL reader (psycopg 3): ``COPY (query) TO STDOUT`` as CSV, parsed by Arrow's C++ CSV reader.

No Python object is made per row or value: the server streams CSV, psycopg hands the bytes over in
chunks, and ``pyarrow.csv`` turns blocks of :data:`COPY_BLOCK_BYTES` into record batches, so memory stays
bounded whatever the model's size. Column types come from the query's result description (a ``LIMIT 0``
run). Types with a faithful Arrow form are parsed as such; the rest are cast in SQL: uuid/json/interval/
arrays/enums/... to text, money and unconstrained or very wide numerics to ``numeric(38, N)``, ``timetz``
to ``time``. The session runs in UTC with ISO dates, so ``timestamptz`` arrives as UTC instants. A NULL
and an empty string stay distinct (COPY quotes empty strings).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from sfsync.config.env import redact_url
from sfsync.config.sources import PostgresSource
from sfsync.errors import SourceError
from sfsync.sources.base import ModelQuery, StreamingSource, check_columns
from sfsync.sources.duck import quote_ident

UNCONSTRAINED_NUMERIC_SCALE = 10
"""Digits after the point kept for ``numeric`` columns declared without precision (cast to numeric(38, N))."""

COPY_BLOCK_BYTES = 4 * 1024 * 1024
"""Bytes of COPY output Arrow parses into one record batch (then sliced to ``batch_rows``)."""

_SESSION = "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres"

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


class _ChunkReader(io.RawIOBase):
    """A readable file over the chunks psycopg yields for ``COPY … TO STDOUT`` (about one per row).

    ``read(n)`` gathers chunks until it has ``n`` bytes, so Arrow's block-sized reads cost one call each.
    """

    def __init__(self, first: bytes | bytearray | memoryview, rest: Iterator[bytes | bytearray | memoryview]):
        super().__init__()
        self._pending = bytes(first)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        parts = [self._pending]
        have = len(self._pending)
        limit = None if size is None or size < 0 else size
        while limit is None or have < limit:
            nxt = next(self._rest, None)
            if nxt is None:
                break
            parts.append(bytes(nxt))
            have += len(nxt)
        data = b"".join(parts)
        if limit is None:
            self._pending = b""
            return data
        self._pending = data[limit:]
        return data[:limit]

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class PostgresReader(StreamingSource):
    kind = "postgres"

    def __init__(self, name: str, config: PostgresSource) -> None:
        super().__init__(name)
        self._url = config.url.get_secret_value()
        self._timeout = config.connect_timeout_seconds

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self._url, connect_timeout=self._timeout, options=_SESSION)
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
        sql = query.compose(quote_ident, select=select, limit=limit)
        copy_sql = f"copy (\n{sql}\n) to stdout with (format csv)".encode()
        options = (
            pacsv.ReadOptions(column_names=schema.names, block_size=COPY_BLOCK_BYTES),
            pacsv.ParseOptions(newlines_in_values=True),
            pacsv.ConvertOptions(
                column_types=schema,
                true_values=["t"],
                false_values=["f"],
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,  # "" is an empty string, an unquoted empty field is NULL
            ),
        )

        def batches() -> Iterator[pa.RecordBatch]:
            # the streaming connection opens on the first batch and closes after the last (or on error)
            with self._connect() as conn:
                try:
                    with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                        chunks = iter(copy)
                        first = next(chunks, None)
                        if first is None:
                            return
                        stream = _ChunkReader(first, chunks)
                        for batch in pacsv.open_csv(stream, *options):
                            for offset in range(0, batch.num_rows, batch_rows):
                                yield batch.slice(offset, batch_rows)
                except (psycopg.Error, pa.ArrowInvalid, pa.ArrowTypeError) as e:
                    raise self._fail(query, e) from e

        return pa.RecordBatchReader.from_batches(schema, batches())

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


__all__ = ["COPY_BLOCK_BYTES", "UNCONSTRAINED_NUMERIC_SCALE", "PostgresReader"]
