"""``sfsync rows`` and ``sfsync show-row``: one row's fate across runs, with the values each run sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.cli.test_run_commands import project  # noqa: F401  (the fixture)
from tests.plugins.projects import run_cli

pytestmark = pytest.mark.slow


def _two_runs(project: Path) -> None:  # noqa: F811
    assert run_cli(project, "run", "contacts").returncode == 1  # 4 of 40 rejected: partial
    with duckdb.connect(str(project.parent / "wh.duckdb")) as con:
        con.execute("update people set email = 'fixed@example.com' where id = 'p10'")
        con.execute("update people set first = 'Ada' where id = 'p1'")
    assert run_cli(project, "run", "contacts").returncode == 1  # p0, p20, p30 rejected again


def test_search_rows_across_runs(project: Path) -> None:  # noqa: F811
    _two_runs(project)
    rejected = json.loads(run_cli(project, "rows", "contacts", "--rejected", "--json").stdout)
    assert rejected["total"] == 7  # 4 in the first run, 3 retried and rejected again
    assert {r["error_code"] for r in rejected["rows"]} == {"INVALID_EMAIL_ADDRESS"}
    p10 = json.loads(run_cli(project, "rows", "contacts", "p10", "--json").stdout)
    assert [(r["run_id"], r["success"], r["operation"]) for r in p10["rows"]] == [
        (2, True, "created"),
        (1, False, "upsert"),
    ]
    page = json.loads(
        run_cli(project, "rows", "contacts", "--sort", "key", "--asc", "--limit", "5", "--json").stdout
    )
    assert page["total"] == 40 + 5 and [r["primary_key"] for r in page["rows"]] == [
        "p0",
        "p0",
        "p1",
        "p1",
        "p10",
    ]
    bad = run_cli(project, "rows", "contacts", "--sort", "size", "--json")
    assert bad.returncode == 2 and json.loads(bad.stdout)["error"]["type"] == "ConfigError"
    text = run_cli(project, "rows", "contacts", "invalid email", "--run", "2")
    assert text.returncode == 0 and "3 match" in text.stdout and "p20" in text.stdout


def test_show_row_tells_each_runs_outcome_and_values(project: Path, live_emulator: Any) -> None:  # noqa: F811
    _two_runs(project)
    shown = run_cli(project, "show-row", "contacts", "p1", "--json")
    assert shown.returncode == 0, shown.stderr
    story = json.loads(shown.stdout)
    second, first = story["runs"]
    soql = "SELECT Id, FirstName FROM Contact WHERE External_Id__c = 'p1'"
    record = next(iter(live_emulator.org.query(soql).records))
    assert record["FirstName"] == "Ada"
    # the second run updated the record, writing only the field that changed
    assert (second["run_id"], second["operation"], second["record_id"]) == (2, "updated", record["Id"])
    assert second["record_url"] == f"{live_emulator.url}/lightning/r/Contact/{record['Id']}/view"
    assert (second["key_field"], second["key_value"]) == ("External_Id__c", "p1")
    assert {v["field"]: (v["value"], v["written"]) for v in second["values"]} == {
        "FirstName": ("Ada", True),
        "LastName": ('Last, "1"', False),
        "Email": ("u1@example.com", False),
    }
    # the first run created it with every field
    assert first["operation"] == "created" and all(v["written"] for v in first["values"])
    assert {v["field"]: v["value"] for v in first["values"]}["FirstName"] == "Fïrst 1"

    rejected = json.loads(run_cli(project, "show-row", "contacts", "p20", "--json").stdout)["runs"]
    assert [(r["success"], r["error_code"], r["fields"]) for r in rejected] == [
        (False, "INVALID_EMAIL_ADDRESS", ["Email"]),
        (False, "INVALID_EMAIL_ADDRESS", ["Email"]),
    ]
    assert rejected[0]["record_url"] is None
    assert {v["field"]: v["value"] for v in rejected[0]["values"]}["Email"] == "not-an-email"

    text = run_cli(project, "show-row", "contacts", "p1")
    assert text.returncode == 0
    assert "FirstName = Ada" in text.stdout and "(not written: unchanged or empty)" in text.stdout
    assert f"/lightning/r/Contact/{record['Id']}/view" in text.stdout

    missing = run_cli(project, "show-row", "contacts", "p404", "--json")
    assert missing.returncode == 2
    error = json.loads(missing.stdout)["error"]
    assert (error["type"], error["what"], error["name"]) == ("NotFoundError", "row", "p404")
