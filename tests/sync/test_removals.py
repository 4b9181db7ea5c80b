"""``on_row_removed`` through the facade and the emulator: what the project file refuses (with the key),
what ``check`` refuses against describe, what ``plan`` shows (count, sample keys, API calls, the guard's
verdict) without writing anything, and the guard's arithmetic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from sfsync.api import plan_view
from sfsync.config import OnRowRemoved, load_project
from sfsync.errors import ProjectFileError, RemovalGuardError
from sfsync.sync.removals import guard
from tests.plugins.emulator import InProcessEmulator
from tests.sync.test_org_automation import CONTACTS, ENV, project

ROWS_SQL = (
    "SELECT i::VARCHAR AS id, 'First' AS first, 'Last ' || i AS last, NULL AS email FROM range(20) t(i)"
)


def _syncs(**on_row_removed: Any) -> dict[str, dict[str, Any]]:
    return {"contacts": {**CONTACTS, "on_row_removed": on_row_removed or "delete"}}


@pytest.mark.parametrize(
    ("sync", "says"),
    [
        ({**CONTACTS, "mode": "insert", "on_row_removed": "delete"}, "needs an update or upsert sync"),
        ({**CONTACTS, "on_row_removed": {"action": "set"}}, "action `set` needs `values`"),
        (
            {**CONTACTS, "on_row_removed": {"action": "delete", "fields": ["Email"]}},
            "`fields` only goes with",
        ),
        ({**CONTACTS, "on_row_removed": "archive"}, "on_row_removed"),
        ({**CONTACTS, "on_row_removed": {"action": "clear", "max_percent": 120}}, "max_percent"),
    ],
)
def test_the_project_file_refuses_what_cannot_work(
    sync: dict[str, Any], says: str, tmp_path: Path, emulator: InProcessEmulator
) -> None:
    with pytest.raises(ProjectFileError) as err:
        project(tmp_path, emulator, {"contacts": sync})
    text = err.value.full_text()
    assert says in text and "on_row_removed" in text, text


def test_insert_sync_may_keep(tmp_path: Path, emulator: InProcessEmulator) -> None:
    with project(tmp_path, emulator, {"c": {**CONTACTS, "mode": "insert", "on_row_removed": "keep"}}) as proj:
        assert proj.config.syncs["c"].on_row_removed == OnRowRemoved()


def test_check_refuses_fields_that_cannot_be_cleared_or_set(
    tmp_path: Path, emulator: InProcessEmulator
) -> None:
    syncs = {
        "unmapped": {**CONTACTS, "on_row_removed": {"action": "clear", "fields": ["Phone"]}},
        "required": {**CONTACTS, "on_row_removed": {"action": "clear", "fields": ["LastName"]}},
        "object_id": {**CONTACTS, "on_row_removed": {"action": "clear", "fields": ["External_Id__c"]}},
        "bad_value": {**CONTACTS, "on_row_removed": {"action": "set", "values": {"DoNotCall": "yes"}}},
        "read_only": {**CONTACTS, "on_row_removed": {"action": "set", "values": {"CreatedDate": "x"}}},
        "fine": {**CONTACTS, "on_row_removed": {"action": "set", "values": {"DoNotCall": True}}},
    }
    with project(tmp_path, emulator, syncs) as proj:
        report = proj.check()
    problems = {s.name: " | ".join(str(p) for p in s.problems) for s in report.syncs}
    assert "'Phone' is not a field this sync maps" in problems["unmapped"]
    assert "Contact.LastName cannot be set to null" in problems["required"]
    assert "is the object id" in problems["object_id"]
    assert "on_row_removed.values.DoNotCall: a boolean field takes true or false" in problems["bad_value"]
    assert "read-only" in problems["read_only"]
    assert problems["fine"] == ""


def test_plan_shows_removals_and_writes_nothing(tmp_path: Path, emulator: InProcessEmulator) -> None:
    with project(tmp_path, emulator, _syncs(action="delete", max_percent=20), rows_sql=ROWS_SQL) as proj:
        assert proj.run("contacts", warn=False).counts.created == 20
        with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
            con.execute("DELETE FROM people WHERE id IN ('3', '7', '11')")
        view = plan_view(proj.plan("contacts", api="rest"))
        removals = view["removals"]
        assert removals["rows_gone"] == 3 and removals["of_rows"] == 20 and removals["to_send"] == 3
        assert removals["sample_keys"] == ["11", "3", "7"] and removals["blocked"] is None
        # one SOQL look-up of the three external ids, one collections delete
        assert removals["estimated_api_calls"] == 2 and removals["operation"] == "delete"
        assert emulator.org.query("SELECT COUNT() FROM Contact").total_size == 20

        with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
            con.execute("DELETE FROM people WHERE id IN ('1', '2')")  # 5 of 20: 25% > 20%
        blocked = plan_view(proj.plan("contacts"))["removals"]
        assert "more than on_row_removed.max_percent (20%)" in blocked["blocked"]
        with pytest.raises(RemovalGuardError, match="stopped before writing anything"):
            proj.run("contacts", warn=False)
        assert emulator.org.query("SELECT COUNT() FROM Contact").total_size == 20
        [last] = proj.runs("contacts", limit=1)
        assert last.status.value == "failed" and "max_percent" in (last.error or "")


def test_guard() -> None:
    setting = OnRowRemoved(action="delete", max_percent=10, max_rows=5)
    assert guard(setting, 0, 0, 100) is None
    assert guard(setting, 5, 95, 100) is None  # 5% and 5 rows: at the limits, allowed
    assert "max_percent" in (guard(setting, 11, 89, 100) or "")
    assert "max_rows" in (guard(OnRowRemoved(action="delete", max_rows=5), 6, 994, 1000) or "")
    assert "returned no rows" in (guard(OnRowRemoved(action="delete", max_percent=100), 3, 0, 3) or "")


def test_a_loaded_file_round_trips_the_shorthand(tmp_path: Path) -> None:
    (tmp_path / "sfsync.yml").write_text(
        "version: 1\nsources: {wh: {type: duckdb, path: wh.duckdb}}\n"
        "models: {m: {source: wh, kind: user, primary_key: id, table: t}}\n"
        "destinations: {org: {type: salesforce, instance_url: 'https://x.my.salesforce.com', "
        "auth: {flow: access_token, access_token: '${SF_SECRET}'}}}\n"
        "syncs: {s: {from: m, to: org, object: Contact, mode: update, object_id: {column: id, field: Id},"
        " mappings: {a: Title}, on_row_removed: clear}}\n"
    )
    sync = load_project(tmp_path / "sfsync.yml", environ=ENV).syncs["s"]
    assert sync.on_row_removed.action == "clear" and sync.on_row_removed.max_percent == 10
