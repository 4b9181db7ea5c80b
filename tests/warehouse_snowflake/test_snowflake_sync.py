"""A whole sync from a ``type: snowflake`` source in the project file, with fakesnow patched in (a local
Snowflake fake over DuckDB): the local and the warehouse planner each run the sync against the emulator,
changes and a row leaving the model (``on_row_removed: delete``) included, and end with the same org.
Supported only as far as this goes: no test reaches a real Snowflake account (docs/warehouse-planner.md)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sfsync.config import SnowflakeSource, load_project
from sfsync.emulator.metadata.schema import DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD
from sfsync.state import StateStore
from sfsync.sync.engine import SyncSession
from sfsync.sync.warehouse.markers import kept_in_warehouse
from tests.plugins.emulator import InProcessEmulator

fakesnow = pytest.importorskip("fakesnow")
ENV = {
    "SF_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
    "SF_PASSWORD": DEFAULT_PASSWORD,
    "SNOWFLAKE_PASSWORD": "not-a-real-password",
}


@pytest.fixture
def snow() -> Iterator[Any]:
    """fakesnow patched in; a connection of the test's own to change the model's table."""
    import snowflake.connector

    with warnings.catch_warnings(), fakesnow.patch():
        warnings.simplefilter("ignore", UserWarning)  # fakesnow: "Arrow output on a DB-API result ..."
        conn = snowflake.connector.connect(database="db1", schema="public")
        conn.cursor().execute(
            'create table people ("id" int, "ext" varchar, "last_name" varchar, "email" varchar)'
        )
        values = ", ".join(f"({i}, 'ext-{i}', 'Name {i}', 'p{i}@x.com')" for i in range(1, 21))
        conn.cursor().execute(f"insert into people values {values}")
        conn.commit()
        yield conn
        conn.close()


def _write(root: Path, login_url: str, planner: str) -> Path:
    project = {
        "version": 1,
        "sources": {
            "snow": {
                "type": "snowflake",
                "account": "sfsync-test",
                "user": "sfsync",
                "password": "${SNOWFLAKE_PASSWORD}",
                "database": "db1",
                "schema": "public",
                "warehouse": "compute_wh",
                "planner": planner,
                "planner_schema": "sfsync_planner",
            }
        },
        "models": {"people": {"source": "snow", "kind": "user", "primary_key": "id", "table": "people"}},
        "destinations": {
            "org": {
                "type": "salesforce",
                "login_url": login_url,
                "auth": {
                    "flow": "password",
                    "client_id": "sfsync-demo-client",
                    "client_secret": "${SF_CLIENT_SECRET}",
                    "username": "admin@example.com",
                    "password": "${SF_PASSWORD}",
                },
            }
        },
        "syncs": {
            "people": {
                "from": "people",
                "to": "org",
                "object": "Contact",
                "mode": "upsert",
                "api": "rest",
                "object_id": {"column": "ext", "field": "External_Id__c"},
                "mappings": {"last_name": "LastName", "email": "Email"},
                "on_row_removed": {"action": "delete", "max_percent": 20},
            }
        },
    }
    path = root / "sfsync.yml"
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    return path


def _org(emulator: InProcessEmulator) -> dict[str, tuple[object, ...]]:
    recs = emulator.org.query("SELECT External_Id__c, LastName, Email FROM Contact").records
    return {r["External_Id__c"]: (r["LastName"], r["Email"]) for r in recs}


@pytest.mark.parametrize("planner", ["local", "warehouse"])
def test_a_sync_from_a_snowflake_source(
    planner: str, snow: Any, tmp_path: Path, emulator: InProcessEmulator
) -> None:
    path = _write(tmp_path, emulator.base_url, planner)
    project = load_project(path, environ=ENV)
    source = project.sources["snow"]
    assert isinstance(source, SnowflakeSource) and source.planner == planner
    assert "not-a-real-password" not in repr(source)  # the password stays masked
    s = SyncSession(project, StateStore.open(tmp_path / ".sfsync"), transport=emulator.transport)
    try:
        first = s.run("people")
        assert (first.counts.rows_read, first.counts.created, first.counts.rejected) == (20, 20, 0)
        assert kept_in_warehouse(s.store.snapshots.current("people")) == (planner == "warehouse")
        cur = snow.cursor()
        cur.execute("""update people set "email" = 'new3@x.com' where "id" = 3""")
        cur.execute("""delete from people where "id" = 4""")
        cur.execute("""insert into people values (21, 'ext-21', 'Name 21', 'p21@x.com')""")
        snow.commit()
        plan = s.plan("people")
        assert (plan.planner, plan.new, plan.changed, plan.unchanged) == (planner, 1, 1, 18)
        assert plan.rows_out == (2 if planner == "warehouse" else 20)
        assert plan.removals is not None and plan.removals.samples == ("4",)
        second = s.run("people")
        assert (second.counts.created, second.counts.updated, second.counts.removed) == (1, 1, 1)
        org = _org(emulator)
        assert org["ext-3"] == ("Name 3", "new3@x.com")
        assert "ext-4" not in org and "ext-21" in org
        assert len(org) == 20
        third = s.run("people")
        assert (third.counts.new, third.counts.changed, third.counts.removed, third.counts.api_calls) == (
            0,
            0,
            0,
            0,
        )
    finally:
        s.close()
        s.store.close()


def test_switching_a_snowflake_sync_between_planners_sends_nothing_extra(
    snow: Any, tmp_path: Path, emulator: InProcessEmulator
) -> None:
    """local → warehouse moves the snapshot into Snowflake (rows inserted, no COPY from the client),
    warehouse → local brings it back: each first run after a switch sends nothing."""
    path = _write(tmp_path, emulator.base_url, "local")
    s = SyncSession(
        load_project(path, environ=ENV), StateStore.open(tmp_path / ".sfsync"), transport=emulator.transport
    )
    try:
        assert s.run("people").counts.created == 20
        cur = snow.cursor()
        cur.execute("""update people set "email" = '' where "id" = 2""")  # empty text is null: one change
        snow.commit()
        assert s.run("people").counts.updated == 1
        for planner, row in (("warehouse", 5), ("local", 6), ("warehouse", 7)):
            s.close()
            s.store.close()
            path = _write(tmp_path, emulator.base_url, planner)
            s = SyncSession(
                load_project(path, environ=ENV),
                StateStore.open(tmp_path / ".sfsync"),
                transport=emulator.transport,
            )
            switched = s.run("people")
            assert (switched.counts.new, switched.counts.changed, switched.counts.api_calls) == (0, 0, 0), (
                planner
            )
            assert kept_in_warehouse(s.store.snapshots.current("people")) == (planner == "warehouse")
            cur.execute(f"""update people set "last_name" = 'Renamed {row}' where "id" = {row}""")
            snow.commit()
            changed = s.run("people")
            assert (changed.counts.changed, changed.counts.updated) == (1, 1), planner
        org = _org(emulator)
        assert org["ext-2"] == ("Name 2", None)
        assert [org[f"ext-{i}"][0] for i in (5, 6, 7)] == ["Renamed 5", "Renamed 6", "Renamed 7"]
        assert len(s.store.runs(sync="people")) == 8
    finally:
        s.close()
        s.store.close()
