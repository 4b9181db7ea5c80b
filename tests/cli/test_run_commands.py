"""plan / run / runs / show-run through the real command line against a live emulator."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.plugins.projects import CONTACTS_UPSERT, people_project, run_cli, write_people_project

SYNCS = CONTACTS_UPSERT + "    warnings: {rejected_rows_percent: 5}\n"


@pytest.fixture
def project(tmp_path: Path, live_emulator: Any) -> Path:
    people = (
        "select 'p' || i as id, 'Fïrst ' || i as first, 'Last, \"' || i || '\"' as last,"
        " case when i % 10 = 0 then 'not-an-email' else 'u' || i || '@example.com' end as email"
        " from range(40) t(i)"
    )
    return write_people_project(tmp_path, people_project(live_emulator.url, SYNCS), people)


@pytest.mark.slow
def test_plan_writes_nothing_then_run_reports_rejections_over_the_threshold(
    project: Path, live_emulator: Any
) -> None:
    planned = run_cli(project, "plan", "contacts", "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["new"] == 40 and plan["operations"] == {"upsert": 40} and plan["api"] == "rest"
    assert live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 0

    ran = run_cli(project, "run", "contacts", "--json")
    # 4 of 40 rows rejected = 10% > the sync's 5% warning: partial, exit code 1
    assert ran.returncode == 1, ran.stderr
    (result,) = json.loads(ran.stdout)
    assert result["counts"]["created"] == 36
    assert result["rejected_by_code"] == {"INVALID_EMAIL_ADDRESS": 4}
    assert result["status"] == "partial" and result["warning"] is True
    reason = "10% of rows rejected (4 of 40), all with INVALID_EMAIL_ADDRESS"
    assert result["reason"] == reason
    assert live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 36

    # the same status and reason in the history, for the run and for the sync
    history = json.loads(run_cli(project, "runs", "--json").stdout)
    assert [(r["sync"], r["status"], r["trigger"], r["rejected"], r["reason"]) for r in history["runs"]] == [
        ("contacts", "partial", "manual", 4, reason)
    ]
    assert history["syncs"]["contacts"]["state"] == "warning"
    assert history["syncs"]["contacts"]["reason"] == reason
    text = run_cli(project, "runs").stdout
    assert "warning" in text and reason in text and "partial" in text

    out = project.parent / "rejected.csv"
    shown = run_cli(project, "show-run", str(result["run_id"]), "--rejected", "--csv", str(out))
    assert shown.returncode == 0, shown.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert sorted(r["primary_key"] for r in rows) == ["p0", "p10", "p20", "p30"]
    assert {r["error_code"] for r in rows} == {"INVALID_EMAIL_ADDRESS"}
    assert all("not-an-email" in r["message"] and r["fields"] == "Email" for r in rows)


@pytest.mark.slow
def test_fixed_rows_are_retried_and_an_unchanged_rerun_spends_no_api_call(
    project: Path, live_emulator: Any
) -> None:
    assert run_cli(project, "run", "contacts").returncode == 1
    con = duckdb.connect(str(project.parent / "wh.duckdb"))
    con.execute("update people set email = 'fixed' || id || '@example.com' where email = 'not-an-email'")
    con.close()
    again = run_cli(project, "run", "contacts", "--json")
    assert again.returncode == 0, again.stderr
    (second,) = json.loads(again.stdout)
    assert (second["counts"]["new"], second["counts"]["created"], second["counts"]["rejected"]) == (4, 4, 0)
    emails = {
        r["Email"]
        for r in live_emulator.org.query("SELECT Email FROM Contact WHERE Email LIKE 'fixed%'").records
    }
    assert emails == {
        "fixedp0@example.com",
        "fixedp10@example.com",
        "fixedp20@example.com",
        "fixedp30@example.com",
    }

    before = live_emulator.usage()
    (third,) = json.loads(run_cli(project, "run", "contacts", "--json").stdout)
    assert third["counts"]["unchanged"] == 40 and third["counts"]["api_calls"] == 0
    assert live_emulator.usage() == before


@pytest.mark.slow
def test_unknown_sync_and_bad_api_choice_are_usage_errors(project: Path) -> None:
    unknown = run_cli(project, "run", "nope")
    assert unknown.returncode == 2 and "no sync named nope" in unknown.stderr
    bad = run_cli(project, "plan", "contacts", "--api", "soap")
    assert bad.returncode == 2 and "--api 'soap'" in bad.stderr


@pytest.mark.slow
def test_a_mapping_to_a_missing_field_stops_before_writing(project: Path, live_emulator: Any) -> None:
    project.write_text(project.read_text().replace("email: Email", "email: Emial"))
    ran = run_cli(project, "run", "contacts")
    assert ran.returncode == 2
    assert "Emial" in ran.stderr and "nothing was written" in ran.stderr
    assert live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 0


@pytest.mark.slow
def test_a_manual_run_that_finds_the_source_broken_pauses_the_sync(project: Path, live_emulator: Any) -> None:
    con = duckdb.connect(str(project.parent / "wh.duckdb"))
    con.execute("drop table people")
    con.close()
    ran = run_cli(project, "run", "contacts")
    assert ran.returncode == 1 and "people" in ran.stderr
    history = json.loads(run_cli(project, "runs", "--json").stdout)
    status = history["syncs"]["contacts"]
    assert status["paused"] and status["automatic"] and "people" in status["cause"]
    assert history["runs"][0]["status"] == "failed" and "people" in history["runs"][0]["error"]


@pytest.mark.slow
def test_the_rejected_rows_csv_cannot_run_formulas_in_a_spreadsheet(
    project: Path, live_emulator: Any
) -> None:
    """Keys and values come from the warehouse: a cell starting with = + - @ must stay text."""
    con = duckdb.connect(str(project.parent / "wh.duckdb"))
    con.execute(
        "insert into people values ('=HYPERLINK(\"http://evil.test\")', 'A', 'B', 'bad1'),"
        " ('+1+2', 'A', 'B', 'bad2'), ('@SUM(A1)', 'A', 'B', 'bad3'), ('-2+3', 'A', 'B', 'bad4')"
    )
    con.close()
    ran = json.loads(run_cli(project, "run", "contacts", "--json").stdout)
    out = project.parent / "rejected.csv"
    assert run_cli(project, "show-run", str(ran[0]["run_id"]), "--csv", str(out)).returncode == 0
    keys = {r["primary_key"] for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert {'\'=HYPERLINK("http://evil.test")', "'+1+2", "'@SUM(A1)", "'-2+3"} <= keys
    assert not any(k.startswith(("=", "+", "-", "@")) for k in keys)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("-12.5", "-12.5"),  # a plain number is not a formula
        ("+3e5", "+3e5"),
        ("plain", "plain"),
        (None, ""),
        (["Email", "Phone"], "Email,Phone"),
    ],
)
def test_spreadsheet_cells(value: Any, cell: str) -> None:
    from sfsync.api import spreadsheet_cell

    assert spreadsheet_cell(value) == cell


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Account?x", "Account/../x", "Account describe", "1Account"])
def test_describe_refuses_what_is_not_an_api_name(project: Path, live_emulator: Any, name: str) -> None:
    before = live_emulator.usage()
    shown = run_cli(project, "describe", name)
    assert shown.returncode == 2, shown.stderr
    assert f"{name!r} is not a Salesforce object API name" in shown.stderr
    assert "Traceback" not in shown.stderr
    assert live_emulator.usage() == before  # nothing was asked of the org


@pytest.mark.slow
def test_several_syncs_are_all_checked_before_any_writes(project: Path, live_emulator: Any) -> None:
    """An invalid sync named first must not stop the valid ones, nor be found only after others wrote."""
    text = project.read_text()
    broken = text.split("syncs:\n", 1)[1].replace("contacts:", "broken:", 1)
    broken = broken.replace("email: Email}", "email: No_Such_Field__c}")
    project.write_text(text + broken)
    ran = run_cli(project, "run", "broken", "contacts", "--json")
    assert ran.returncode == 2, ran.stderr
    results = {r["sync"]: r for r in json.loads(ran.stdout)}
    assert results["broken"]["status"] == "invalid" and "No_Such_Field__c" in results["broken"]["error"]
    assert results["contacts"]["counts"]["created"] == 36
    assert live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 36
    history = json.loads(run_cli(project, "runs", "--json").stdout)["runs"]
    assert [r["sync"] for r in history] == ["contacts"]  # the invalid sync never started a run
    alone = run_cli(project, "run", "broken")
    assert alone.returncode == 2 and "No_Such_Field__c" in alone.stderr


def test_the_python_api_refuses_an_unknown_api_value(project: Path, live_emulator: Any) -> None:
    from sfsync import Project
    from sfsync.errors import ConfigError

    with Project.load(project) as proj, pytest.raises(ConfigError, match="api='soap' is not one of"):
        proj.run("contacts", api="soap")  # type: ignore[arg-type]
    assert live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 0


@pytest.mark.slow
def test_rows_that_leave_in_plan_and_run_and_the_guard_exit_code(project: Path, live_emulator: Any) -> None:
    """``on_row_removed: delete``: plan prints the removals and what they cost; a run over the guard fails
    (exit 1) before writing; within the guard the records are deleted and the summary counts them."""
    project.write_text(
        project.read_text().replace("    warnings: {rejected_rows_percent: 5}\n", "")
        + ("    on_row_removed: {action: delete, max_percent: 5}\n")
    )
    with duckdb.connect(str(project.parent / "wh.duckdb")) as con:
        con.execute("DELETE FROM people WHERE email = 'not-an-email'")  # 36 valid rows
    assert run_cli(project, "run", "contacts").returncode == 0
    with duckdb.connect(str(project.parent / "wh.duckdb")) as con:
        con.execute("DELETE FROM people WHERE id IN ('p1', 'p2', 'p3')")  # 3 of 36: over 5%
    planned = run_cli(project, "plan", "contacts")
    assert planned.returncode == 0, planned.stderr
    assert "rows that left the model: 3 of 36" in planned.stdout, planned.stdout
    assert "e.g. primary keys p1, p2, p3" in planned.stdout
    assert "a run would stop before writing" in planned.stdout and "max_percent (5%)" in planned.stdout
    stopped = run_cli(project, "run", "contacts")
    assert stopped.returncode == 1 and "stopped before writing anything" in stopped.stderr, stopped.stderr
    assert live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 36

    project.write_text(project.read_text().replace("max_percent: 5", "max_percent: 10"))
    ran = run_cli(project, "run", "contacts")
    assert ran.returncode == 0, ran.stderr
    assert "removed (rows that left)" in ran.stdout and "3" in ran.stdout
    assert live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == 33
    shown = json.loads(run_cli(project, "runs", "contacts", "--json").stdout)
    assert shown["runs"][0]["removed"] == 3 and shown["runs"][1]["status"] == "failed"
