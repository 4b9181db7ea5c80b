"""A warehouse-planner run SIGKILLed around its snapshot advance, then run again: every row reaches the org
once, the snapshot settles exactly once (the warehouse's bookkeeping generation equals the local one), and
one more run sends nothing. The child is ``tests/sync/crash_child.py`` (kill points ``before_snapshot``,
``warehouse_before_commit``, ``warehouse_after_commit``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sfsync.state import StateStore
from tests.plugins.emulator import LiveEmulator
from tests.warehouse.helpers import ENV, FIELDS, PgProject

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _crash(pg: PgProject, point: str) -> str:
    mark = pg.root / "crash-mark.txt"
    env = {**os.environ, **ENV, "SFSYNC_CRASH_AT": point, "SFSYNC_CRASH_MARK": str(mark)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.sync.crash_child",
            str(pg.path),
            str(pg.root / ".sfsync"),
            "people",
            "rest",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, f"the child was not killed at {point}: {proc.stderr[-3000:]}"
    return mark.read_text()


@pytest.mark.parametrize("point", ["before_snapshot", "warehouse_before_commit", "warehouse_after_commit"])
def test_killed_around_the_advance_then_rerun(
    point: str, tmp_path: Path, postgres_url: str, live_emulator: LiveEmulator
) -> None:
    pg = PgProject(tmp_path, postgres_url, live_emulator.url, None)
    pg.create(30)
    pg.write("warehouse")
    s = pg.session()
    assert s.run("people").counts.created == 30
    s.close()
    s.store.close()
    pg.sql(f"UPDATE {pg.schema}.people SET email = 'changed' || id || '@x.com' WHERE id <= 10")
    assert _crash(pg, point) == point
    s = pg.session()
    again = s.run("people")
    # the killed run's 10 rows were accepted: the rerun settles them and sends nothing new
    assert (again.counts.changed, again.counts.updated) == (0, 0), again.counts
    assert again.recovered_runs, "the rerun did not recover the killed run"
    recs = list(live_emulator.org.query(f"SELECT {FIELDS} FROM Contact").records)
    assert Counter(r["External_Id__c"] for r in recs) == Counter(f"ext-{i}" for i in range(1, 31))
    emails = {r["External_Id__c"]: r["Email"] for r in recs}
    assert all(emails[f"ext-{i}"] == f"changed{i}@x.com" for i in range(1, 11))
    final = s.run("people")
    assert (final.counts.new, final.counts.changed, final.counts.api_calls) == (0, 0, 0)
    local = StateStore.open(pg.root / ".sfsync")
    current = local.snapshots.current("people")
    assert current is not None
    meta = pg.sql(f"SELECT generation FROM \"{pg.planner_schema}\".sfsync_snapshots WHERE sync = 'people'")
    assert meta == [(current.generation,)]
    local.close()
    s.close()
    s.store.close()


@pytest.mark.parametrize("point", ["before_snapshot", "warehouse_before_commit", "warehouse_after_commit"])
def test_removals_killed_around_the_advance_then_rerun(
    point: str, tmp_path: Path, postgres_url: str, live_emulator: LiveEmulator
) -> None:
    """on_row_removed: delete with the warehouse planner: the removed keys leave the warehouse snapshot
    exactly once whatever the kill point, each record is deleted once, and nothing is sent again."""
    pg = PgProject(tmp_path, postgres_url, live_emulator.url, None)
    pg.create(30)
    pg.write("warehouse")
    pg.path.write_text(
        pg.path.read_text().replace(
            "    mappings:", "    on_row_removed: {action: delete, max_percent: 50}\n    mappings:"
        )
    )
    s = pg.session()
    assert s.run("people").counts.created == 30
    s.close()
    s.store.close()
    pg.sql(f"DELETE FROM {pg.schema}.people WHERE id > 20")
    assert _crash(pg, point) == point
    s = pg.session()
    again = s.run("people")
    assert (again.counts.removed, again.counts.changed, again.counts.new) == (0, 0, 0), again.counts
    assert again.recovered_runs, "the rerun did not recover the killed run"
    soql = "SELECT External_Id__c, IsDeleted FROM Contact"
    recs = list(live_emulator.org.query(soql, include_deleted=True).records)
    assert Counter(r["External_Id__c"] for r in recs) == Counter(f"ext-{i}" for i in range(1, 31))
    deleted = sorted(r["External_Id__c"] for r in recs if r["IsDeleted"])
    assert deleted == sorted(f"ext-{i}" for i in range(21, 31))
    assert pg.snapshot_rows() == 20
    final = s.run("people")
    assert (final.counts.removed, final.counts.api_calls) == (0, 0)
    s.close()
    s.store.close()
