"""Per-row results of a run: Parquet part files under ``results/<run_id>/``, read back with DuckDB.

The input of :func:`write_part` is an Arrow table (or record batch reader) with these columns:

==============  ==================  =====================================================
column          type                meaning
==============  ==================  =====================================================
primary_key     any (stored text)   the model row's primary key (required)
success         bool                Salesforce accepted the row (required)
operation       string              what was done: ``created``, ``updated``, ``insert``… (optional:
                                    the ``operation`` argument fills it)
record_id       string              the Salesforce id created/updated (optional)
error_code      string              e.g. ``REQUIRED_FIELD_MISSING`` (optional)
message         string              Salesforce's message (optional)
fields          list<string>|string fields named by the error (optional; text is comma separated)
==============  ==================  =====================================================

Every call writes one part file, atomically (a local temporary file, then published under its final name
through ``sfsync.state.files``: a rename or hard link on a filesystem, an upload to a temporary key then
a copy on object storage): ``part-NNNNNN-w<random>.parquet``, or ``part-NNNNNN-job-<job id>.parquet``
for the results of a Bulk job. The number orders parts as stored; the random tag keeps two writers that
take the same number apart (object storage cannot refuse to overwrite).
A job's part is *live* only once the job's journal entry says ``collected`` (the store marks it right after
the file is in place); readers skip job parts whose entry does not, and writing a job's results again
(crash recovery) replaces its earlier part. So a crash between the file and the journal mark leaves a part
nobody reads, which the recovery run then replaces: a job's rows are never counted twice.

Rows are stored as Arrow/Parquet columns straight from the loader's tables: no per-row Python.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sfsync.errors import StateError
from sfsync.state.files import FileEntry, LocalFiles, StateFiles, join, tmp_name
from sfsync.state.records import RowResult

RESULT_COLUMNS = ("primary_key", "success", "operation", "record_id", "error_code", "message", "fields")
_REQUIRED = ("primary_key", "success")
#: Columns of a part file, in order (``fields`` is comma-separated text; empty or null = no fields).
PART_SCHEMA = pa.schema(
    [
        ("primary_key", pa.string()),
        ("success", pa.bool_()),
        ("operation", pa.string()),
        ("record_id", pa.string()),
        ("error_code", pa.string()),
        ("message", pa.string()),
        ("fields", pa.string()),
    ]
)
_PART = re.compile(r"^part-(\d{6,})(?:-job-([A-Za-z0-9_.]+)|-w[0-9a-f]+)?\.parquet$")
_SAFE_JOB = re.compile(r"^[A-Za-z0-9_.]+$")


RESULTS_DIR = "results"
"""Directory (key prefix) of the row results under the state files."""


@dataclass(frozen=True)
class RunParts:
    """The directory of one run's parts: ``key`` in ``files`` (a local directory or object storage)."""

    files: StateFiles
    key: str

    @classmethod
    def of(cls, files: StateFiles, run_id: int) -> RunParts:
        return cls(files, join(RESULTS_DIR, str(int(run_id))))

    @classmethod
    def at(cls, directory: Path) -> RunParts:
        """The parts in a local directory."""
        return cls(LocalFiles(directory.parent), directory.name)

    @property
    def where(self) -> str:
        return self.files.where(self.key)


def run_dir(root: Path, run_id: int) -> Path:
    return root / str(int(run_id))


def _parts_of(directory: Path | RunParts) -> RunParts:
    return directory if isinstance(directory, RunParts) else RunParts.at(directory)


