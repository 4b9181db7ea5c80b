"""The warehouse planner on PostgreSQL, end to end against the emulator: only the rows to send leave the
warehouse, changed rows send only their changed fields, the snapshot lives in the planner schema, and
switching planners moves the snapshot without sending anything extra."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsync.errors import SourceError
from sfsync.sync.engine import RunOptions
from sfsync.sync.warehouse.markers import kept_in_warehouse
from tests.plugins.emulator import InProcessEmulator
from tests.warehouse.helpers import FIELDS, PgProject


@pytest.fixture
def pg(tmp_path: Path, postgres_url: str, emulator: InProcessEmulator) -> PgProject:
    p = PgProject(tmp_path, postgres_url, emulator.base_url, emulator.transport)
    p.create(40)
    return p


def _org(emulator: InProcessEmulator) -> dict[str, tuple[object, ...]]:
    recs = emulator.org.query(f"SELECT {FIELDS} FROM Contact").records
    return {r["External_Id__c"]: (r["LastName"], r["Email"], r["Title"]) for r in recs}


def _warehouse(pg: PgProject) -> dict[str, tuple[object, ...]]:
    rows = pg.sql(f"SELECT ext, last_name, email, title FROM {pg.schema}.people")
    return {str(r[0]): tuple(r[1:]) for r in rows}


def test_only_changed_rows_leave_the_warehouse(pg: PgProject, emulator: InProcessEmulator) -> None:
    pg.write("warehouse")
    s = pg.session()
    first = s.run("people")
    assert (first.counts.new, first.counts.created) == (40, 40)
    assert _org(emulator) == _warehouse(pg)
    assert pg.snapshot_rows() == 40
    assert kept_in_warehouse(s.store.snapshots.current("people"))
    # someone edits a LastName in Salesforce; the warehouse changes that row's email only
    found = emulator.org.query("SELECT Id FROM Contact WHERE External_Id__c = 'ext-3'").records
    ann = next(iter(found))["Id"]
    emulator.org.update([{"Id": ann, "LastName": "Edited by hand"}], obj="Contact")
    pg.sql(
        f"UPDATE {pg.schema}.people SET email = 'new3@x.com' WHERE id = 3",
        f"UPDATE {pg.schema}.people SET title = '' WHERE id = 4",  # empty text counts as null, as locally
        f"DELETE FROM {pg.schema}.people WHERE id = 5",
        f"INSERT INTO {pg.schema}.people VALUES (41, 'ext-41', 'Name 41', 'p41@x.com', 'title 41')",
    )
    plan = s.plan("people")
    assert (plan.planner, plan.rows_out) == ("warehouse", 3)
    assert (plan.new, plan.changed, plan.unchanged, plan.rows_read) == (1, 2, 37, 40)
    second = s.run("people")
    assert (second.counts.new, second.counts.changed, second.counts.updated, second.counts.created) == (
        1,
        2,
        2,
        1,
    )
    org = _org(emulator)
    assert org["ext-3"] == ("Edited by hand", "new3@x.com", "title 3")  # only the changed field was sent
    assert org["ext-4"] == ("Name 4", "p4@x.com", None)
    assert org["ext-41"] == ("Name 41", "p41@x.com", "title 41")
    assert pg.snapshot_rows() == 40  # 5 left the model, 41 joined
    third = s.run("people")
    assert (third.counts.new, third.counts.changed, third.counts.api_calls) == (0, 0, 0)
    # no per-diff table is left behind once the snapshot advanced
    assert [t for t in pg.tables() if not t.startswith(("snap_", "rej_", "sfsync_snapshots"))] == []
    s.close()
    s.store.close()


def test_switching_planners_sends_nothing_extra(pg: PgProject, emulator: InProcessEmulator) -> None:
    pg.write("local")
    s = pg.session()
    assert s.run("people").counts.created == 40
    for planner, row in (("warehouse", 7), ("local", 8), ("warehouse", 9)):
        pg.write(planner)
        s.close()
        s.store.close()
        s = pg.session()
        switched = s.run("people")
        assert (switched.counts.new, switched.counts.changed, switched.counts.api_calls) == (0, 0, 0), planner
        assert kept_in_warehouse(s.store.snapshots.current("people")) == (planner == "warehouse")
        pg.sql(f"UPDATE {pg.schema}.people SET last_name = 'Renamed {row}' WHERE id = {row}")
        changed = s.run("people")
        assert (changed.counts.new, changed.counts.changed, changed.counts.updated) == (0, 1, 1), planner
    assert _org(emulator) == _warehouse(pg)
    assert len(s.store.runs(sync="people")) == 7  # the history stays with the sync across switches
    s.close()
    s.store.close()


def test_a_sync_chooses_its_planner_and_switching_it_sends_nothing_extra(
    pg: PgProject, emulator: InProcessEmulator
) -> None:
    """``planner:`` on the sync overrides its source's: the snapshot moves with each switch (history
    kept, nothing sent), and ``plan`` says which planner diffed."""
    pg.write("local")
    s = pg.session()
    assert s.run("people").counts.created == 40
    steps = (
        ("local", "warehouse", "warehouse", 7),
        ("warehouse", "local", "local", 8),
        ("local", None, "local", 9),
    )
    for source_planner, sync_planner, used, row in steps:
        pg.write(source_planner, sync_planner=sync_planner)
        s.close()
        s.store.close()
        s = pg.session()
        assert s.plan("people").planner == used
        switched = s.run("people")
        assert (switched.counts.new, switched.counts.changed, switched.counts.api_calls) == (0, 0, 0), used
        assert kept_in_warehouse(s.store.snapshots.current("people")) == (used == "warehouse")
        pg.sql(f"UPDATE {pg.schema}.people SET last_name = 'Renamed {row}' WHERE id = {row}")
        plan = s.plan("people")
        assert (plan.planner, plan.changed) == (used, 1)
        assert plan.rows_out == (1 if used == "warehouse" else 40)
        changed = s.run("people")
        assert (changed.counts.changed, changed.counts.updated) == (1, 1), used
    assert _org(emulator) == _warehouse(pg)
    assert len(s.store.runs(sync="people")) == 7  # the history stays with the sync across switches
    s.close()
    s.store.close()


def test_repeated_key_is_refused_before_anything_is_sent(pg: PgProject, emulator: InProcessEmulator) -> None:
    pg.write("warehouse")
    pg.sql(f"INSERT INTO {pg.schema}.people VALUES (2, 'ext-2b', 'Again', 'a@x.com', 't')")
    s = pg.session()
    with pytest.raises(SourceError, match=r"not unique: 1 key repeats, e.g. '2' \(2 rows\)"):
        s.run("people")
    assert emulator.org.query("SELECT COUNT() FROM Contact").total_size == 0
    pg.sql(f"DELETE FROM {pg.schema}.people WHERE ext = 'ext-2b'")
    assert s.run("people", RunOptions()).counts.created == 40
    s.close()
    s.store.close()


def _set_on_removal(pg: PgProject, department: str) -> None:
    text = pg.path.read_text().split("    on_row_removed:")[0].rstrip("\n") + "\n"
    removal = (
        "    on_row_removed:\n      action: set\n"
        f"      values: {{Department: '{department}'}}\n      max_percent: 50\n"
    )
    pg.path.write_text(text + removal)


def test_a_rejected_removal_stays_in_the_warehouse_snapshot_until_accepted(
    pg: PgProject, emulator: InProcessEmulator
) -> None:
    """on_row_removed with the warehouse planner: the gone key comes out of the warehouse, its removal is
    sent; rejected, the key stays in the warehouse snapshot and the next run sends it again; accepted, it
    leaves the snapshot and later runs send nothing."""
    pg.write("warehouse")
    _set_on_removal(pg, "x" * 90)  # Department holds 80 characters: the org rejects the removal
    s = pg.session()
    assert s.run("people").counts.created == 40
    pg.sql(f"DELETE FROM {pg.schema}.people WHERE id = 5")
    plan = s.plan("people")
    assert plan.removals is not None and (plan.removals.gone, plan.removals.samples) == (1, ("5",))
    for _ in range(2):  # rejected, and sent again by the next run
        run = s.run("people")
        assert (run.counts.removed, run.counts.rejected, run.rejected_by_code) == (
            0,
            1,
            {"STRING_TOO_LONG": 1},
        )
        assert pg.snapshot_rows() == 40
    _set_on_removal(pg, "left the model")
    s.close()
    s.store.close()
    s = pg.session()
    done = s.run("people")
    assert (done.counts.removed, done.counts.rejected, done.counts.new) == (1, 0, 0)
    recs = emulator.org.query("SELECT Department FROM Contact WHERE External_Id__c = 'ext-5'").records
    assert [r["Department"] for r in recs] == ["left the model"]
    assert pg.snapshot_rows() == 39
    again = s.run("people")
    assert (again.counts.removed, again.counts.api_calls) == (0, 0)
    s.close()
    s.store.close()
