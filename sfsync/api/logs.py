"""Sync logs in the warehouse: after each run, the project's finished runs not yet written go to its log
tables (``logs:`` in the project file; the tables are described in :mod:`sfsync.sources.logtables`).

:func:`export_logs` writes the runs the state store marks as not exported, oldest first, each in its own
transaction, and marks each once written. A run that cannot be written (the warehouse is down, the DuckDB
file is busy) stays marked as not exported and is written after a later run, or by ``sfsync export-logs``:
logging never fails a run. ``again=True`` marks every run of the history as not exported first (a backfill
after ``logs:`` was added or moved; writing a run twice replaces it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sfsync.alerts import judge_run
from sfsync.config import Project
from sfsync.errors import SfsyncError
from sfsync.sources.logtables import ROWS_SCHEMA, RUNS_SCHEMA, LogTables, open_log_tables
from sfsync.state import RunRecord, StateStore

log = logging.getLogger(__name__)

EXPORT_BATCH_RUNS = 200
"""Most runs written to the log tables after one run (the rest follow after the next ones)."""


@dataclass
class LogExport:
    """What one export did: runs and row results written, and the error that stopped it (if any)."""

    runs: list[int] = field(default_factory=list)
    rows: int = 0
    error: str | None = None
    where: str | None = None


def project_name(config: Project) -> str:
    """The name this project's runs carry in the log tables (``logs.project``, else its directory)."""
    assert config.logs is not None
    return config.logs.project or config.root.resolve().name


def _run_table(config: Project, store: StateStore, run: RunRecord, project: str) -> pa.Table:
    sync = config.syncs.get(run.sync)
    by_code = store.rejected_counts(run.id) if run.counts.rejected else {}
    verdict = judge_run(run, sync.warnings if sync is not None else None, by_code)
    c = run.counts
    row = {
        "project": project,
        "run_id": run.id,
        "sync": run.sync,
        "object": sync.object if sync is not None else None,
        "mode": sync.mode if sync is not None else None,
        "trigger": run.trigger.value,
        "status": run.status.value,
        "warning": verdict.warning,
        "reason": verdict.reason,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_s": run.duration_s,
        "api": run.api,
        "rows_read": c.rows_read,
        "new": c.new,
        "changed": c.changed,
        "unchanged": c.unchanged,
        "created": c.created,
        "updated": c.updated,
        "rejected": c.rejected,
        "removed": c.removed,
        "api_calls": c.api_calls,
        "error": run.error,
        "exported_at": datetime.now(UTC),
    }
    return pa.Table.from_pylist([row], schema=RUNS_SCHEMA)


def _row_tables(store: StateStore, run: RunRecord, project: str, rejected_only: bool) -> Iterator[pa.Table]:
    """The run's row results, one table per stored part (bounded memory whatever the run's size)."""
    for part in store.result_parts(run.id):
        table = pq.read_table(part)
        if rejected_only:
            table = table.filter(pc.invert(pc.fill_null(table.column("success"), False)))
        n = table.num_rows
        if not n:
            continue
        yield pa.table(
            [
                pa.repeat(project, n),
                pa.repeat(run.id, n).cast(pa.int64()),
                pa.repeat(run.sync, n),
                table.column("primary_key"),
                table.column("success"),
                table.column("operation"),
                table.column("record_id"),
                table.column("error_code"),
                table.column("message"),
                table.column("fields"),
            ],
            schema=ROWS_SCHEMA,
        )


def export_logs(
    config: Project, store: StateStore, *, again: bool = False, limit: int = EXPORT_BATCH_RUNS
) -> LogExport:
    """Write the finished runs not yet in the log tables (all of them with ``again``); never raises."""
    done = LogExport()
    if config.logs is None:
        return done
    if again:
        store.reset_logs_exported()
    pending = store.runs_to_export(limit)
    if not pending:
        return done
    project = project_name(config)
    tables: LogTables | None = None
    try:
        tables = open_log_tables(config)
        done.where = tables.where
        for run in pending:
            rows = _row_tables(store, run, project, config.logs.rows == "rejected")
            written = tables.write(
                project,
                run.id,
                _run_table(config, store, run, project),
                rows if config.logs.rows != "none" else (),
            )
            store.mark_logs_exported(run.id)
            done.runs.append(run.id)
            done.rows += written
    except SfsyncError as exc:
        done.error = exc.message
        log.warning("sync logs: %s (written again after the next run)", exc.message)
    finally:
        if tables is not None:
            tables.close()
    return done


__all__ = ["EXPORT_BATCH_RUNS", "LogExport", "export_logs", "project_name"]
