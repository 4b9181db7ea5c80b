"""The diff: which model rows are new or changed since the last snapshot, computed in DuckDB.

Input is the model as a ``pyarrow.RecordBatchReader`` (read once, never turned into Python objects), the
primary key and the mapped columns; the previous snapshot comes from the state store. The work is done by
an in-memory DuckDB with a ``memory_limit`` and a spill directory under ``.sfsync/tmp``, so memory stays
bounded whatever the size of the model:

1. ingest: the model is copied into a Parquet file in the spill directory (read through a view ``m``)
   with, per row, a 64-bit hash of the mapped columns (hash order = column names sorted, so reordering
   mappings changes nothing). Empty strings count as null, as the encoders send them
   (``sfsync.sync.encode``);
2. checks: the primary key must be non-null and unique, else :class:`~sfsync.errors.SourceError` naming up
   to 5 sample keys, before anything is written (``sfsync.sync.diff_keys``: repeats show in step 3's join
   when there is a snapshot, and are refused before step 4);
3. keys: a full outer join of (key, hash) pairs with the snapshot finds new, changed, rejected-last-time
   and gone keys (only keys and hashes are in the join, so its hash table stays small);
4. rows: only the rows to send are joined back to both sides, per-column comparisons yield the send mask,
   and the result is written to ``changes.parquet`` in the diff's work directory.

The hash is trusted only when the snapshot was written with the same DuckDB version and the same column
names and types; otherwise (mapping added/removed, a type changed, DuckDB upgraded) every row is compared
column by column (different types compare by their text form) and the next snapshot is hashed afresh.

Rows to send (``DiffResult.rows()``) have the primary key, the mapped columns with the model's values,
``_sfsync_kind`` (``new``/``changed``), ``_sfsync_resend`` (rejected or not attempted last run) and one
boolean ``__send__<column>`` per mapped column (``sfsync.sync.encode.send_column``): true for every column
of a new row, for the columns whose value differs from the snapshot on a changed row, and for every
column of a resent row whose values equal the snapshot. ``full_resync`` sends every row with every column.

The work directory keeps the outputs (and a ``manifest.json``) until
:func:`sfsync.sync.snapshot.advance_snapshot` has used them, so a run that crashed can be
recovered with :meth:`DiffResult.open`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from sfsync.config.state import DEFAULT_DIFF_MEMORY_LIMIT, StateConfig
from sfsync.errors import ConfigError, SourceError, StateError, is_interrupt
from sfsync.state.failures import unwritable, write_failure
from sfsync.state.snapshots import SnapshotInfo, check_sync_name
from sfsync.state.store import StateStore
from sfsync.sync.diff_keys import count_keys, q, refuse_repeats, repeats_by_sort, repeats_in_join
from sfsync.sync.encode import SEND_PREFIX, send_column
from sfsync.sync.interrupts import interruptible

KIND_COLUMN = "_sfsync_kind"
RESEND_COLUMN = "_sfsync_resend"
HASH_COLUMN = "_sfsync_hash"
KIND_NEW = "new"
KIND_CHANGED = "changed"
#: Identifies the row-hash function: DuckDB's ``hash()`` is only stable within one DuckDB version.
HASH_VERSION = f"duckdb-{duckdb.__version__}-hash-v1"
#: Default rows per batch when the rows to send are read back as Arrow (``DiffResult.rows``).
READ_BATCH_ROWS = 65_536
_RESERVED_PREFIXES = ("_sfsync_", SEND_PREFIX)


@dataclass(frozen=True)
class DiffSettings:
    """Resources the diff may use. Bigger limits are faster; DuckDB spills to disk beyond them."""

    #: DuckDB ``memory_limit`` for the diff (a DuckDB size string).
    memory_limit: str = DEFAULT_DIFF_MEMORY_LIMIT
    #: DuckDB worker threads; None lets DuckDB use every core.
    threads: int | None = None

    @classmethod
    def of(cls, state: StateConfig) -> DiffSettings:
        """The project's (``state.diff_memory_limit``, ``state.diff_threads``)."""
        return cls(memory_limit=state.diff_memory_limit, threads=state.diff_threads)


