"""What every warehouse reader offers, and the query a model (or segment) becomes.

A :class:`ModelQuery` is the model's SELECT, optionally a segment's ``where`` and the list of columns to
read. Readers wrap it as ``select <columns> from (<model sql>) as sfsync_model where (<filter>)`` so the
filter and the projection are pushed down to the warehouse.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import TracebackType

import pyarrow as pa

from sfsync.errors import SourceError
from sfsync.sources.types import LogicalType, logical_columns

DEFAULT_BATCH_ROWS = 50_000
"""Rows per Arrow batch when streaming a model: bounds reader memory (a batch is the unit held at once)."""

DEFAULT_PREVIEW_ROWS = 10
"""Rows ``preview()`` returns when not told otherwise."""

MODEL_ALIAS = "sfsync_model"


@dataclass(frozen=True)
class ModelQuery:
    """The rows of one model (or segment) to read from one source."""

    source: str
    model: str
    sql: str
    where: str | None = None
    segment: str | None = None
    columns: tuple[str, ...] | None = None  # None = every column of the model

    def with_columns(self, columns: Sequence[str] | None) -> ModelQuery:
        """The same rows, reading only ``columns`` (duplicates dropped, order kept)."""
        return replace(self, columns=None if columns is None else tuple(dict.fromkeys(columns)))

    @property
    def label(self) -> str:
        seg = f" (segment {self.segment!r})" if self.segment else ""
        return f"model {self.model!r}{seg} of source {self.source!r}"

    def compose(
        self,
        quote: Callable[[str], str],
        *,
        select: Sequence[str] | None = None,
        limit: int | None = None,
        count: bool = False,
    ) -> str:
        """The SQL text; ``select`` overrides the column expressions (already quoted)."""
        if count:
            cols = "count(*)"
        elif select is not None:
            cols = ", ".join(select)
        elif self.columns is not None:
            cols = ", ".join(quote(c) for c in self.columns) or "*"
        else:
            cols = "*"
        text = f"select {cols} from (\n{self.sql}\n) as {MODEL_ALIAS}"
        if self.where:
            text += f"\nwhere ({self.where})"
        if limit is not None:
            text += f"\nlimit {int(limit)}"
        return text


def rows_to_batch(rows: Sequence[Sequence[object]], schema: pa.Schema) -> pa.RecordBatch:
    """DBAPI rows (tuples) → one Arrow batch of ``schema`` (columns transposed in C by ``zip``)."""
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


def check_columns(query: ModelQuery, available: Sequence[str]) -> None:
    """Raise SourceError when ``query.columns`` names a column the model does not have."""
    if query.columns is None:
        return
    missing = [c for c in query.columns if c not in available]
    if missing:
        raise SourceError(
            f"{query.label} has no column {', '.join(map(repr, missing))}",
            source=query.source,
            model=query.model,
            hint=f"its columns are: {', '.join(available)}",
        )


class Source(ABC):
    """A warehouse connection that reads models. Use as a context manager or call :meth:`close`."""

    kind: str = "source"

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def schema(self, query: ModelQuery) -> pa.Schema:
        """The Arrow schema :meth:`read` will produce for ``query`` (types normalized)."""

    @abstractmethod
    def read(self, query: ModelQuery, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> pa.RecordBatchReader:
        """Stream the rows as Arrow batches of at most ``batch_rows`` rows, in bounded memory."""

    @abstractmethod
    def count_rows(self, query: ModelQuery) -> int:
        """How many rows the model (segment) has, counted in the warehouse."""

    @abstractmethod
    def test_connection(self) -> None:
        """Reach the warehouse; raise SourceError saying what to fix when it cannot be reached."""

    def close(self) -> None:  # noqa: B027  (readers without resources need nothing)
        """Release connections."""

    def columns(self, query: ModelQuery) -> dict[str, LogicalType]:
        """Column name → logical type of ``query`` (all the model's columns when it selects none)."""
        return logical_columns(self.schema(query))

    def preview(self, query: ModelQuery, n: int = DEFAULT_PREVIEW_ROWS) -> pa.Table:
        """The first ``n`` rows (in the warehouse's order) as a table."""
        reader = self._read_limited(query, n)
        return reader.read_all()

    @abstractmethod
    def _read_limited(self, query: ModelQuery, limit: int) -> pa.RecordBatchReader:
        """Like :meth:`read` with a LIMIT pushed down."""

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class StreamingSource(Source):
    """A source whose reads, whole or limited, all go through one streaming query (``_stream``)."""

    @abstractmethod
    def _stream(self, query: ModelQuery, batch_rows: int, limit: int | None) -> pa.RecordBatchReader:
        """Stream ``query``'s rows in batches of at most ``batch_rows``, with ``limit`` pushed down."""

    def read(self, query: ModelQuery, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> pa.RecordBatchReader:
        return self._stream(query, batch_rows, None)

    def _read_limited(self, query: ModelQuery, limit: int) -> pa.RecordBatchReader:
        return self._stream(query, max(limit, 1), limit)


__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_PREVIEW_ROWS",
    "ModelQuery",
    "Source",
    "StreamingSource",
    "check_columns",
    "rows_to_batch",
]
