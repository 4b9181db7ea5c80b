"""Dagster materializes sync assets for real (in-process execution) against the org emulator."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

dg = pytest.importorskip("dagster", reason="the dagster extra: pip install -e '.[dagster]' (make test does)")

from sfsync.integrations.dagster import REJECTED_CHECK, sync_assets  # noqa: E402
from tests.integrations_dagster.project import PROJECT, records  # noqa: E402
from tests.plugins.emulator import InProcessEmulator  # noqa: E402
from tests.schedule.helpers import SECRETS  # noqa: E402


def _project(root: Path, bad_emails: int = 0) -> Path:
    con = duckdb.connect(str(root / "wh.duckdb"))
    try:
        con.execute(
            "create or replace table companies as select 'C' || i as id, 'Company ' || i as name"
            " from range(3) t(i)"
        )
        con.execute(
            "create or replace table people as select 'P' || i as id, 'Last' || i as last,"
            f" case when i < {bad_emails} then 'not-an-email' else 'p' || i || '@example.com' end as email,"
            " 'C' || (i % 3) as company from range(5) t(i)"
        )
    finally:
        con.close()
    (root / "sfsync.yml").write_text(PROJECT)
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    return root / "sfsync.yml"


def test_two_sync_assets_materialize_parents_first_and_fill_the_org(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    path = _project(tmp_path)
    assets = sync_assets(path, transport=emulator.transport)
    by_key = {a.key.to_user_string(): a for a in assets}
    assert set(by_key) == {"sfsync/contacts", "sfsync/accounts"}
    # contacts look accounts up: its asset depends on the accounts asset, and on nothing else
    deps = {k.to_user_string() for k in by_key["sfsync/contacts"].asset_deps[by_key["sfsync/contacts"].key]}
    assert deps == {"sfsync/accounts"}
    assert not by_key["sfsync/accounts"].asset_deps[by_key["sfsync/accounts"].key]

    result = dg.materialize(assets, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    order = [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]
    assert order == ["sfsync/accounts", "sfsync/contacts"]
    meta = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert meta["sfsync/contacts"]["sfsync/created"].value == 5
    assert meta["sfsync/accounts"]["sfsync/status"].value == "succeeded"

    contacts = records(emulator, "SELECT External_Id__c, Email, Account.External_Id__c FROM Contact")
    assert sorted(
        (c["External_Id__c"], c["Email"], c["Account"]["External_Id__c"])  # type: ignore[index]
        for c in contacts
    ) == [(f"P{i}", f"p{i}@example.com", f"C{i % 3}") for i in range(5)]
    accounts = records(emulator, "SELECT Name FROM Account")
    assert sorted(a["Name"] for a in accounts) == ["Company 0", "Company 1", "Company 2"]  # type: ignore[type-var]


def test_a_partial_run_materializes_with_a_failing_warn_check(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    path = _project(tmp_path, bad_emails=2)
    text = path.read_text().replace(
        "    tags: [nightly]\n  accounts:", "    warnings: {rejected_rows_percent: 10}\n  accounts:"
    )
    path.write_text(text)
    result = dg.materialize(
        sync_assets(path, transport=emulator.transport), instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success  # the accepted rows are in the org: the asset is materialized
    events = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    meta = events["sfsync/contacts"].materialization.metadata
    assert meta["sfsync/status"].value == "partial" and meta["sfsync/rejected"].value == 2
    assert meta["sfsync/rejected/INVALID_EMAIL_ADDRESS"].value == 2
    checks = {c.asset_key.to_user_string(): c for c in result.get_asset_check_evaluations()}
    assert checks["sfsync/contacts"].check_name == REJECTED_CHECK
    assert (
        not checks["sfsync/contacts"].passed
        and checks["sfsync/contacts"].severity is dg.AssetCheckSeverity.WARN
    )
    assert checks["sfsync/accounts"].passed
    assert len(records(emulator, "SELECT Id FROM Contact")) == 3


def test_a_failed_run_fails_the_step_and_skips_what_depends_on_it(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    path = _project(tmp_path)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("drop table companies")
    con.close()
    result = dg.materialize(
        sync_assets(path, transport=emulator.transport),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1 and "sfsync accounts (run 1) failed" in str(failures[0].event_specific_data)
    assert [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()] == []
    assert records(emulator, "SELECT Id FROM Contact") == []  # contacts did not run: its parent failed


def test_select_picks_the_assets(tmp_path: Path, emulator: InProcessEmulator) -> None:
    path = _project(tmp_path)
    assets = sync_assets(path, select=["accounts"], transport=emulator.transport)
    assert [a.key.to_user_string() for a in assets] == ["sfsync/accounts"]
    result = dg.materialize_to_memory(assets, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert len(records(emulator, "SELECT Id FROM Account")) == 3
    assert records(emulator, "SELECT Id FROM Contact") == []


def test_a_sync_reading_a_dbt_model_is_downstream_of_its_asset(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    path = _project(tmp_path)
    path.write_text(
        path.read_text().replace(
            "people: {source: wh, kind: user, primary_key: id, table: people}",
            "people: {source: wh, kind: user, primary_key: id,"
            " dbt: {project_dir: transform, model: stg_people}}",
        )
    )
    # building the definitions reads the project file only (the manifest is read when the sync runs)
    by_key = {a.key.to_user_string(): a for a in sync_assets(path, transport=emulator.transport)}
    contacts = by_key["sfsync/contacts"]
    assert {k.to_user_string() for k in contacts.asset_deps[contacts.key]} == {
        "sfsync/accounts",
        "stg_people",
    }
    renamed = sync_assets(
        path,
        syncs=["contacts"],
        dbt_asset_key=lambda m: dg.AssetKey(["dbt", m]),
        transport=emulator.transport,
    )[0]
    assert {k.to_user_string() for k in renamed.asset_deps[renamed.key]} == {"dbt/stg_people"}
