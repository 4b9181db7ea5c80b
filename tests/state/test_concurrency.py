"""The state store under real concurrent processes: writers, run locks, takeover from dead processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sfsync.state import RunStatus, StateSettings, SyncBusyError
from tests.state.backends import OPEN_IN_CHILD, Backend

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import os, sys, time
    import pyarrow as pa
    from sfsync.state import RunCounts

    state, sync, runs, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    while not os.path.exists(os.path.join(state, "go")):  # start together, on a store nobody created yet
        time.sleep(0.01)
    store = open_store(state, sys.argv[5], sys.argv[6])
    for i in range(runs):
        run = store.start_run(sync, "schedule")
        store.journal_add(run.id, f"750{sync}{i}", "Contact", "upsert")
        store.journal_set_state(f"750{sync}{i}", "uploaded")
        table = pa.table({"primary_key": [f"{sync}-{i}-{k}" for k in range(rows)],
                          "success": [k % 10 != 0 for k in range(rows)],
                          "error_code": [None if k % 10 else "NOT_FOUND" for k in range(rows)]})
        store.record_results(run.id, table, operation="upsert")
        store.set_warning_state(sync, {"run": str(i)})
        store.runs(limit=5)
        store.finish_run(run.id, "succeeded", RunCounts(rows_read=rows, rejected=rows // 10))
    print("ok", flush=True)
    """
)

HOLDER = textwrap.dedent(
    """
    import sys, time
    from sfsync.state import StateSettings
    store = open_store(sys.argv[1], sys.argv[3], sys.argv[4], settings=StateSettings(**SETTINGS))
    run = store.start_run(sys.argv[2], "schedule")
    lock = store.lock(sys.argv[2], run_id=run.id).acquire()
    print("locked", flush=True)
    time.sleep(60)
    """
)


#: Short PostgreSQL leases, so a killed holder's lease expires within the test (SQLite ignores them).
SETTINGS = {"lease_seconds": 2.0, "lease_heartbeat_seconds": 0.3}
SHORT_LEASES = StateSettings(lease_seconds=2.0, lease_heartbeat_seconds=0.3)


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    prelude = OPEN_IN_CHILD + f"SETTINGS = {SETTINGS!r}\n"
    return subprocess.Popen(
        [sys.executable, "-c", prelude + code, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.slow
def test_three_processes_write_at_once_without_lock_errors(tmp_path: Path, backend: Backend) -> None:
    state = tmp_path / ".sfsync"
    procs = [_python(WRITER, str(state), f"sync{n}", "8", "3000", *backend.argv()) for n in range(3)]
    state.mkdir()
    (state / "go").touch()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    with backend.open(state) as store:
        runs = store.runs(limit=100)
        assert len(runs) == 24 and all(r.status is RunStatus.SUCCEEDED for r in runs)
        for run in runs:
            assert store.rejected_counts(run.id) == {"NOT_FOUND": 300}
            assert len(store.row_results(run.id)) == 3000
        assert {store.sync_status(f"sync{n}").warning_state["run"] for n in range(3)} == {"7"}
        assert len(store.journal_entries()) == 24


def test_second_process_is_refused_while_a_run_holds_the_lock(tmp_path: Path, backend: Backend) -> None:
    state = tmp_path / ".sfsync"
    holder = _python(HOLDER, str(state), "contacts", *backend.argv())
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with backend.open(state, SHORT_LEASES) as store:
            with (
                pytest.raises(
                    SyncBusyError, match=r"sync `contacts` is already running \(pid \d+ on .*, run 1\)"
                ),
                store.lock("contacts"),
            ):
                pass
            owner = store.lock_owner("contacts")
            assert owner is not None and owner.pid == holder.pid and owner.run_id == 1
            # other syncs are not affected
            with store.lock("accounts") as lock:
                assert lock.held
            # the holder is alive: its run is not reaped, even after its lease's first term ran out
            if backend.url is not None:
                time.sleep(SETTINGS["lease_seconds"] + 0.5)
            assert store.reap_interrupted("contacts") == []
            with pytest.raises(SyncBusyError):
                store.lock("contacts").acquire()
    finally:
        holder.kill()
        holder.communicate()


def test_lock_of_a_killed_process_is_taken_over_and_its_run_reaped(tmp_path: Path, backend: Backend) -> None:
    state = tmp_path / ".sfsync"
    holder = _python(HOLDER, str(state), "contacts", *backend.argv())
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate()
    with backend.open(state, SHORT_LEASES) as store:
        if backend.url is not None:  # a lease outlives its dead holder until it expires
            assert store.lock_owner("contacts") is not None
            assert store.reap_interrupted("contacts") == []
        lock = store.lock("contacts").acquire(wait=5)
        try:
            owner = store.lock_owner("contacts")
            assert lock.held and owner is not None and owner.pid == os.getpid()
            reaped = store.reap_interrupted("contacts")
            assert [r.id for r in reaped] == [1]
            assert store.get_run(1).status is RunStatus.INTERRUPTED
            assert "stopped before the run finished" in (store.get_run(1).error or "")
        finally:
            lock.release()
        assert store.lock_owner("contacts") is None


def test_lock_within_one_process_and_waiting(tmp_path: Path, backend: Backend) -> None:
    with backend.open(tmp_path) as store:
        first = store.lock("s").acquire()
        with pytest.raises(SyncBusyError):
            store.lock("s").acquire(wait=0.3)
        first.release()
        with store.lock("s", run_id=7) as again:
            owner = store.lock_owner("s")
            assert again.held and owner is not None and owner.run_id == 7
        assert not again.held
