"""A run that loses its run lease stops sending (PostgreSQL state, ``sfsync.state.lease``).

Worker A (a separate process, ``lease_loss_child.py``) runs an insert sync through sObject Collections,
ten rows per call, one call at a time; right after Salesforce answered its second call the whole process
is frozen (SIGSTOP), so its heartbeat stops too. (Through Bulk API 2.0: A freezes right after Salesforce
accepted the close of its job, while its journal still says ``uploaded``.) Its lease expires; worker B
(this process, its own project directory, the same PostgreSQL state and files directory) takes the sync
over, settles what A left from the journal and sends the rest. Then A is woken. Checked: the org holds
every row exactly once (insert: a row sent twice would be a second Contact), A sent no request at all
after it woke, and A's run says in its history that it lost its lease; B's run succeeded.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from sfsync.api import Project
from sfsync.errors import SyncBusyError
from sfsync.state import RunStatus
from tests.plugins.emulator import LiveEmulator
from tests.plugins.workers import SharedState, start_python, wait_for, worker_project, write_worker
from tests.schedule.helpers import make_people

ROWS = 60
CHUNK = 10  # rows per sObject Collections call
STALL_AT = 2  # A freezes once Salesforce answered this many of its calls
CHILD = Path(__file__).with_name("lease_loss_child.py")
SETTINGS = f"{{max_retries: 0, max_concurrency: 1, rest_batch_size: {CHUNK}, bulk_poll_seconds: 0.2}}"


def _sync(api: str) -> str:
    return (
        f"  contacts: {{from: people, to: org, object: Contact, mode: insert, api: {api},\n"
        "              mappings: {first: FirstName, last: LastName, email: Email}}\n"
    )


def _worker(home: Path, text: str, state: SharedState) -> Path:
    """A worker's project file; the worker reads its own warehouse of ROWS people."""
    project = write_worker(home, text, state.env())
    make_people(home / "wh.duckdb", ROWS)
    return project


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_a_run_that_lost_its_lease_sends_nothing_more(
    live_emulator: LiveEmulator, postgres_url: str, pg_schema: str, tmp_path: Path, api: str
) -> None:
    stall_at = STALL_AT if api == "rest" else 1  # Collections calls, or Bulk job closes
    sent_by_a = stall_at * CHUNK if api == "rest" else ROWS  # the rows A's calls carried
    state = SharedState(
        postgres_url, pg_schema, tmp_path / "files", lease_seconds=2, lease_heartbeat_seconds=0.3
    )
    text = worker_project(live_emulator.url, _sync(api), state, settings=SETTINGS)
    project_a = _worker(tmp_path / "a", text, state)
    project_b = _worker(tmp_path / "b", text, state)
    log = tmp_path / "a-requests.log"
    log.touch()
    a = start_python([str(CHILD), str(project_a), str(log), str(stall_at), "contacts", api])
    try:
        wait_for(lambda: "STALLED" in log.read_text() or a.poll() is not None, "worker A to freeze")
        assert a.poll() is None, a.communicate()
        if api == "rest":  # A's two calls created their rows (a Bulk job is processed meanwhile)
            assert live_emulator.org.query("SELECT COUNT() FROM Contact").total_size == sent_by_a

        # B: a run of the same sync is refused while A's lease lives, then takes the sync over
        with Project.load(project_b) as b:
            deadline = time.monotonic() + 30
            while True:
                try:
                    result = b.run("contacts")
                    break
                except SyncBusyError:
                    assert time.monotonic() < deadline, "A's lease never expired"
                    time.sleep(0.1)
            assert result.status is RunStatus.SUCCEEDED
            assert result.counts.created == ROWS - sent_by_a
            (a_run,) = result.recovered_runs
        sent_before_waking = log.read_text().splitlines()
    finally:
        a.send_signal(signal.SIGCONT)
    out, err = a.communicate(timeout=60)
    outcome = json.loads(out.strip().splitlines()[-1])
    assert outcome["error"] == "LeaseLostError", (out, err)
    assert "lost its run lease" in outcome["message"]

    # A sent nothing after it woke: not one request past the one it was frozen in
    assert log.read_text().splitlines() == sent_before_waking
    assert sent_before_waking[-1] == "STALLED", sent_before_waking
    if api == "rest":
        assert sum("/composite/sobjects" in line for line in sent_before_waking) == STALL_AT

    # every row exactly once in the org
    emails = Counter(r["Email"] for r in live_emulator.org.query("SELECT Email FROM Contact").records)
    assert sorted(emails) == sorted(f"p{i}@example.com" for i in range(ROWS))
    assert set(emails.values()) == {1}

    # A's run says why it stopped; its counts are what B settled from its journal
    with Project.load(project_b) as b:
        runs = {r.id: r for r in b.store.runs("contacts")}
        assert runs[a_run].status is RunStatus.INTERRUPTED
        assert "lost its run lease" in (runs[a_run].error or "")
        assert runs[a_run].counts.created == sent_by_a
        assert [r.status for r in runs.values() if r.id != a_run] == [RunStatus.SUCCEEDED]
        # and a run now finds nothing left to send
        again = b.run("contacts")
        assert again.counts.created == 0 and again.counts.api_calls == 0
