"""A run deleting the records of rows that left the model (``on_row_removed: delete``), SIGKILLed at several
points of its Bulk job or REST calls, then run again: every removed row's record is deleted exactly once
(one record per external id, in the recycle bin), no other record is touched, and one more run sends
nothing. The kill is made by ``tests/sync/crash_child.py`` (same hooks as ``test_crash.py``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest
import yaml

from sfsync.state import StateStore
from sfsync.sync.engine import RunOptions, RunResult
from tests.plugins.emulator import LiveEmulator
from tests.sync.test_crash import BULK_DELAY, ROWS, _crash, _project, _session

pytestmark = pytest.mark.slow

#: Rows that leave the model: a third (the guard is raised to let them go).
LEAVING = ROWS // 3


@pytest.fixture
def project(tmp_path: Path, live_emulator: LiveEmulator) -> Path:
    path = _project(tmp_path, live_emulator.url)
    data = yaml.safe_load(path.read_text())
    data["syncs"] = {
        "upsert": {**data["syncs"]["upsert"], "on_row_removed": {"action": "delete", "max_percent": 50}}
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(project: Path, api: str) -> RunResult:
    session = _session(project)
    try:
        return session.run("upsert", RunOptions(api=api))  # type: ignore[arg-type]
    finally:
        session.close()
        session.store.close()


def _exts(emu: LiveEmulator, *, deleted: bool) -> Counter[str]:
    soql = f"SELECT External_Id__c FROM Contact WHERE IsDeleted = {'true' if deleted else 'false'}"
    return Counter(r["External_Id__c"] for r in emu.org.query(soql, include_deleted=True).records)


@pytest.mark.parametrize(
    ("api", "point"),
    [
        ("bulk", "polling"),
        ("bulk", "after_collect"),
        ("bulk", "before_snapshot"),
        ("rest", "rest_in_flight"),
        ("rest", "rest_chunk"),
        ("rest", "before_snapshot"),
    ],
)
def test_delete_run_killed_then_rerun_deletes_each_removed_record_once(
    api: str, point: str, project: Path, live_emulator: LiveEmulator
) -> None:
    assert _run(project, "bulk").counts.created == ROWS
    with duckdb.connect(str(project.parent / "wh.duckdb")) as con:
        con.execute("DELETE FROM people WHERE id < ?", [LEAVING])
    removed = {f"ext-{i}" for i in range(LEAVING)}
    if point == "polling":
        live_emulator.set_faults(bulk_delay_seconds=BULK_DELAY)
    mark = _crash(project, "upsert", point, api=api)
    live_emulator.set_faults(bulk_delay_seconds=0)
    deleted_by_killed_run = sum(_exts(live_emulator, deleted=True).values())
    if point in ("rest_in_flight", "rest_chunk", "after_collect", "before_snapshot"):
        assert deleted_by_killed_run > 0, mark

    result = _run(project, api)
    assert result.status == "succeeded" and result.recovered_runs, result
    # the rerun deletes what the killed run had not (a removal whose answer was lost is sent again and
    # answered ENTITY_IS_DELETED: counted as deleted, nothing deleted twice)
    with StateStore.open(project.parent / ".sfsync") as store:
        killed = store.row_results(result.recovered_runs[0], success=True)
        mine = store.row_results(result.run_id, success=True)
        assert store.journal_pending("upsert") == []
    done = {r.primary_key for r in [*killed, *mine] if r.operation == "deleted"}
    assert done == {str(i) for i in range(LEAVING)}
    # the org: the removed rows' records in the recycle bin, one each; every other record live, one each
    in_bin = _exts(live_emulator, deleted=True)
    live = _exts(live_emulator, deleted=False)
    assert set(in_bin) == removed and max(in_bin.values()) == 1
    assert len(live) == ROWS - LEAVING and max(live.values()) == 1 and not removed & set(live)

    again = _run(project, api)
    assert (again.counts.removed, again.counts.new, again.counts.api_calls) == (0, 0, 0), again.counts