def _text(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    if name not in table.schema.names:
        return None
    col = table.column(name)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        return pc.binary_join(col, ",")
    if pa.types.is_string(col.type):
        return col
    return pc.cast(col, pa.string())


def normalise(run_id: int, data: pa.Table | pa.RecordBatchReader, *, operation: str | None) -> pa.Table:
    """The rows of ``data`` in :data:`PART_SCHEMA`; raises :class:`StateError` on missing columns/keys."""
    missing = [c for c in _REQUIRED if c not in data.schema.names]
    if missing or ("operation" not in data.schema.names and operation is None):
        need = missing + ([] if "operation" in data.schema.names or operation else ["operation"])
        raise StateError(
            f"row results for run {run_id} lack column(s) {', '.join(need)}; "
            f"got {', '.join(data.schema.names)}",
            hint=f"pass a table with columns {', '.join(RESULT_COLUMNS)} (operation may be an argument)",
        )
    table = data if isinstance(data, pa.Table) else data.read_all()
    n = table.num_rows
    keys = _text(table, "primary_key")
    assert keys is not None
    if keys.null_count:
        raise StateError(
            f"row results for run {run_id} contain a null primary_key",
            hint="every outcome must carry the primary key of the model row it belongs to",
        )
    none = pa.nulls(n, pa.string())
    columns = [
        keys,
        pc.fill_null(pc.cast(table.column("success"), pa.bool_()), False),
        _text(table, "operation") if "operation" in table.schema.names else pa.repeat(operation, n),
        _text(table, "record_id") or none,
        _text(table, "error_code") or none,
        _text(table, "message") or none,
        _text(table, "fields") or none,
    ]
    return pa.Table.from_arrays(
        [pc.cast(c, pa.string()) if i != 1 else c for i, c in enumerate(columns)], schema=PART_SCHEMA
    )


def _parts(run: RunParts) -> list[tuple[int, str | None, str, FileEntry]]:
    out = []
    for entry in run.files.listdir(run.key):
        m = _PART.match(entry.name)
        if m:
            out.append((int(m.group(1)), m.group(2), entry.name, entry))
    return sorted(out, key=lambda p: (p[0], p[2]))


def write_part(
    directory: Path | RunParts, table: pa.Table, *, job_id: str | None, compression: str, fsync: bool
) -> str:
    """Write one part file atomically; a job's earlier part (if any) is replaced. Returns its key.

    With ``fsync`` the file reaches the disk before it gets its name (power-loss safety, like SQLite's
    ``synchronous = FULL``); without, it is safe against process crashes only.
    """
    if job_id is not None and not _SAFE_JOB.match(job_id):
        raise StateError(
            f"Bulk job id {job_id!r} cannot name a results file", hint="job ids are alphanumeric"
        )
    run = _parts_of(directory)
    tmp = run.files.staging(run.key) / tmp_name("part.parquet")
    try:
        pq.write_table(table, tmp, compression=compression)
        parts = _parts(run)
        old = [p for p in parts if job_id is not None and p[1] == job_id]
        if old:  # the same job collected again (recovery): same place in the order, new content
            key = join(run.key, old[0][2])
            run.files.publish(tmp, key, durable=fsync)
            return key
        seq = parts[-1][0] + 1 if parts else 0
        suffix = f"-job-{job_id}" if job_id is not None else f"-w{uuid.uuid4().hex[:8]}"
        while True:  # another process may take a number at the same time: publishing never overwrites
            key = join(run.key, f"part-{seq:06d}{suffix}.parquet")
            if run.files.publish(tmp, key, overwrite=False, durable=fsync):
                return key
            seq += 1
    finally:
        tmp.unlink(missing_ok=True)


def live_parts(directory: Path | RunParts, collected_jobs: Iterable[str]) -> list[Path]:
    """The parts readers see, as local files (fetched from object storage into the worker's cache): every
    plain part, and job parts of jobs the journal marks collected."""
    run = _parts_of(directory)
    done = set(collected_jobs)
    return [
        run.files.local(join(run.key, name), entry)
        for _, job, name, entry in _parts(run)
        if job is None or job in done
    ]


def _source(files: Sequence[Path]) -> str:
    paths = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{paths}], filename = true, file_row_number = true)"


def _query(sql: str, args: list[object]) -> pa.Table:
    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")  # small reads; the web UI and CLI call these concurrently
        out = con.sql(sql, params=args).to_arrow_table()
    finally:
        con.close()
    assert out is not None
    return out


def _where(success: bool | None, code: str | None) -> tuple[str, list[object]]:
    sql, args = " WHERE 1 = 1", list[object]()
    if success is not None:
        sql += " AND success = ?"
        args.append(success)
    if code is not None:
        sql += " AND error_code = ?"
        args.append(code)
    return sql, args


