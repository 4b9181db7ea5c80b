"""``sfsync scheduler`` as a real process against a live emulator: SIGTERM during a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sfsync.schedule import FireLedger, schedule_fingerprint
from sfsync.state import RunRecord, RunStatus, StateStore, default_state_dir
from sfsync.sync.engine import SyncSession
from tests.plugins.emulator import LiveEmulator
from tests.schedule.helpers import ProjectFactory, make_people


def _start(
    tmp_path: Path, live_emulator: LiveEmulator, *extra: str, delay_s: float = 2.0
) -> tuple[subprocess.Popen[str], StateStore, Path]:
    factory = ProjectFactory(tmp_path, login_url=live_emulator.url)
    make_people(factory.warehouse, 50)
    factory.add_sync(schedule="{every: 15m}", api="bulk")
    project = factory.load()
    path = factory.write()
    store = StateStore.open(default_state_dir(path))
    # the scheduler was last up an hour ago: the sync is due at once (one catch-up run)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    FireLedger.in_dir(store.paths.root).record(
        "contacts", an_hour_ago, schedule_fingerprint(project.syncs["contacts"].schedule)
    )
    live_emulator.set_faults(bulk_delay_seconds=delay_s)  # the run stays in flight a while
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sfsync",
            "scheduler",
            "--project",
            str(path),
            "--poll-seconds",
            "0.2",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, store, path


def _wait_running(store: StateStore, proc: subprocess.Popen[str]) -> RunRecord:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = store.runs("contacts")
        if runs and runs[0].status is RunStatus.RUNNING and store.journal_entries(run_id=runs[0].id):
            return runs[0]  # its Bulk job is created: the run is in the middle of loading
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"no run started: {proc.communicate()[1]}")


def _contacts(live_emulator: LiveEmulator) -> int:
    import httpx

    with httpx.Client(base_url=live_emulator.url) as c:
        r = c.get(
            "/services/data/v62.0/query",
            params={"q": "SELECT COUNT() FROM Contact"},
            headers={"Authorization": f"Bearer {live_emulator.token()}"},
        )
        return int(r.json()["totalSize"])


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_sigterm_lets_the_run_in_flight_finish(tmp_path: Path, live_emulator: LiveEmulator) -> None:
    proc, store, _ = _start(tmp_path, live_emulator)
    try:
        run = _wait_running(store, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM received: no new runs" in err
    assert "scheduler stopped" in err
    finished = store.get_run(run.id)
    assert finished.status is RunStatus.SUCCEEDED and finished.trigger.value == "schedule"
    assert finished.counts.created == 50
    assert [r.id for r in store.runs("contacts")] == [run.id]  # nothing started after the signal
    assert _contacts(live_emulator) == 50
    record = FireLedger.in_dir(store.paths.root).get("contacts")
    assert record is not None and record.last_fire > datetime.now(UTC) - timedelta(minutes=16)
    store.close()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_second_signal_stops_at_once_and_the_next_run_recovers(
    tmp_path: Path, live_emulator: LiveEmulator
) -> None:
    proc, store, path = _start(tmp_path, live_emulator)
    try:
        run = _wait_running(store, proc)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "stopping now" in err
    assert store.get_run(run.id).status is RunStatus.RUNNING  # left as it was, for recovery
    assert store.lock_owner("contacts") is None  # the lock went with the process

    from sfsync.config import load_project

    live_emulator.set_faults(bulk_delay_seconds=0.0)
    session = SyncSession(load_project(path, environ={}), store)
    try:
        result = session.run("contacts")
    finally:
        session.close()
    assert result.recovered_runs == (run.id,)
    assert store.get_run(run.id).status is RunStatus.INTERRUPTED
    assert _contacts(live_emulator) == 50  # nothing written twice
    assert os.path.exists(path)
    store.close()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_run_longer_than_the_grace_period_is_left_for_recovery(
    tmp_path: Path, live_emulator: LiveEmulator
) -> None:
    proc, store, _ = _start(tmp_path, live_emulator, "--stop-grace-seconds", "0.5", delay_s=30.0)
    try:
        run = _wait_running(store, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "waiting up to 0.5 s for contacts" in err
    assert "still running: the next run of each recovers it" in err
    assert store.get_run(run.id).status is RunStatus.RUNNING
    assert store.lock_owner("contacts") is None
    store.close()
