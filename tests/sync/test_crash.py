"""A Bulk run SIGKILLed at several points, then run again: the org ends as after one uninterrupted run.

The emulator is a real server in this test process (``live_emulator``) shared by a child process that runs
the sync and kills itself with SIGKILL at a hook (``tests/sync/crash_child.py``), and by the rerun made
here in-process on the same project and state store. The rerun recovers what the dead run left (aborts
Open jobs, waits for and collects closed ones, advances the snapshot) and sends the rest.

Checks: the org holds exactly the warehouse rows (insert: one record per row, counted by a per-row key;
upsert: one record per external id), and one more run sends nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from sfsync.config import load_project
from sfsync.emulator.metadata.schema import DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD
from sfsync.state import JournalState, StateStore
from sfsync.sync.engine import RunOptions, RunResult, SyncSession
from tests.plugins.emulator import LiveEmulator

#: each test kills a child process mid-run and runs the sync again (seconds each): not in the fast loop
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: Rows in the model: with ~420-byte rows and the smallest job size (1 MB) the run uses two Bulk jobs.
ROWS = 3000
CHANGED = 30
#: Seconds the emulator keeps each Bulk job InProgress, so the child is killed while Salesforce works.
BULK_DELAY = 1.0
ENV = {"SF_CLIENT_SECRET": DEFAULT_CLIENT_SECRET, "SF_PASSWORD": DEFAULT_PASSWORD}
FIELDS = "Title, LastName, Description, External_Id__c"


def _project(root: Path, url: str) -> Path:
    sync = {"from": "people", "to": "org", "object": "Contact", "api": "bulk"}
    maps = {"row_key": "Title", "last_name": "LastName", "note": "Description"}
    project = {
        "version": 1,
        "sources": {"wh": {"type": "duckdb", "path": "wh.duckdb"}},
        "models": {"people": {"source": "wh", "kind": "user", "primary_key": "id", "table": "people"}},
        "destinations": {
            "org": {
                "type": "salesforce",
                "login_url": url,
                "auth": {
                    "flow": "password",
                    "client_id": "sfsync-demo-client",
                    "client_secret": "${SF_CLIENT_SECRET}",
                    "username": "admin@example.com",
                    "password": "${SF_PASSWORD}",
                },
                "settings": {"bulk_poll_seconds": 0.05, "bulk_max_bytes": 1_000_000, "max_concurrency": 2},
            }
        },
        "syncs": {
            "insert": {**sync, "mode": "insert", "mappings": maps},
            "upsert": {
                **sync,
                "mode": "upsert",
                "object_id": {"column": "ext", "field": "External_Id__c"},
                "mappings": maps,
            },
        },
    }
    path = root / "sfsync.yml"
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    with duckdb.connect(str(root / "wh.duckdb")) as con:
        con.execute(
            "CREATE TABLE people AS SELECT i AS id, 'ext-' || i AS ext,"
            " 'row-' || lpad(i::VARCHAR, 5, '0') AS row_key, 'Name ' || i AS last_name,"
            " 'note ' || i || ' ' || repeat('é,\"x', 95) AS note FROM range(?) t(i)",
            [ROWS],
        )
    return path


@pytest.fixture
def project(tmp_path: Path, live_emulator: LiveEmulator) -> Path:
    return _project(tmp_path, live_emulator.url)


def _session(project: Path) -> SyncSession:
    return SyncSession(load_project(project, environ=ENV), StateStore.open(project.parent / ".sfsync"))


def _run(project: Path, sync: str) -> RunResult:
    session = _session(project)
    try:
        return session.run(sync, RunOptions(api="bulk"))
    finally:
        session.close()
        session.store.close()


def _crash(project: Path, sync: str, point: str, api: str = "bulk") -> str:
    mark = project.parent / "crash-mark.txt"
    env = {**os.environ, **ENV, "SFSYNC_CRASH_AT": point, "SFSYNC_CRASH_MARK": str(mark)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.sync.crash_child",
            str(project),
            str(project.parent / ".sfsync"),
            sync,
            api,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, f"the child was not killed at {point}: {proc.stderr[-3000:]}"
    return mark.read_text()


def _warehouse(project: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(project.parent / "wh.duckdb"), read_only=True) as con:
        return con.execute("SELECT row_key, last_name, note, ext FROM people").fetchall()


def _org(emu: LiveEmulator) -> list[tuple[Any, ...]]:
    return [
        (r["Title"], r["LastName"], r["Description"], r["External_Id__c"])
        for r in emu.org.query(f"SELECT {FIELDS} FROM Contact").records
    ]


def _assert_insert_state(emu: LiveEmulator, expected: Counter[tuple[Any, ...]]) -> None:
    org = [row[:3] for row in _org(emu)]
    per_key = Counter(row[0] for row in org)
    want_per_key: Counter[Any] = Counter()
    for (key, *_), n in expected.items():
        want_per_key[key] += n
    twice = [k for k, n in per_key.items() if n > want_per_key[k]]
    assert not twice, f"{len(twice)} rows were created twice, e.g. {twice[:5]}"
    assert Counter(org) == expected, f"org has {len(org)} Contacts, expected {sum(expected.values())}"


def _assert_upsert_state(emu: LiveEmulator, project: Path) -> None:
    org = _org(emu)
    per_ext = Counter(row[3] for row in org)
    assert max(per_ext.values()) == 1
    assert sorted(org) == sorted(_warehouse(project))


def _assert_settled(project: Path, sync: str) -> None:
    """Nothing is left to send, and no Bulk job of the sync is still pending in the journal."""
    again = _run(project, sync)
    assert (again.counts.new, again.counts.changed, again.counts.api_calls) == (0, 0, 0), again.counts
    with StateStore.open(project.parent / ".sfsync") as store:
        assert store.journal_pending(sync) == []
        states = {e.state for e in store.journal_entries(sync=sync)}
    assert states <= {JournalState.COLLECTED, JournalState.ABORTED, JournalState.CLOSED}, states


#: The journal state of the job the child was killed on, per kill point: each state is written right
#: after the call it records returned, so a kill between the call and the write leaves the state before.
JOURNALED_AT_KILL = {
    "before_upload": JournalState.NEW,
    "after_upload": JournalState.NEW,
    "before_close": JournalState.UPLOADED,
    "polling": JournalState.CLOSED,
    "after_collect": JournalState.COLLECTED,
}


def _journal_state(project: Path, job_id: str) -> JournalState:
    with StateStore.open(project.parent / ".sfsync") as store:
        entries = {e.job_id: e.state for e in store.journal_entries()}
    assert job_id in entries, f"job {job_id} is not in the journal: {entries}"
    return entries[job_id]


@pytest.mark.parametrize(
    "point", ["before_upload", "after_upload", "before_close", "polling", "after_collect", "before_snapshot"]
)
def test_insert_killed_then_rerun_creates_each_row_once(
    point: str, project: Path, live_emulator: LiveEmulator
) -> None:
    if point == "polling":
        live_emulator.set_faults(bulk_delay_seconds=BULK_DELAY)
    mark = _crash(project, "insert", point)
    if point == "polling":
        assert mark.split()[-1] in ("UploadComplete", "InProgress"), mark
    if point in ("before_upload", "after_upload", "before_close"):
        assert mark.split()[-1] == "Open", mark
    if point in JOURNALED_AT_KILL:
        # the journal tells how far the job got, not more and not less
        assert _journal_state(project, mark.split()[1]) is JOURNALED_AT_KILL[point], mark
    live_emulator.set_faults(bulk_delay_seconds=0)

    result = _run(project, "insert")
    assert result.status == "succeeded", result
    assert result.recovered_runs, "the rerun did not recover the killed run"
    with StateStore.open(project.parent / ".sfsync") as store:
        killed = store.journal_entries(run_id=result.recovered_runs[0])
        # what the dead run got into Salesforce, as collected by the recovery
        already = len(store.row_results(result.recovered_runs[0], success=True))
        killed_run = store.get_run(result.recovered_runs[0])
    # the history of the killed run now tells what it did
    assert killed_run.counts.created == already and killed_run.counts.rows_read == ROWS
    if point in ("after_collect", "before_snapshot"):
        assert len(killed) == 2, f"the killed run should have used two Bulk jobs: {killed}"
    expected = Counter(row[:3] for row in _warehouse(project))
    _assert_insert_state(live_emulator, expected)
    # rows the dead run had sent are not sent again; the others are
    if point in ("before_upload", "after_upload", "before_close"):
        assert already == 0
    elif point == "polling":  # the other job may not have been closed yet: it was aborted and resent
        assert 0 < already <= ROWS
    else:
        assert already == ROWS
    assert result.counts.created == ROWS - already
    _assert_settled(project, "insert")


def test_insert_rerun_with_changes_killed_while_polling(project: Path, live_emulator: LiveEmulator) -> None:
    assert _run(project, "insert").counts.created == ROWS
    expected = Counter(row[:3] for row in _warehouse(project))
    with duckdb.connect(str(project.parent / "wh.duckdb")) as con:
        con.execute("UPDATE people SET last_name = last_name || ' (moved)' WHERE id % 100 = 7")
    expected.update(row[:3] for row in _warehouse(project) if row[1].endswith("(moved)"))
    live_emulator.set_faults(bulk_delay_seconds=BULK_DELAY)
    _crash(project, "insert", "polling")
    live_emulator.set_faults(bulk_delay_seconds=0)

    result = _run(project, "insert")
    assert result.counts.created == 0 and result.recovered_runs, result
    _assert_insert_state(live_emulator, expected)
    assert sum(expected.values()) == ROWS + CHANGED
    _assert_settled(project, "insert")


@pytest.mark.parametrize("point", ["after_upload", "polling", "before_snapshot"])
def test_upsert_changes_killed_then_rerun_match_the_warehouse(
    point: str, project: Path, live_emulator: LiveEmulator
) -> None:
    assert _run(project, "upsert").counts.created == ROWS
    with duckdb.connect(str(project.parent / "wh.duckdb")) as con:
        con.execute("UPDATE people SET note = 'changed ' || id WHERE id % 100 = 3")
        con.execute(
            "INSERT INTO people SELECT i, 'ext-' || i, 'row-' || i, 'New ' || i, NULL FROM range(?, ?) t(i)",
            [ROWS, ROWS + 10],
        )
    if point == "polling":
        live_emulator.set_faults(bulk_delay_seconds=BULK_DELAY)
    _crash(project, "upsert", point)
    live_emulator.set_faults(bulk_delay_seconds=0)

    result = _run(project, "upsert")
    assert result.status == "succeeded" and result.recovered_runs, result
    _assert_upsert_state(live_emulator, project)
    _assert_settled(project, "upsert")


def test_rest_upsert_killed_between_collections_calls_then_rerun_match_the_warehouse(
    project: Path, live_emulator: LiveEmulator
) -> None:
    """REST updates and upserts are idempotent: rows in flight at the kill are simply sent again."""
    assert _run(project, "upsert").counts.created == ROWS
    with duckdb.connect(str(project.parent / "wh.duckdb")) as con:
        con.execute("UPDATE people SET note = 'rest ' || id WHERE id % 10 = 1")  # 300 rows: two calls
    _crash(project, "upsert", "rest_chunk", api="rest")
    session = _session(project)
    try:
        result = session.run("upsert", RunOptions(api="rest"))
    finally:
        session.close()
        session.store.close()
    assert result.status == "succeeded" and result.recovered_runs, result
    assert result.counts.updated < 300, "the rows the killed run had stored are not sent again"
    _assert_upsert_state(live_emulator, project)
    _assert_settled(project, "upsert")


def _run_rest(project: Path, sync: str) -> RunResult:
    session = _session(project)
    try:
        return session.run(sync, RunOptions(api="rest"))
    finally:
        session.close()
        session.store.close()


#: The kill points of a REST insert, in the order a batch goes through them (tests/sync/crash_child.py).
REST_INSERT_POINTS = [
    "rest_before_journal",
    "rest_before_send",
    "rest_in_flight",
    "rest_chunk",
    "rest_before_done",
    "rest_in_flight_later",
    "before_snapshot",
]


@pytest.mark.parametrize("point", REST_INSERT_POINTS)
def test_rest_insert_killed_at_any_point_then_rerun_creates_each_row_once(
    point: str, project: Path, live_emulator: LiveEmulator
) -> None:
    """Issue 12, items 2 and 4: a REST insert SIGKILLed anywhere, rerun, leaves exactly one record per
    row, and the history of the killed run counts what it wrote (its lost answers included)."""
    _crash(project, "insert", point, api="rest")
    written = len(_org(live_emulator))  # what the killed run got into the org
    if point == "rest_before_journal" or point == "rest_before_send":
        assert written == 0
    else:
        assert written > 0

    result = _run_rest(project, "insert")
    assert result.status == "succeeded" and result.recovered_runs, result
    with StateStore.open(project.parent / ".sfsync") as store:
        killed = store.get_run(result.recovered_runs[0])
        assert store.journal_pending("insert") == []
    # the history tells what was written: the killed run created what the org held after it, the rerun
    # the rest
    assert killed.counts.created == written, killed.counts
    assert result.counts.created == ROWS - written, result.counts
    _assert_insert_state(live_emulator, Counter(row[:3] for row in _warehouse(project)))
    again = _run_rest(project, "insert")
    assert (again.counts.new, again.counts.changed, again.counts.api_calls) == (0, 0, 0), again.counts
