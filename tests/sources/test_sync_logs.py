"""Sync logs in the warehouse, for real: DuckDB and PostgreSQL receive each run and its row results, after
two runs they read back what the run history says, writing again replaces instead of duplicating, and a
warehouse that cannot be written never fails a run (the run is written after the next one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from sfsync.api import Project
from sfsync.state import Trigger
from tests.plugins.emulator import InProcessEmulator
from tests.plugins.projects import people_project, write_people_project

SYNCS = """\
  contacts:
    from: people
    to: org
    object: Contact
    mode: upsert
    object_id: {column: id, field: External_Id__c}
    mappings: {last: LastName, email: Email}
"""


def _project(tmp_path: Path, emulator: InProcessEmulator, source: str, logs: str) -> Path:
    people = (
        "select 'p' || i as id, 'Last ' || i as last,"
        " case when i = 3 then 'not-an-email' else 'p' || i || '@example.com' end as email"
        " from range(5) t(i)"
    )
    text = people_project(emulator.base_url, SYNCS, sources=source, tail=f"logs: {logs}\n")
    return write_people_project(tmp_path, text, people)


def _two_runs(project_file: Path, emulator: InProcessEmulator) -> list[Any]:
    with Project.load(project_file, transport=emulator.transport) as proj:
        first = proj.attempt("contacts", trigger=Trigger.MANUAL)
        with duckdb.connect(str(project_file.parent / "wh.duckdb")) as con:
            con.execute("update people set email = 'fixed@example.com' where id = 'p3'")
            con.execute("update people set last = 'Renamed' where id = 'p1'")
        second = proj.attempt("contacts", trigger=Trigger.MANUAL)
        return [first, second]


def _check(runs: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], project: str) -> None:
    assert [r[:4] for r in runs] == [
        (project, 1, "contacts", "partial"),
        (project, 2, "contacts", "succeeded"),
    ]
    first, second = runs
    assert first[4] == "20% of rows rejected (1 of 5), all with INVALID_EMAIL_ADDRESS"
    assert (first[5], first[6], first[7]) == (4, 0, 1)  # created, updated, rejected
    assert (second[5], second[6], second[7]) == (1, 1, 0)
    assert second[4] is None
    by_run = {(r[0], r[1]): r[2:] for r in rows}
    assert len(rows) == 5 + 2
    assert by_run[(1, "p3")] == (False, "upsert", None, "INVALID_EMAIL_ADDRESS", "Email")
    assert by_run[(2, "p3")][:2] == (True, "created") and by_run[(2, "p3")][2].startswith("003")
    assert by_run[(2, "p1")][:2] == (True, "updated") and by_run[(1, "p1")][2] == by_run[(2, "p1")][2]


RUNS_SQL = (
    "select project, run_id, sync, status, reason, created, updated, rejected from {runs} order by run_id"
)
ROWS_SQL = (
    "select run_id, primary_key, success, operation, record_id, error_code, fields from {rows}"
    " order by run_id, primary_key"
)


def test_duckdb_gets_each_run_and_its_rows(tmp_path: Path, emulator: InProcessEmulator) -> None:
    project_file = _project(
        tmp_path,
        emulator,
        "logs_db: {type: duckdb, path: logs.duckdb}",
        "{source: logs_db, schema: ops, project: crm_sync}",
    )
    first, second = _two_runs(project_file, emulator)
    assert first.logs.runs == [1] and first.logs.rows == 5 and first.logs.error is None
    assert second.logs.runs == [2] and second.logs.rows == 2

    def read() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        with duckdb.connect(str(tmp_path / "logs.duckdb"), read_only=True) as con:
            runs = con.execute(RUNS_SQL.format(runs="ops.sfsync_runs")).fetchall()
            rows = con.execute(ROWS_SQL.format(rows="ops.sfsync_row_results")).fetchall()
        return runs, rows

    runs, rows = read()
    _check(runs, rows, "crm_sync")
    # writing the whole history again replaces it: nothing is duplicated
    with Project.load(project_file, transport=emulator.transport) as proj:
        again = proj.export_logs(again=True)
    assert again.runs == [1, 2] and again.rows == 7
    assert read() == (runs, rows)


def test_postgres_gets_each_run_and_its_rows_and_a_failed_write_is_retried(
    tmp_path: Path, emulator: InProcessEmulator, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS sfsync_logs CASCADE")
    # first the warehouse refuses the connection: the runs still succeed, the logs wait
    wrong = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    project_file = _project(
        tmp_path,
        emulator,
        f"pg: {{type: postgres, url: '{wrong}', connect_timeout_seconds: 2}}",
        "{source: pg, schema: sfsync_logs, rows: all}",
    )
    first, second = _two_runs(project_file, emulator)
    assert first.kind.value == "partial" and second.kind.value == "succeeded"
    assert first.logs.error is not None and "no_such_database" in first.logs.error and first.logs.runs == []
    assert second.logs.runs == []
    # the warehouse is fixed: the next export writes both runs, oldest first
    project_file.write_text(project_file.read_text().replace(wrong, postgres_url))
    with Project.load(project_file, transport=emulator.transport) as proj:
        caught_up = proj.export_logs()
        assert caught_up.runs == [1, 2] and caught_up.rows == 7 and caught_up.error is None
        assert proj.export_logs().runs == []  # nothing left to write
        assert proj.export_logs(again=True).runs == [1, 2]  # idempotent: replaced, not duplicated
    with psycopg.connect(postgres_url) as conn:
        runs = conn.execute(RUNS_SQL.format(runs="sfsync_logs.sfsync_runs")).fetchall()
        rows = conn.execute(ROWS_SQL.format(rows="sfsync_logs.sfsync_row_results")).fetchall()
        started = conn.execute(
            "select started_at < finished_at, duration_s > 0 from sfsync_logs.sfsync_runs where run_id = 1"
        ).fetchone()
        empty = conn.execute(
            "select count(*) from sfsync_logs.sfsync_row_results where message = '' or record_id = ''"
        ).fetchone()
    _check(runs, rows, tmp_path.name)
    assert started == (True, True)
    assert empty == (0,)  # nulls stay nulls through COPY, never empty strings


#: The runs table as the first release made it (before ``removed``), with one run of another project.
OLD_RUNS = (
    "create table {runs} (project text, run_id bigint, sync text, object text, mode text, trigger text,"
    " status text, warning boolean, reason text, started_at timestamptz, finished_at timestamptz,"
    " duration_s double precision, api text, rows_read bigint, new bigint, changed bigint,"
    " unchanged bigint, created bigint, updated bigint, rejected bigint, api_calls bigint, error text,"
    " exported_at timestamptz, primary key (project, run_id))"
)
OLD_RUN = "insert into {runs} (project, run_id, sync, created) values ('older', 1, 'contacts', 3)"


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_a_runs_table_made_before_removals_gets_the_removed_column(
    tmp_path: Path, emulator: InProcessEmulator, request: pytest.FixtureRequest, warehouse: str
) -> None:
    """A runs table made by an earlier sfsync gains ``removed`` (NULL for the runs it held); a run that
    deletes the records of rows that left the model counts them there."""
    runs = "ops.sfsync_runs"
    if warehouse == "duckdb":
        with duckdb.connect(str(tmp_path / "logs.duckdb")) as con:
            con.execute("create schema ops")
            con.execute(OLD_RUNS.format(runs=runs))
            con.execute(OLD_RUN.format(runs=runs))
        source = "logs_db: {type: duckdb, path: logs.duckdb}"
    else:
        url: str = request.getfixturevalue("postgres_url")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS ops CASCADE")
            conn.execute("CREATE SCHEMA ops")
            conn.execute(OLD_RUNS.format(runs=runs))
            conn.execute(OLD_RUN.format(runs=runs))
        source = f"logs_db: {{type: postgres, url: '{url}'}}"
    project_file = _project(tmp_path, emulator, source, "{source: logs_db, schema: ops, project: crm}")
    mappings = "    mappings: {last: LastName, email: Email}\n"
    removal = "    on_row_removed: {action: delete, max_percent: 50}\n"
    text = project_file.read_text().replace(mappings, mappings + removal)
    project_file.write_text(text)
    with Project.load(project_file, transport=emulator.transport) as proj:
        first = proj.attempt("contacts", trigger=Trigger.MANUAL)
        with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
            con.execute("delete from people where id = 'p0'")
        second = proj.attempt("contacts", trigger=Trigger.MANUAL)
    assert first.logs is not None and first.logs.runs == [1], first.logs
    assert second.logs is not None and second.logs.runs == [2], second.logs
    assert emulator.org.query("SELECT COUNT() FROM Contact").total_size == 3  # p3 was rejected, p0 deleted
    query = f"select project, run_id, created, removed from {runs} order by project, run_id"
    if warehouse == "duckdb":
        with duckdb.connect(str(tmp_path / "logs.duckdb"), read_only=True) as con:
            got = con.execute(query).fetchall()
    else:
        with psycopg.connect(url) as conn:
            got = conn.execute(query).fetchall()
    assert got == [("crm", 1, 4, 0), ("crm", 2, 0, 1), ("older", 1, 3, None)]


def test_only_rejected_rows_or_none(tmp_path: Path, emulator: InProcessEmulator) -> None:
    project_file = _project(
        tmp_path, emulator, "logs_db: {type: duckdb, path: logs.duckdb}", "{source: logs_db, rows: rejected}"
    )
    first, _ = _two_runs(project_file, emulator)
    assert first.logs.rows == 1
    with duckdb.connect(str(tmp_path / "logs.duckdb"), read_only=True) as con:
        assert con.execute("select primary_key from sfsync_row_results").fetchall() == [("p3",)]
        assert con.execute("select count(*) from sfsync_runs").fetchone() == (2,)


def test_a_log_source_must_be_duckdb_or_postgres(tmp_path: Path, emulator: InProcessEmulator) -> None:
    from sfsync.errors import ProjectFileError

    project_file = _project(tmp_path, emulator, "files: {type: csv, path: data}", "{source: files}")
    with pytest.raises(ProjectFileError, match="sync logs can be written to a duckdb or postgres source"):
        Project.load(project_file)