_FIELDS_LIST = "CASE WHEN coalesce(fields, '') = '' THEN []::VARCHAR[] ELSE string_split(fields, ',') END"


def select_arrow(
    files: Sequence[Path], *, success: bool | None, code: str | None, limit: int | None, offset: int
) -> pa.Table:
    """Result rows in the order stored, ``fields`` as a list."""
    if not files:
        return pa.table(
            {
                **{f.name: pa.array([], f.type) for f in PART_SCHEMA if f.name != "fields"},
                "fields": pa.array([], pa.list_(pa.string())),
            }
        )
    where, args = _where(success, code)
    sql = (
        f"SELECT primary_key, operation, success, record_id, error_code, message, {_FIELDS_LIST} AS fields"
        f" FROM {_source(files)}{where} ORDER BY filename, file_row_number"
    )
    if limit is not None or offset:
        sql += " LIMIT ? OFFSET ?"
        args += [2**62 if limit is None else limit, offset]
    return _query(sql, args)


def select_results(
    files: Sequence[Path],
    run_id: int,
    sync: str,
    *,
    success: bool | None,
    code: str | None,
    limit: int | None,
    offset: int,
) -> list[RowResult]:
    table = select_arrow(files, success=success, code=code, limit=limit, offset=offset)
    return [
        RowResult(
            run_id=run_id,
            sync=sync,
            primary_key=str(r["primary_key"]),
            operation=str(r["operation"]),
            success=bool(r["success"]),
            record_id=r["record_id"],
            error_code=r["error_code"],
            message=r["message"],
            fields=tuple(r["fields"] or ()),
        )
        for r in table.to_pylist()
    ]


def accepted_keys(files: Sequence[Path]) -> pa.Array:
    if not files:
        return pa.array([], pa.string())
    table = _query(f"SELECT primary_key FROM {_source(files)} WHERE success", [])
    return table.column(0).combine_chunks().cast(pa.string())


def result_keys(files: Sequence[Path]) -> pa.Array:
    """Primary keys with any stored result (accepted or rejected)."""
    if not files:
        return pa.array([], pa.string())
    table = _query(f"SELECT DISTINCT primary_key FROM {_source(files)}", [])
    return table.column(0).combine_chunks().cast(pa.string())


def record_ids(files: Sequence[Path]) -> pa.Array:
    """Salesforce record ids of the accepted rows."""
    if not files:
        return pa.array([], pa.string())
    table = _query(f"SELECT record_id FROM {_source(files)} WHERE success AND record_id IS NOT NULL", [])
    return table.column(0).combine_chunks().cast(pa.string())


def count_by_code(files: Sequence[Path]) -> dict[str, int]:
    """Rejected rows per error code (``UNKNOWN`` when Salesforce gave none), most frequent first."""
    if not files:
        return {}
    table = _query(
        f"SELECT coalesce(error_code, 'UNKNOWN') AS code, count(*) AS n FROM {_source(files)}"
        " WHERE NOT success GROUP BY 1 ORDER BY 2 DESC, 1",
        [],
    )
    return {
        str(c): int(n) for c, n in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True)
    }


def count_rows(files: Sequence[Path]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def count_live_rows(run: RunParts, collected_jobs: Iterable[str]) -> int:
    """Rows in a run's live parts, from their Parquet footers only (on object storage: a few ranged
    reads per part, no download)."""
    done = set(collected_jobs)
    total = 0
    for _, job, name, _entry in _parts(run):
        if job is None or job in done:
            with run.files.open_input(join(run.key, name)) as f:
                total += int(pq.ParquetFile(f).metadata.num_rows)
    return total


__all__ = [
    "PART_SCHEMA",
    "RESULTS_DIR",
    "RESULT_COLUMNS",
    "RunParts",
    "accepted_keys",
    "count_by_code",
    "count_live_rows",
    "count_rows",
    "live_parts",
    "normalise",
    "record_ids",
    "result_keys",
    "run_dir",
    "select_arrow",
    "select_results",
    "write_part",
]
