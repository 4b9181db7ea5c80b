"""DuckDB readers: a DuckDB database file (the embedded default) and CSV / Parquet files through DuckDB.

Rows stream out of DuckDB as Arrow batches (``to_arrow_reader``), so a model of any size is read in
bounded memory; DuckDB pushes the segment filter and the column projection into its scan.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from sfsync.config.sources import CsvSource, DuckDBSource, ParquetSource
from sfsync.errors import SourceError
from sfsync.sources.base import DEFAULT_BATCH_ROWS, ModelQuery, Source, check_columns

# DuckDB type ids whose Arrow form maps straight onto a logical type; everything else is cast in SQL.
_NATIVE = {
    "boolean",
    "tinyint",
    "smallint",
    "integer",
    "bigint",
    "hugeint",
    "utinyint",
    "usmallint",
    "uinteger",
    "ubigint",
    "float",
    "double",
    "decimal",
    "varchar",
    "date",
    "timestamp",
    "timestamp with time zone",
    "time",
}
_CASTS = {
    "time with time zone": "time",
    "uhugeint": "hugeint",
    "timestamp_s": "timestamp",  # all naive timestamps arrive in microseconds
    "timestamp_ms": "timestamp",
    "timestamp_ns": "timestamp",
}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBReader(Source):
    """Reads models from a DuckDB connection (a database file opened read-only, or in-memory views)."""

    kind = "duckdb"

    def __init__(
        self,
        name: str,
        con: duckdb.DuckDBPyConnection,
        where: str,
        explain: Callable[[Exception], str | None] | None = None,
    ) -> None:
        super().__init__(name)
        self._con = con
        self._where = where  # what the connection reads, for messages
        self._explain = explain  # a plainer message for some errors (CSV encoding)

    @classmethod
    def open(cls, name: str, config: DuckDBSource, path: Path) -> DuckDBReader:
        if not path.is_file():
            raise SourceError(
                f"source {name!r}: DuckDB file {path} does not exist",
                source=name,
                hint=f"fix sources.{name}.path (relative paths start at the project directory), or run "
                "`sfsync init --demo` for a sample warehouse",
            )
        settings: dict[str, str | bool | int | float | list[str]] = {}
        if config.memory_limit:
            settings["memory_limit"] = config.memory_limit
        if config.threads:
            settings["threads"] = config.threads
        try:
            con = duckdb.connect(str(path), read_only=True, config=settings)
        except duckdb.Error as e:
            raise SourceError(
                f"source {name!r}: cannot open DuckDB file {path}: {e}",
                source=name,
                hint="check that the file is a DuckDB database and that no other process holds it open "
                "for writing",
            ) from e
        return cls(name, con, str(path))

    def close(self) -> None:
        self._con.close()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own (so reads can overlap) that never draws a progress bar."""
        cur = self._con.cursor()
        cur.execute("set enable_progress_bar = false")
        return cur

    def _fail(self, query: ModelQuery, e: Exception) -> SourceError:
        plain = self._explain(e) if self._explain is not None else None
        if plain is not None:
            return SourceError(
                f"{query.label}: {plain}",
                source=query.source,
                model=query.model,
                hint=f"set sources.{self.name}.encoding to the files' encoding (utf-8, utf-16 or latin-1), "
                "or fix the bytes on that line",
            )
        return SourceError(
            f"{query.label} failed in DuckDB ({self._where}): {e}",
            source=query.source,
            model=query.model,
            hint="fix the model's sql/table or the segment's where in the project file; "
            "`sfsync check` re-runs this",
        )

    def _select_list(self, query: ModelQuery) -> list[str]:
        cur = self._cursor()
        try:
            rel = cur.sql(query.with_columns(None).compose(quote_ident, limit=0))
            types = dict(zip(rel.columns, rel.types, strict=True))
        except duckdb.Error as e:
            raise self._fail(query, e) from e
        finally:
            cur.close()
        check_columns(query, list(types))
        wanted = query.columns if query.columns is not None else tuple(types)
        out = []
        for col in wanted:
            t = types[col]
            q = quote_ident(col)
            if t.id in _NATIVE and str(t) != "JSON":
                out.append(q)
            else:
                out.append(f"cast({q} as {_CASTS.get(t.id, 'varchar')}) as {q}")
        return out

    def _reader(self, query: ModelQuery, batch_rows: int, limit: int | None) -> pa.RecordBatchReader:
        select = self._select_list(query)
        cur = self._cursor()
        try:
            reader = cur.sql(query.compose(quote_ident, select=select, limit=limit)).to_arrow_reader(
                batch_rows
            )
        except duckdb.Error as e:
            cur.close()
            raise self._fail(query, e) from e

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from reader
            except (duckdb.Error, pa.ArrowException, OSError) as e:  # DuckDB's errors arrive via Arrow too
                raise self._fail(query, e) from e
            finally:
                cur.close()

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def schema(self, query: ModelQuery) -> pa.Schema:
        return self._reader(query, 1, 0).schema

    def read(self, query: ModelQuery, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> pa.RecordBatchReader:
        return self._reader(query, batch_rows, None)

    def _read_limited(self, query: ModelQuery, limit: int) -> pa.RecordBatchReader:
        return self._reader(query, max(limit, 1), limit)

    def count_rows(self, query: ModelQuery) -> int:
        cur = self._cursor()
        try:
            row = cur.execute(query.with_columns(None).compose(quote_ident, count=True)).fetchone()
        except duckdb.Error as e:
            raise self._fail(query, e) from e
        finally:
            cur.close()
        return int(row[0]) if row else 0

    def test_connection(self) -> None:
        cur = self._cursor()
        try:
            cur.execute("select 1").fetchall()
        except duckdb.Error as e:
            raise SourceError(f"source {self.name!r}: DuckDB does not answer: {e}", source=self.name) from e
        finally:
            cur.close()


def _file_list(name: str, pattern: str, suffix: str) -> list[Path]:
    p = Path(pattern)
    if p.is_dir():
        files = sorted(p.glob(f"*{suffix}"))
    elif any(ch in pattern for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(pattern))
    else:
        files = [p] if p.is_file() else []
    if not files:
        raise SourceError(
            f"source {name!r}: no {suffix} file at {pattern}",
            source=name,
            hint=f"fix sources.{name}.path: a {suffix} file, a directory holding them, or a glob",
        )
    return files


_LINE_CHUNK = 1 << 20
"""Bytes read at a time while looking for the line a decoding error is on."""


def first_undecodable_line(path: Path, encoding: str) -> tuple[int, bytes] | None:
    """(line number, the bytes that do not decode) of the first line of ``path`` that is not valid
    ``encoding``, or None when the whole file decodes. Reads line by line (bounded memory)."""
    if encoding != "utf-8":  # utf-16 and latin-1 errors are rare and their lines not byte-delimited
        try:
            path.read_text(encoding=encoding)
        except UnicodeDecodeError as e:
            return 0, e.object[e.start : e.end]
        return None
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return number, line[e.start : e.end]
    return None


def _csv_explainer(files: list[Path], encoding: str) -> Callable[[Exception], str | None]:
    def explain(e: Exception) -> str | None:
        if "unicode" not in str(e).lower() and "encod" not in str(e).lower():
            return None
        for f in files:
            found = first_undecodable_line(f, encoding)
            if found is not None:
                line, raw = found
                where = f"line {line}" if line else "somewhere"
                return f"{f.name} {where} is not valid {encoding} text (bytes {raw!r})"
        return None

    return explain


def open_files(name: str, config: CsvSource | ParquetSource, path: str) -> DuckDBReader:
    """An in-memory DuckDB with one view per file, named after the file's stem."""
    suffix = ".csv" if config.type == "csv" else ".parquet"
    files = _file_list(name, path, suffix)
    explain = _csv_explainer(files, config.encoding) if isinstance(config, CsvSource) else None
    con = duckdb.connect()
    try:
        for f in files:
            if isinstance(config, CsvSource):
                scan = (
                    f"read_csv({_sql_string(str(f))}, delim={_sql_string(config.delimiter)}, "
                    f"header={'true' if config.header else 'false'}, "
                    f"encoding={_sql_string(config.encoding)})"
                )
            else:
                scan = f"read_parquet({_sql_string(str(f))})"
            con.execute(f"create view {quote_ident(f.stem)} as select * from {scan}")
    except duckdb.Error as e:
        con.close()
        plain = explain(e) if explain is not None else None
        raise SourceError(
            f"source {name!r}: cannot read {suffix} files at {path}: {plain or e}",
            source=name,
            hint=f"set sources.{name}.encoding to the files' encoding (utf-8, utf-16 or latin-1)"
            if plain
            else "check the files are well-formed (delimiter, header) and readable",
        ) from e
    return DuckDBReader(name, con, path, explain)


__all__ = ["DuckDBReader", "open_files", "quote_ident"]
