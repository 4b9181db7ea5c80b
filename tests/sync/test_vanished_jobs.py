"""Bulk jobs Salesforce no longer knows (issue 12, item 1).

A real org deletes Bulk jobs after 7 days; a local org restarted with ``--db`` keeps its records but not
its jobs. Either way a journaled job answers 404. The sync must not be stuck: the run that meets the 404
(a live run, or the next run's recovery) looks the job's rows up in the org, stores what they became,
records the run and goes on. No insert is duplicated: a job journaled ``new`` was never closed (nothing
processed, its rows are sent again); a later one may have been processed, so its rows are found in the org
by the values sent (docs/state.md).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from sfsync.errors import SfsyncError
from sfsync.state import JournalState, StateStore
from tests.plugins.emulator import LiveEmulator
from tests.sync.test_crash import (
    ENV,
    ROOT,
    ROWS,
    _assert_insert_state,
    _assert_upsert_state,
    _crash,
    _org,
    _project,
    _run,
    _warehouse,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path: Path, live_emulator: LiveEmulator) -> Path:
    return _project(tmp_path, live_emulator.url)


@pytest.mark.parametrize("sync", ["insert", "upsert"])
def test_jobs_forgotten_once_processed_are_settled_by_the_run_itself(
    sync: str, project: Path, live_emulator: LiveEmulator
) -> None:
    """The org forgets each job as soon as it has processed it: every poll answers 404. The run finds
    the rows in the org, records them as written and succeeds; the next run sends nothing."""
    live_emulator.set_faults(bulk_forget_jobs=True)
    result = _run(project, sync)
    assert result.status == "succeeded", result
    assert result.counts.created == ROWS and result.counts.rejected == 0, result.counts
    if sync == "insert":
        _assert_insert_state(live_emulator, Counter(row[:3] for row in _warehouse(project)))
    else:
        _assert_upsert_state(live_emulator, project)
    live_emulator.set_faults(bulk_forget_jobs=False)
    again = _run(project, sync)
    assert (again.counts.new, again.counts.changed, again.counts.api_calls) == (0, 0, 0), again.counts


@pytest.mark.parametrize(
    ("point", "processed"),
    [("polling", True), ("polling", False), ("before_close", False), ("after_upload", False)],
    ids=["closed-lost-after-processing", "closed-lost-before-processing", "uploaded-lost", "new-lost"],
)
def test_a_journaled_job_the_org_lost_is_settled_by_recovery(
    point: str, processed: bool, project: Path, live_emulator: LiveEmulator
) -> None:
    """A run is killed with a job journaled ``closed`` (being processed), ``uploaded`` or ``new``; then
    the org loses every job (a restart). The next run's recovery meets 404s: it finds what the jobs
    wrote, records the dead run's outcome and sends the rest once."""
    live_emulator.set_faults(bulk_delay_seconds=1.0)
    _crash(project, "insert", point)
    jobs = live_emulator.runtime.ingest
    if processed:
        deadline = time.monotonic() + 30
        while any(j.state in ("UploadComplete", "InProgress") for j in jobs.all()):
            assert time.monotonic() < deadline, "the emulator did not finish the jobs"
            time.sleep(0.05)
    jobs.clear()  # the org forgets its jobs (records written so far stay)
    live_emulator.set_faults(bulk_delay_seconds=0)
    written = len(_org(live_emulator))
    assert (written > 0) is processed

    result = _run(project, "insert")
    assert result.status == "succeeded" and result.recovered_runs, result
    with StateStore.open(project.parent / ".sfsync") as store:
        assert store.journal_pending("insert") == []
        killed = store.get_run(result.recovered_runs[0])
        states = {e.state for e in store.journal_entries(run_id=killed.id)}
    assert states <= {JournalState.COLLECTED, JournalState.ABORTED}, states
    assert killed.counts.created == written and result.counts.created == ROWS - written
    _assert_insert_state(live_emulator, Counter(row[:3] for row in _warehouse(project)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_emulator(db: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfsync", "emulator", "--db", str(db), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/services/data/", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the emulator did not start")


def test_an_emulator_restarted_with_its_db_mid_run_leaves_the_sync_working(tmp_path: Path) -> None:
    """The scenario of the issue, for real: ``sfsync emulator --db`` restarted while a killed run's Bulk
    jobs were being processed. The next run recovers (no 404 loop), is recorded, and the org holds each
    row once."""
    port = _free_port()
    db = tmp_path / "org.db"
    url = f"http://127.0.0.1:{port}"
    project = _project(tmp_path, url)
    emulator = _start_emulator(db, port)
    try:
        httpx.patch(f"{url}/__admin/faults", json={"bulk_delay_seconds": 1.0}).raise_for_status()
        _crash(project, "insert", "polling")
        time.sleep(1.5)  # let the jobs finish, then restart: records stay (--db), jobs are gone
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    emulator = _start_emulator(db, port)
    try:
        result = _run(project, "insert")
        again = _run(project, "insert")
        assert result.status == "succeeded" and result.recovered_runs, result
        assert (again.counts.new, again.counts.changed, again.counts.api_calls) == (0, 0, 0)
        token = httpx.post(
            f"{url}/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": "sfsync-demo-client",
                "client_secret": ENV["SF_CLIENT_SECRET"],
                "username": "admin@example.com",
                "password": ENV["SF_PASSWORD"],
            },
        ).json()["access_token"]
        titles: Counter[str] = Counter()
        next_url: str | None = "/services/data/v62.0/query?q=SELECT+Title+FROM+Contact"
        while next_url:
            page = httpx.get(url + next_url, headers={"Authorization": f"Bearer {token}"}).json()
            titles.update(r["Title"] for r in page["records"])
            next_url = None if page["done"] else page["nextRecordsUrl"]
        assert titles == Counter(row[0] for row in _warehouse(project)), "a row is missing or duplicated"
        with StateStore.open(project.parent / ".sfsync") as store:
            runs = store.runs("insert")
        assert [r.status for r in runs] == ["succeeded", "succeeded", "interrupted"]
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


def test_a_recovery_that_fails_is_recorded_as_a_run(project: Path, live_emulator: LiveEmulator) -> None:
    """When settling a dead run's jobs fails (here the daily quota is spent), the attempt is still a run
    in the history, failed with the reason; once the org answers again the next run settles and goes on."""
    live_emulator.set_faults(bulk_delay_seconds=1.0)
    _crash(project, "insert", "polling")
    live_emulator.set_faults(bulk_delay_seconds=0, daily_api_quota=live_emulator.usage())
    with pytest.raises(SfsyncError) as failed:
        _run(project, "insert")
    with StateStore.open(project.parent / ".sfsync") as store:
        last = store.last_run("insert")
    assert last is not None and last.id == failed.value.run_id and last.status == "failed"
    assert "settling what an earlier run left failed" in (last.error or "")
    live_emulator.set_faults(daily_api_quota=15000)
    result = _run(project, "insert")
    assert result.status == "succeeded", result
    _assert_insert_state(live_emulator, Counter(row[:3] for row in _warehouse(project)))
