"""The row debugger's reads: search a sync's row results across runs, and one row's fate in every run.

Row results are the Parquet part files of each run (``results/<run id>/``, see :mod:`sfsync.state.results`);
a search reads the live parts of the sync's runs that still have results (the latest ``KEEP_RESULTS_OF_RUNS``
of each sync) in one DuckDB query, filtered, sorted and paged there.

**Values sent.** A run also keeps the rows it sent (``results/<run id>/sent.parquet``, the plan's send
table) and a manifest naming its columns (``sent.json``: the primary key column, the record key column and
field, and for each mapped field its column and the column saying whether it was written for that row).
:func:`row_history` shows them beside each outcome: which fields a run wrote, with which values.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import duckdb
import pyarrow as pa

from sfsync.config import Mode
from sfsync.errors import StateError
from sfsync.state.files import StateFiles, join, tmp_name
from sfsync.state.records import RunRecord
from sfsync.state.results import RunParts

SENT_FILE = "sent.parquet"
SENT_MANIFEST = "sent.json"

Outcome = Literal["all", "rejected", "accepted"]
SortKey = Literal["run", "key", "code"]
SORT_KEYS: tuple[SortKey, ...] = ("run", "key", "code")

_MODES: tuple[Mode, ...] = get_args(Mode)


def _stored_mode(value: object, where: str) -> Mode:
    """The sync mode a stored file names (written from the sync's own mode, so one of the three)."""
    mode = next((m for m in _MODES if m == value), None)
    if mode is None:
        raise StateError(f"{where} names an unknown sync mode {value!r}", hint="the file was changed by hand")
    return mode


MAX_PAGE_ROWS = 10_000
"""Most rows one search page returns."""


@dataclass(frozen=True)
class SentField:
    """One mapped field of a run's send table: its model column, and the column saying if it was written."""

    column: str
    field: str
    sent_column: str | None = None


@dataclass(frozen=True)
class SentManifest:
    """How to read ``sent.parquet``: which columns hold the primary key, the record key and each field."""

    object: str
    mode: Mode
    primary_key_column: str
    key_column: str | None
    key_field: str | None
    fields: tuple[SentField, ...]
    instance_url: str | None = None  # the org the run wrote to (links to its records)

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_url": self.instance_url,
            "object": self.object,
            "mode": self.mode,
            "primary_key_column": self.primary_key_column,
            "key_column": self.key_column,
            "key_field": self.key_field,
            "fields": [[f.column, f.field, f.sent_column] for f in self.fields],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SentManifest:
        return cls(
            object=str(data["object"]),
            mode=_stored_mode(data["mode"], SENT_MANIFEST),
            primary_key_column=str(data["primary_key_column"]),
            key_column=data.get("key_column"),
            key_field=data.get("key_field"),
            fields=tuple(SentField(str(c), str(f), s) for c, f, s in data["fields"]),
            instance_url=data.get("instance_url"),
        )


@dataclass(frozen=True)
class RowHit:
    """One row result of one run, as the row debugger lists it."""

    run_id: int
    primary_key: str
    operation: str
    success: bool
    record_id: str | None
    error_code: str | None
    message: str | None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowPage:
    """One page of a search: the rows, how many match in all, and where the page starts."""

    rows: list[RowHit]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class SentValue:
    """A mapped field of a row as one run sent it: its value, and whether the field was written."""

    field: str
    column: str
    value: Any
    written: bool


@dataclass(frozen=True)
class RowRun:
    """One row's outcome in one run, with the values that run sent for it (when kept)."""

    run: RunRecord
    result: RowHit
    object: str | None = None
    key_field: str | None = None
    key_value: Any = None
    values: tuple[SentValue, ...] = field(default=())
    instance_url: str | None = None


def keep_sent(directory: Path | RunParts, send_file: Path, manifest: SentManifest) -> None:
    """Keep a run's send table (hard-linked when possible: it is never written again) and its manifest,
    beside the run's row results (a local directory, or object storage)."""
    run = directory if isinstance(directory, RunParts) else RunParts.at(directory)
    tmp = run.files.staging(run.key) / tmp_name(SENT_FILE)
    try:
        os.link(send_file, tmp)
    except OSError:
        shutil.copyfile(send_file, tmp)
    run.files.publish(tmp, join(run.key, SENT_FILE), durable=False)
    run.files.write_text(join(run.key, SENT_MANIFEST), json.dumps(manifest.to_json()))


def sent_dir(files: StateFiles, run_id: int) -> Path:
    """A local directory holding a run's kept send table and manifest, when kept (fetched from object
    storage into the worker's cache)."""
    run = RunParts.of(files, run_id)
    for name in (SENT_MANIFEST, SENT_FILE):
        entry = files.info(join(run.key, name))
        if entry is not None:
            files.local(join(run.key, name), entry)
    return files.local_dir(run.key)


def _files(parts: Mapping[int, Sequence[Path]]) -> tuple[list[str], list[int]]:
    paths, runs = [], []
    for run_id, files in parts.items():
        for f in files:
            paths.append(str(f))
            runs.append(run_id)
    return paths, runs


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET threads = 1")  # small reads, called concurrently by the web UI and the CLI
    return con


def _source(con: duckdb.DuckDBPyConnection, parts: Mapping[int, Sequence[Path]]) -> str:
    """A relation of every result row with its run id (the file it came from names the run)."""
    paths, runs = _files(parts)
    con.register("part_runs", pa.table({"filename": paths, "run_id": pa.array(runs, pa.int64())}))
    listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return (
        f"(SELECT r.*, p.run_id FROM read_parquet([{listed}], filename = true, file_row_number = true) r"
        " JOIN part_runs p USING (filename))"
    )


_ORDER = {
    "run": "run_id {d}, filename, file_row_number",
    "key": "primary_key {d}, run_id DESC",
    "code": "error_code {d} NULLS LAST, primary_key, run_id DESC",
}


def search_rows(
    parts: Mapping[int, Sequence[Path]],
    *,
    query: str | None = None,
    outcome: Outcome = "all",
    sort: SortKey = "run",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> RowPage:
    """Row results of the given runs (run id → its live part files) whose primary key, error code,
    message or record id contains ``query`` (any case); ``outcome`` keeps only rejected or accepted rows.
    """
    if sort not in _ORDER:
        raise StateError(f"cannot sort rows by {sort!r}", hint=f"sort by one of {', '.join(SORT_KEYS)}")
    limit = max(1, min(limit, MAX_PAGE_ROWS))
    offset = max(0, offset)
    if not parts or not any(parts.values()):
        return RowPage([], 0, offset, limit)
    con = _connect()
    try:
        where, args = ["1 = 1"], list[object]()
        if outcome == "rejected":
            where.append("NOT success")
        elif outcome == "accepted":
            where.append("success")
        if query:
            where.append(
                "(contains(lower(primary_key), ?) OR contains(lower(coalesce(error_code, '')), ?)"
                " OR contains(lower(coalesce(message, '')), ?)"
                " OR contains(lower(coalesce(record_id, '')), ?))"
            )
            args += [query.lower()] * 4
        order = _ORDER[sort].format(d="DESC" if descending else "ASC")
        sql = (
            "SELECT run_id, primary_key, operation, success, record_id, error_code, message, fields,"
            f" count(*) OVER () AS total FROM {_source(con, parts)} WHERE {' AND '.join(where)}"
            f" ORDER BY {order} LIMIT ? OFFSET ?"
        )
        rows = con.execute(sql, [*args, limit, offset]).fetchall()
        if rows:
            total = int(rows[0][8])
        else:
            count_sql = f"SELECT count(*) FROM {_source(con, parts)} WHERE {' AND '.join(where)}"
            total = int((con.execute(count_sql, args).fetchone() or (0,))[0])
    finally:
        con.close()
    return RowPage([_hit(r) for r in rows], total, offset, limit)


def _hit(row: Sequence[Any]) -> RowHit:
    run_id, key, op, ok, record_id, code, message, fields = row[:8]
    return RowHit(
        run_id=int(run_id),
        primary_key=str(key),
        operation=str(op),
        success=bool(ok),
        record_id=record_id,
        error_code=code,
        message=message,
        fields=tuple(f for f in str(fields or "").split(",") if f),
    )


def results_of_key(parts: Mapping[int, Sequence[Path]], key: str) -> list[RowHit]:
    """Every result stored for the row with primary key ``key``, newest run first."""
    if not parts or not any(parts.values()):
        return []
    con = _connect()
    try:
        rows = con.execute(
            "SELECT run_id, primary_key, operation, success, record_id, error_code, message, fields"
            f" FROM {_source(con, parts)} WHERE primary_key = ?"
            " ORDER BY run_id DESC, filename, file_row_number",
            [key],
        ).fetchall()
    finally:
        con.close()
    return [_hit(r) for r in rows]


def sent_values(directory: Path, key: str) -> tuple[SentManifest, dict[str, Any]] | None:
    """The manifest and the sent row (column → value) of primary key ``key`` in one run, if kept."""
    data, manifest_file = directory / SENT_FILE, directory / SENT_MANIFEST
    if not data.exists() or not manifest_file.exists():
        return None
    manifest = SentManifest.from_json(json.loads(manifest_file.read_text(encoding="utf-8")))
    con = _connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        pk = '"' + manifest.primary_key_column.replace('"', '""') + '"'
        listed = "'" + str(data).replace("'", "''") + "'"
        rel = con.execute(f"SELECT * FROM read_parquet({listed}) WHERE {pk} = ? LIMIT 1", [key])
        names = [d[0] for d in rel.description or []]
        row = rel.fetchone()
    finally:
        con.close()
    if row is None:
        return manifest, {}
    return manifest, dict(zip(names, row, strict=True))


def row_runs(
    runs: Mapping[int, RunRecord], hits: Sequence[RowHit], run_dir: Mapping[int, Path]
) -> list[RowRun]:
    """Each outcome of one row with the values its run sent (newest run first)."""
    out: list[RowRun] = []
    for hit in hits:
        run = runs.get(hit.run_id)
        if run is None:
            continue
        found = sent_values(run_dir[hit.run_id], hit.primary_key) if hit.run_id in run_dir else None
        if found is None or not found[1]:
            manifest = found[0] if found else None
            out.append(
                RowRun(
                    run,
                    hit,
                    manifest.object if manifest else None,
                    instance_url=manifest.instance_url if manifest else None,
                )
            )
            continue
        manifest, row = found
        values = tuple(
            SentValue(
                f.field,
                f.column,
                row.get(f.column),
                bool(row.get(f.sent_column)) if f.sent_column else row.get(f.column) is not None,
            )
            for f in manifest.fields
        )
        key_value = row.get(manifest.key_column) if manifest.key_column else None
        out.append(
            RowRun(run, hit, manifest.object, manifest.key_field, key_value, values, manifest.instance_url)
        )
    return out


class RowDebugger:
    """Searches the row results of one sync across its runs, and tells one row's story (``store``: a
    :class:`~sfsync.state.StateStore`)."""

    def __init__(self, store: Any, sync: str) -> None:
        self.store = store
        self.sync = sync

    def _parts(self) -> dict[int, list[Path]]:
        """Run id → live part files, for the sync's runs that still have row results."""
        kept: set[int] = self.store.result_run_ids()
        ids = [r for r in self.store.run_ids(self.sync) if r in kept]
        return {run_id: self.store.result_parts(run_id) for run_id in ids}

    def search(
        self,
        query: str | None = None,
        *,
        outcome: Outcome = "all",
        run_id: int | None = None,
        sort: SortKey = "run",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> RowPage:
        parts = self._parts()
        if run_id is not None:
            parts = {run_id: parts[run_id]} if run_id in parts else {}
        return search_rows(
            parts, query=query, outcome=outcome, sort=sort, descending=descending, limit=limit, offset=offset
        )

    def history(self, key: str) -> list[RowRun]:
        """Every run's outcome for the row with primary key ``key``, newest first, with the values sent."""
        parts = self._parts()
        hits = results_of_key(parts, key)
        runs = {r: self.store.get_run(r) for r in {h.run_id for h in hits}}
        dirs = {r: sent_dir(self.store.files, r) for r in runs}
        return row_runs(runs, hits, dirs)


__all__ = [
    "MAX_PAGE_ROWS",
    "SENT_FILE",
    "SENT_MANIFEST",
    "SORT_KEYS",
    "Outcome",
    "RowDebugger",
    "RowHit",
    "RowPage",
    "RowRun",
    "SentField",
    "SentManifest",
    "SentValue",
    "SortKey",
    "keep_sent",
    "results_of_key",
    "row_runs",
    "search_rows",
    "sent_dir",
    "sent_values",
]