@dataclass(frozen=True)
class DiffCounts:
    """How the model compares to the snapshot."""

    rows: int
    new: int
    changed: int
    unchanged: int
    #: rows sent again because they were rejected (or not attempted) on the last run
    resent: int
    #: keys in the snapshot that left the model (``gone.parquet``; on_row_removed says what happens to
    #: their records: nothing by default)
    gone: int
    #: rows in the previous snapshot (None before the first run): for the row_count_drop warning
    previous_rows: int | None

    @property
    def to_send(self) -> int:
        return self.new + self.changed


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class DiffResult:
    """The outcome of a diff: counts plus the rows to send, on disk in ``work_dir``."""

    sync: str
    primary_key: str
    #: mapped columns in the order given (may include the primary key)
    columns: tuple[str, ...]
    #: DuckDB types of the primary key and mapped columns in the model
    types: dict[str, str]
    counts: DiffCounts
    full_resync: bool
    base_generation: int
    hash_version: str
    work_dir: Path
    created_at: datetime

    @property
    def changes_path(self) -> Path:
        return self.work_dir / "changes.parquet"

    @property
    def gone_path(self) -> Path:
        return self.work_dir / "gone.parquet"

    @property
    def removals_path(self) -> Path:
        """Keys of rows that left the model whose records the run clears, flags or deletes: written by
        ``sfsync.sync.removals`` before anything is sent; the snapshot keeps those not accepted."""
        return self.work_dir / "removals.parquet"

    @property
    def manifest_path(self) -> Path:
        return self.work_dir / "manifest.json"

    def rows(self, batch_rows: int = READ_BATCH_ROWS) -> pa.RecordBatchReader:
        """The rows to send, streamed from Parquet."""
        pf = pq.ParquetFile(self.changes_path)
        return pa.RecordBatchReader.from_batches(pf.schema_arrow, pf.iter_batches(batch_size=batch_rows))

    def read_all(self) -> pa.Table:
        """All rows to send as one table (fine for small diffs and tests; use ``rows()`` otherwise)."""
        return pq.read_table(self.changes_path)

    def sample(self, n: int = 10) -> pa.Table:
        """The first ``n`` rows to send (for ``sfsync plan``)."""
        pf = pq.ParquetFile(self.changes_path)
        for batch in pf.iter_batches(batch_size=max(n, 1)):
            return pa.Table.from_batches([batch]).slice(0, n)
        return pf.schema_arrow.empty_table()

    def discard(self) -> None:
        """Delete the work directory (after the snapshot advanced, or to abandon the diff)."""
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def _write_manifest(self) -> None:
        body = {
            "sync": self.sync,
            "primary_key": self.primary_key,
            "columns": list(self.columns),
            "types": self.types,
            "counts": asdict(self.counts),
            "full_resync": self.full_resync,
            "base_generation": self.base_generation,
            "hash_version": self.hash_version,
            "created_at": self.created_at.isoformat(),
        }
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=1))
        tmp.replace(self.manifest_path)

    @classmethod
    def open(cls, work_dir: str | Path) -> DiffResult:
        """Reload a diff from its work directory (crash recovery)."""
        d = Path(work_dir)
        try:
            m = json.loads((d / "manifest.json").read_text())
            return cls(
                sync=str(m["sync"]),
                primary_key=str(m["primary_key"]),
                columns=tuple(m["columns"]),
                types={str(k): str(v) for k, v in m["types"].items()},
                counts=DiffCounts(**m["counts"]),
                full_resync=bool(m["full_resync"]),
                base_generation=int(m["base_generation"]),
                hash_version=str(m["hash_version"]),
                work_dir=d,
                created_at=datetime.fromisoformat(m["created_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"diff in {d} cannot be reloaded: {exc}", hint="discard it; the next run diffs afresh"
            ) from exc


def pending_diffs(store: StateStore, sync: str) -> list[DiffResult]:
    """Diffs of a sync whose work directory still exists (oldest first): left by a crashed run."""
    root = store.paths.work / check_sync_name(sync)
    found = [DiffResult.open(p.parent) for p in sorted(root.glob("*/manifest.json"))]
    return sorted(found, key=lambda d: d.created_at)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def connect(store: StateStore, settings: DiffSettings, tag: str) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """An in-memory DuckDB bounded by ``settings``, spilling under ``.sfsync/tmp/<tag>``."""
    for old in store.paths.tmp.glob("duckdb-*"):  # left by a diff whose process died
        pid = old.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    spill = store.paths.tmp / f"duckdb-{os.getpid()}-{tag}"
    try:
        spill.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(exc, store.paths.tmp, "DuckDB's spill files") from exc
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = {_lit(settings.memory_limit)}")
    con.execute(f"SET temp_directory = {_lit(str(spill))}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET TimeZone = 'UTC'")
    if settings.threads is not None:
        con.execute(f"SET threads = {int(settings.threads)}")
    return con, spill


def _check_columns(schema: pa.Schema, primary_key: str, columns: Sequence[str], model: str) -> None:
    names = set(schema.names)
    missing = [c for c in [primary_key, *columns] if c not in names]
    if missing:
        raise ConfigError(
            f"model `{model}` has no column(s) {', '.join(missing)}",
            hint=f"its columns are: {', '.join(schema.names)}; fix the primary key or the mappings",
        )
    bad = [c for c in [primary_key, *columns] if c.startswith(_RESERVED_PREFIXES)]
    if bad:
        raise ConfigError(
            f"model `{model}` column(s) {', '.join(bad)} use a prefix sfsync reserves",
            hint=f"rename them in the model: names may not start with {' or '.join(_RESERVED_PREFIXES)}",
        )


def _ingest(
    con: duckdb.DuckDBPyConnection,
    reader: pa.RecordBatchReader | pa.Table,
    primary_key: str,
    stored: list[str],
    hashed: list[str],
    model: str,
    spill: Path,
) -> dict[str, str]:
    """Copy the model into ``m`` (normalised values + row hash); return the columns' DuckDB types.

    ``m`` is a Parquet file in the spill directory, read through a view: written as it streams in,
    compressed, it costs a sequential write where a table past ``memory_limit`` was evicted block by
    block and read back uncompressed by every later step (30M rows: the diff 31 -> 22 s; equal at 10M;
    docs/benchmarks.md). The values are then those the snapshot keeps, which is written as Parquet too.
    A Ctrl-C while DuckDB reads the model stops the read within one batch (``interrupts``)."""
    with interruptible(reader) as stream:
        con.register("model_src", stream.reader)
        try:
            described = con.execute("DESCRIBE SELECT * FROM model_src").fetchall()
            exprs, types = _normalised({str(r[0]): str(r[1]) for r in described}, stored, primary_key)
            hash_expr = f"hash({', '.join(q(c) for c in hashed)})" if hashed else "hash(NULL)"
            select = f"SELECT *, {hash_expr} AS {HASH_COLUMN} FROM (SELECT {', '.join(exprs)} FROM model_src)"
            path = _lit(str(spill / "model.parquet"))
            # Parquet 2's encodings: a file about half the size, written faster (10M rows: 3.2-3.9 s vs
            # 3.9-5.1 s); only this diff's DuckDB reads it
            con.execute(f"COPY ({select}) TO {path} (FORMAT parquet, PARQUET_VERSION V2)")
            con.execute(f"CREATE VIEW m AS SELECT * FROM read_parquet({path})")
        except BaseException as exc:
            if stream.stopped or is_interrupt(exc):  # Ctrl-C, in whichever form it reached DuckDB
                raise KeyboardInterrupt from exc
            if isinstance(exc, duckdb.OutOfMemoryException | duckdb.IOException):
                raise  # our resources, not the model: reported by compute_diff
            if isinstance(exc, duckdb.Error):
                raise SourceError(f"reading model `{model}` failed: {exc}", model=model) from exc
            raise
        finally:
            con.unregister("model_src")
    return types


def _normalised(
    described: dict[str, str], stored: list[str], primary_key: str
) -> tuple[list[str], dict[str, str]]:
    """The select list that normalises the model's values (enums as text, empty strings as null) and the
    columns' DuckDB types."""
    exprs = []
    types: dict[str, str] = {}
    for c in stored:
        t = described[c]
        if t.startswith("ENUM"):
            exprs.append(f"CAST({q(c)} AS VARCHAR) AS {q(c)}")
            t = "VARCHAR"
        elif t == "VARCHAR" and c != primary_key:
            exprs.append(f"NULLIF({q(c)}, '') AS {q(c)}")
        else:
            exprs.append(q(c))
        types[c] = t
    return exprs, types


def _compatible(base: SnapshotInfo, types: dict[str, str], hashed: list[str]) -> bool:
    """True when the snapshot's hashes can be compared with the model's."""
    return (
        base.hash_version == HASH_VERSION
        and list(base.columns) == hashed
        and all(base.types.get(c) == t for c, t in types.items())
    )


def _differs(c: str, types: dict[str, str], base: SnapshotInfo) -> str:
    """SQL: does column ``c`` of model row ``m`` differ from snapshot row ``s``?"""
    old = base.types.get(c)
    if old is None:
        # a mapping added since the snapshot: sfsync never wrote this field, so a value is a change to
        # send, but a null is not (it would wipe what people entered in Salesforce; like a new row's null)
        return f"(m.{q(c)} IS NOT NULL)"
    if old == types[c]:
        return f"(m.{q(c)} IS DISTINCT FROM s.{q(c)})"
    return f"(CAST(m.{q(c)} AS VARCHAR) IS DISTINCT FROM CAST(s.{q(c)} AS VARCHAR))"


def compute_diff(
    store: StateStore,
    sync: str,
    model_rows: pa.RecordBatchReader | pa.Table,
    *,
    primary_key: str,
    columns: Sequence[str],
    full_resync: bool = False,
    model: str | None = None,
    settings: DiffSettings | None = None,
    on_read: Callable[[int], None] | None = None,
) -> DiffResult:
    """Compare the model with the sync's snapshot; write the rows to send under ``.sfsync/work``.

    ``on_read(rows)`` is told when the model is read (and no key is null), before the comparison.

    Raises :class:`ConfigError` for unknown or reserved column names and :class:`SourceError` for a
    null or repeated primary key (with sample keys), before anything is written.
    """
    settings = settings or DiffSettings()
    check_sync_name(sync)
    model = model or sync
    value_cols = list(dict.fromkeys(columns))
    _check_columns(model_rows.schema, primary_key, value_cols, model)
    stored = [primary_key, *(c for c in value_cols if c != primary_key)]
    hashed = sorted(value_cols)
    created = datetime.now(UTC)
    diff_id = f"{created.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
    work_dir = store.paths.work / sync / diff_id
    con, spill = connect(store, settings, diff_id)
    try:
        types = _ingest(con, model_rows, primary_key, stored, hashed, model, spill)
        rows = count_keys(con, "m", primary_key, model)
        if on_read is not None:
            on_read(rows)
        current = store.snapshots.current(sync)
        # a snapshot keyed by another primary key identifies rows differently: everything is new
        base = current if current is not None and current.primary_key == primary_key else None
        if base is None and repeats_by_sort(con, "m", primary_key):  # else the key join finds them
            refuse_repeats(con, "m", primary_key, model, rows)
        work_dir.mkdir(parents=True)
        result = DiffResult(
            sync=sync,
            primary_key=primary_key,
            columns=tuple(value_cols),
            types=types,
            counts=DiffCounts(rows, 0, 0, 0, 0, 0, None),
            full_resync=full_resync,
            base_generation=current.generation if current else 0,
            hash_version=HASH_VERSION,
            work_dir=work_dir,
            created_at=created,
        )
        counts = _write_changes(con, result, base, stored, hashed, rows, model)
        result = DiffResult(**{**result.__dict__, "counts": counts})
        result._write_manifest()
        return result
    except BaseException as exc:
        shutil.rmtree(work_dir, ignore_errors=True)
        if is_interrupt(exc) and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt from exc  # DuckDB's RuntimeError("Query interrupted")
        if isinstance(exc, duckdb.Error):
            raise engine_error(exc, f"diff of sync `{sync}`", settings, spill) from exc
        if isinstance(exc, OSError):
            raise unwritable(exc, work_dir.parent, f"the diff of sync `{sync}` (nothing was sent)") from exc
        raise
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def engine_error(exc: duckdb.Error, what: str, settings: DiffSettings, spill: Path) -> StateError:
    """A DuckDB failure (memory, disk, I/O) as a StateError saying what to change."""
    if write_failure(exc) is not None:  # a full disk, a permission refused: in plain words
        return unwritable(exc, spill.parent.parent, what)
    if isinstance(exc, duckdb.OutOfMemoryException):
        hint = (
            f"raise state.diff_memory_limit in the project file (now {settings.memory_limit}) or free disk"
            f" space for {spill.parent}"
        )
    else:
        hint = f"check free disk space and permissions under {spill.parent}"
    return StateError(f"{what} failed in DuckDB: {exc}", hint=hint)


_K = "_sfsync_k"  # join key (the primary key, as text when its type changed since the snapshot)
_H = "_sfsync_h"  # row hash in the key join


def _write_changes(
    con: duckdb.DuckDBPyConnection,
    r: DiffResult,
    base: SnapshotInfo | None,
    stored: list[str],
    hashed: list[str],
    rows: int,
    model: str,
) -> DiffCounts:
    pk = q(r.primary_key)
    out = _lit(str(r.changes_path))
    gone_out = _lit(str(r.gone_path))
    value_sql = ", ".join(f"m.{q(c)}" for c in stored)
    if base is None:
        sends = ", ".join(f"true AS {q(send_column(c))}" for c in r.columns)
        con.execute(
            f"COPY (SELECT {value_sql}, '{KIND_NEW}' AS {KIND_COLUMN}, false AS {RESEND_COLUMN}, {sends}"
            f" FROM m) TO {out} (FORMAT parquet)"
        )
        con.execute(f"COPY (SELECT {pk} FROM m LIMIT 0) TO {gone_out} (FORMAT parquet)")
        return DiffCounts(rows, rows, 0, 0, 0, 0, None)

    con.execute(f"CREATE VIEW snap AS SELECT * FROM read_parquet({_lit(str(base.snapshot_path))})")
    con.execute(f"CREATE VIEW rej AS SELECT * FROM read_parquet({_lit(str(base.rejected_path))})")
    same_key = base.types.get(base.primary_key) == r.types[r.primary_key]

    def key(alias: str) -> str:
        return f"{alias}.{pk}" if same_key else f"CAST({alias}.{pk} AS VARCHAR)"

    # 1. keys: which rows are new, changed, resent or gone (only keys and hashes in the join when possible)
    con.execute(f"CREATE TEMP TABLE resend AS SELECT DISTINCT {key('rej')} AS {_K} FROM rej")
    diffs = {c: _differs(c, r.types, base) for c in r.columns}
    any_changed = " OR ".join(diffs.values()) or "false"
    fast = _compatible(base, r.types, hashed)
    if fast or r.full_resync:
        m_side = f"SELECT {key('m')} AS {_K}, {HASH_COLUMN} AS {_H} FROM m"
        s_side = f"SELECT {key('snap')} AS {_K}, {HASH_COLUMN} AS {_H} FROM snap"
        differ = f"m.{_H} <> s.{_H}"
    else:  # column by column: both sides carry their values
        m_side = f"SELECT {key('m')} AS {_K}, * FROM m"
        s_side = f"SELECT {key('snap')} AS {_K}, * FROM snap"
        differ = f"({any_changed})"
    where = (
        "true"
        if r.full_resync
        else f"m.{_K} IS NULL OR s.{_K} IS NULL OR {differ} OR m.{_K} IN (SELECT {_K} FROM resend)"
    )
    con.execute(
        f"CREATE TEMP TABLE d AS SELECT m.{_K} AS mk, s.{_K} AS sk"
        f" FROM ({m_side}) m FULL OUTER JOIN ({s_side}) s ON m.{_K} = s.{_K} WHERE {where}"
    )
    snapshot_rows = int((con.execute("SELECT count(*) FROM snap").fetchone() or (0,))[0])
    if repeats_in_join(con, "d", rows, snapshot_rows):  # before anything is written
        refuse_repeats(con, "m", r.primary_key, model, rows)
    con.execute(f"COPY (SELECT sk AS {pk} FROM d WHERE mk IS NULL) TO {gone_out} (FORMAT parquet)")

    # 2. rows: join only the rows to send back to both sides and compute the send mask
    full = str(r.full_resync).lower()
    sends = ", ".join(
        f"(s.{_K} IS NULL OR {full} OR (x.{_K} IS NOT NULL AND NOT ({any_changed})) OR {diffs[c]})"
        f" AS {q(send_column(c))}"
        for c in r.columns
    )
    con.execute(
        f"COPY (SELECT {value_sql},"
        f" CASE WHEN s.{_K} IS NULL THEN '{KIND_NEW}' ELSE '{KIND_CHANGED}' END AS {KIND_COLUMN},"
        f" x.{_K} IS NOT NULL AS {RESEND_COLUMN}, {sends}"
        f" FROM (SELECT mk FROM d WHERE mk IS NOT NULL) dk"
        f" JOIN m ON {key('m')} = dk.mk"
        f" LEFT JOIN (SELECT {key('snap')} AS {_K}, * FROM snap WHERE {key('snap')} IN"
        f"   (SELECT sk FROM d WHERE mk IS NOT NULL AND sk IS NOT NULL)) s ON s.{_K} = dk.mk"
        f" LEFT JOIN resend x ON x.{_K} = dk.mk"
        f") TO {out} (FORMAT parquet)"
    )
    new, changed, resent = con.execute(
        f"SELECT count(*) FILTER ({KIND_COLUMN} = '{KIND_NEW}'),"
        f" count(*) FILTER ({KIND_COLUMN} = '{KIND_CHANGED}'),"
        f" count(*) FILTER ({RESEND_COLUMN}) FROM read_parquet({out})"
    ).fetchone() or (0, 0, 0)
    gone = con.execute("SELECT count(*) FROM d WHERE mk IS NULL").fetchone()
    return DiffCounts(
        rows=rows,
        new=int(new),
        changed=int(changed),
        unchanged=rows - int(new) - int(changed),
        resent=int(resent),
        gone=int(gone[0]) if gone else 0,
        previous_rows=base.rows,
    )


__all__ = [
    "HASH_COLUMN",
    "HASH_VERSION",
    "KIND_CHANGED",
    "KIND_COLUMN",
    "KIND_NEW",
    "READ_BATCH_ROWS",
    "RESEND_COLUMN",
    "DiffCounts",
    "DiffResult",
    "DiffSettings",
    "compute_diff",
    "engine_error",
    "pending_diffs",
    "q",
]
