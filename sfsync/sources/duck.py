"""DuckDB readers: a DuckDB database file (the embedded default) and CSV / Parquet files through DuckDB.

Rows stream out of DuckDB as Arrow batches (``to_arrow_reader``), so a model of any size is read in
bounded memory; DuckDB pushes the segment filter and the column projection into its scan.

The DuckDB that reads is bounded by the source's ``memory_limit`` (``DEFAULT_SOURCE_MEMORY_LIMIT``, 512MB,
unless the project file says otherwise; ``null`` gives DuckDB's own default, 80% of RAM). Beyond it DuckDB
evicts the blocks it cached from the file and spills joins, aggregates and sorts into a directory of its
own (:func:`spill_directory`). A query that cannot fit even so (DuckDB cannot spill some aggregates, e.g.
``string_agg`` or ``list`` over many rows: https://duckdb.org/docs/2.0/guides/troubleshooting/oom_errors.html)
fails with a SourceError that names the source's ``memory_limit`` and how to raise it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from sfsync.config.sources import CsvSource, DuckDBSource, ParquetSource
from sfsync.config.state import STATE_DIR_NAME, STATE_TMP_NAME
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


def default_spill_parent(project_root: Path) -> Path:
    """Where a DuckDB source spills when its caller names no directory: the project's ``.sfsync/tmp``
    when it exists (the state store creates it; the diff spills there too), else the system's temporary
    directory (a project without state yet, or whose state directory lives elsewhere)."""
    state_tmp = project_root / STATE_DIR_NAME / STATE_TMP_NAME
    return state_tmp if state_tmp.is_dir() else Path(tempfile.gettempdir())


def spill_directory(parent: Path, database: Path | None = None) -> Path:
    """The directory under ``parent`` that DuckDB spills into when it reads ``database`` (None: an
    in-memory DuckDB over CSV / Parquet files). One per DuckDB instance: in one process every connection
    to one file shares one DuckDB instance (and so one directory: the name follows the file), and two
    instances sharing a directory could overwrite each other's files. DuckDB creates it when it first
    spills and removes it when the instance closes; the name starts ``duckdb-<pid>-`` like the diff's, so
    a diff clears those a dead process left in ``.sfsync/tmp``."""
    tag = hashlib.sha256(str(database).encode()).hexdigest()[:12] if database else uuid.uuid4().hex[:12]
    return parent / f"duckdb-{os.getpid()}-source-{tag}"


@dataclass(frozen=True)
class DuckDBLimits:
    """What bounds the DuckDB a source is read through (for the connection and for messages)."""

    #: DuckDB ``memory_limit``; None leaves DuckDB's own default (80% of RAM)
    memory_limit: str | None
    #: DuckDB worker threads; None lets DuckDB use every core
    threads: int | None
    #: where DuckDB spills (:func:`spill_directory`)
    spill: Path
    #: ``file:line`` of the source in the project file, for messages (None when built in code)
    config_at: str | None = None

    @classmethod
    def of(
        cls,
        config: DuckDBSource | CsvSource | ParquetSource,
        spill: Path,
        config_at: str | None = None,
    ) -> DuckDBLimits:
        return cls(config.memory_limit, config.threads, spill, config_at)

    def apply(self, con: duckdb.DuckDBPyConnection) -> None:
        """Bound ``con``'s DuckDB instance. Set with SET after connecting, not as connect() options: every
        connection of a process to one file shares one instance, and DuckDB refuses a second connection
        whose options differ from the first's (a second source on the file, a user's own connection)."""
        if self.memory_limit is None:
            con.execute("RESET memory_limit")
        else:
            con.execute(f"SET memory_limit = {_sql_string(self.memory_limit)}")
        if self.threads is None:
            con.execute("RESET threads")
        else:
            con.execute(f"SET threads = {int(self.threads)}")
        row = con.execute("SELECT current_setting('temp_directory')").fetchone()
        # DuckDB refuses to move a directory it has spilled into: another connection of this process to
        # the file spilled already, and keeps its directory
        if row is None or row[0] != str(self.spill):
            with contextlib.suppress(duckdb.NotImplementedException):
                con.execute(f"SET temp_directory = {_sql_string(str(self.spill))}")


def out_of_memory(e: Exception) -> bool:
    """Whether DuckDB ran out of memory (it may arrive through Arrow, as an ArrowException)."""
    return isinstance(e, duckdb.OutOfMemoryException) or "Out of Memory Error" in str(e)


class DuckDBReader(Source):
    """Reads models from a DuckDB connection (a database file opened read-only, or in-memory views)."""

    kind = "duckdb"

    def __init__(
        self,
        name: str,
        con: duckdb.DuckDBPyConnection,
        where: str,
        limits: DuckDBLimits,
        explain: Callable[[Exception], str | None] | None = None,
    ) -> None:
        super().__init__(name)
        self._con = con
        self._where = where  # what the connection reads, for messages
        self._explain = explain  # a plainer message for some errors (CSV encoding)
        self._limits = limits

    @classmethod
    def open(cls, name: str, config: DuckDBSource, path: Path, limits: DuckDBLimits) -> DuckDBReader:
        if not path.is_file():
            raise SourceError(
                f"source {name!r}: DuckDB file {path} does not exist",
                source=name,
                hint=f"fix sources.{name}.path (relative paths start at the project directory), or run "
                "`sfsync init --demo` for a sample warehouse",
            )
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as e:
            raise SourceError(
                f"source {name!r}: cannot open DuckDB file {path}: {e}",
                source=name,
                hint="check that the file is a DuckDB database and that no other process holds it open "
                "for writing",
            ) from e
        try:
            limits.apply(con)
        except duckdb.Error as e:
            con.close()
            raise SourceError(
                f"source {name!r}: DuckDB refused its limits (memory_limit {limits.memory_limit}, threads "
                f"{limits.threads}, spill directory {limits.spill}): {e}",
                source=name,
                hint=f"fix sources.{name}.memory_limit or sources.{name}.threads",
            ) from e
        return cls(name, con, str(path), limits)

    def close(self) -> None:
        self._con.close()  # DuckDB removes its spill directory when the last connection to it closes

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
        if out_of_memory(e):
            return self._out_of_memory(query, e)
        spill = self._limits.spill
        if str(spill) in str(e):  # DuckDB could not create or write its spill files
            return SourceError(
                f"{query.label}: DuckDB could not write its spill files under {spill.parent}: {e}",
                source=query.source,
                model=query.model,
                hint=f"free disk space in {spill.parent} (or make it writable), or raise "
                f"sources.{self.name}.memory_limit so that less spills",
            )
        return SourceError(
            f"{query.label} failed in DuckDB ({self._where}): {e}",
            source=query.source,
            model=query.model,
            hint="fix the model's sql/table or the segment's where in the project file; "
            "`sfsync check` re-runs this",
        )

    def _out_of_memory(self, query: ModelQuery, e: Exception) -> SourceError:
        """DuckDB's own advice is SQL (``SET memory_limit``); this names the project file's key instead."""
        limits = self._limits
        key = f"sources.{self.name}.memory_limit"
        at = f" ({limits.config_at})" if limits.config_at else ""
        if limits.memory_limit is None:
            now = "null: DuckDB's default, 80% of RAM"
            bigger = f"set {key}{at} to what this machine can give DuckDB"
        else:
            now = limits.memory_limit
            bigger = f"raise {key}{at}, e.g. `memory_limit: 2GB` (null: DuckDB's default, 80% of RAM)"
        return SourceError(
            f"{query.label} ran out of memory in DuckDB ({key} is {now}): {str(e).strip().splitlines()[0]}",
            source=query.source,
            model=query.model,
            hint=f"{bigger}; or lower sources.{self.name}.threads (now {limits.threads or 'every core'}), or "
            "simplify the model's SQL: DuckDB spills joins, sorts and most aggregates to disk beyond the "
            "limit, but not e.g. string_agg or list over many rows",
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


def open_files(name: str, config: CsvSource | ParquetSource, path: str, limits: DuckDBLimits) -> DuckDBReader:
    """An in-memory DuckDB with one view per file, named after the file's stem."""
    suffix = ".csv" if config.type == "csv" else ".parquet"
    files = _file_list(name, path, suffix)
    explain = _csv_explainer(files, config.encoding) if isinstance(config, CsvSource) else None
    con = duckdb.connect()
    try:
        limits.apply(con)
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
    return DuckDBReader(name, con, path, limits, explain)


__all__ = [
    "DuckDBLimits",
    "DuckDBReader",
    "default_spill_parent",
    "open_files",
    "out_of_memory",
    "quote_ident",
    "spill_directory",
]
