"""What the Airflow recipe's task calls (``sfsync.integrations.airflow.run_syncs``), against the emulator:
XCom-ready results, the org read back, failures and partial runs raised as a task failure."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from sfsync.errors import SfsyncError
from sfsync.integrations.airflow import run_syncs
from tests.integrations_dagster.project import PROJECT, records
from tests.plugins.emulator import InProcessEmulator
from tests.schedule.helpers import SECRETS


def _project(root: Path, bad_emails: int = 0) -> Path:
    con = duckdb.connect(str(root / "wh.duckdb"))
    con.execute("create table companies as select 'C' || i as id, 'Company ' || i as name from range(2) t(i)")
    con.execute(
        "create table people as select 'P' || i as id, 'Last' || i as last, 'C' || (i % 2) as company,"
        f" case when i < {bad_emails} then 'bad-email' else 'p' || i || '@example.com' end as email"
        " from range(4) t(i)"
    )
    con.close()
    (root / "sfsync.yml").write_text(PROJECT)
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    return root / "sfsync.yml"


def test_the_task_runs_parents_first_and_returns_xcom_ready_results(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    results = run_syncs(_project(tmp_path), select=["tag:nightly"], transport=emulator.transport)
    assert json.loads(json.dumps(results)) == results  # what XCom stores
    assert [(r["sync"], r["status"], r["counts"]["created"]) for r in results] == [
        ("accounts", "succeeded", 2),
        ("contacts", "succeeded", 4),
    ]
    contacts = records(emulator, "SELECT External_Id__c, Account.External_Id__c FROM Contact")
    assert sorted((c["External_Id__c"], c["Account"]["External_Id__c"]) for c in contacts) == [  # type: ignore[index]
        ("P0", "C0"),
        ("P1", "C1"),
        ("P2", "C0"),
        ("P3", "C1"),
    ]


def test_a_partial_run_passes_unless_asked_and_a_failed_one_fails_the_task(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    path = _project(tmp_path, bad_emails=1)
    results = run_syncs(path, transport=emulator.transport)
    assert {r["sync"]: r["status"] for r in results} == {"accounts": "succeeded", "contacts": "partial"}
    with pytest.raises(
        SfsyncError, match=r"1 of 1 sync run\(s\) did not succeed: contacts \(run 3\) partial"
    ):
        run_syncs(path, ["contacts"], fail_on_partial=True, transport=emulator.transport)

    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("drop table companies")
    con.close()
    with pytest.raises(
        SfsyncError, match=r"1 of 2 sync run\(s\) did not succeed: accounts \(run 4\) failed"
    ) as e:
        run_syncs(path, transport=emulator.transport)
    assert e.value.problems[0].startswith("accounts (run 4) failed: ")
