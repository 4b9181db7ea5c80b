"""The fault matrix (issue 12): every emulator fault, through REST and Bulk, in insert, update and upsert
mode, kill points included.

Each case: a clean run of version A of the warehouse, then version B (some rows changed, some new) is
run *under the fault*, then the fault is lifted and the sync runs once more, cleanly. The oracle:

- **the org equals the org after a clean run** of A then B: computed from the warehouse by the mode's
  rules (insert: one record per row of A plus one per changed or new row of B; upsert: B by external id;
  update: A's records with B's changes, B's new rows nowhere), and checked once against a real clean run
  (``test_the_oracle_is_what_clean_runs_leave``);
- **no duplicate**: insert holds each version of a row once; upsert and update one record per key;
- **history truthful**: the runs of phase B (the faulty one, any it recovered, the rerun) report as
  created exactly the records phase B created in the org, and as updated (update, upsert) each changed
  row once;
- **settled**: the journal has nothing pending and one more run sends nothing (update mode resends only
  its NOT_FOUND rows).

The faults: 503 bursts, record locks, sessions expiring mid-run, the daily quota running out, a failed
Bulk job, Bulk jobs the org forgets, a state directory refusing writes, and SIGKILL of the sync's process
at named points (``tests/sync/crash_child.py``). Bulk-only faults have no REST case.

Size (measured on the 2-core machine, ``pytest tests/sync/test_fault_matrix.py``): see docs/state.md,
"Fault matrix".
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from sfsync.config import load_project
from sfsync.emulator.metadata.schema import DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD
from sfsync.errors import SfsyncError
from sfsync.state import StateStore
from sfsync.sync.engine import RunOptions, RunResult, SyncSession
from sfsync.sync.progress import ProgressEvent, Sent
from tests.plugins.emulator import InProcessEmulator, LiveEmulator
from tests.sync.test_unwritable_state import _deny

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ENV = {"SF_CLIENT_SECRET": DEFAULT_CLIENT_SECRET, "SF_PASSWORD": DEFAULT_PASSWORD}
#: Version A has ROWS rows; B changes every CHANGE_EVERY-th row and adds NEW rows.
ROWS = 240
CHANGE_EVERY = 5
NEW = 30
CHANGED = len(range(0, ROWS, CHANGE_EVERY))
MODES = ("insert", "update", "upsert")
APIS = ("rest", "bulk")


# ---- the project ---------------------------------------------------------------------------------------


def _project(root: Path, url: str) -> Path:
    maps = {"row_key": "Title", "last_name": "LastName", "note": "Description"}
    ext = {"object_id": {"column": "ext", "field": "External_Id__c"}}
    base = {"from": "people", "to": "org", "object": "Contact", "mappings": maps}
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
                "settings": {"bulk_poll_seconds": 0.05, "rest_batch_size": 50, "max_concurrency": 2},
            }
        },
        "syncs": {
            "insert": {**base, "mode": "insert"},
            "upsert": {**base, "mode": "upsert", **ext},
            "update": {**base, "mode": "update", **ext},
        },
    }
    path = root / "sfsync.yml"
    path.write_text(yaml.safe_dump(project, sort_keys=False))
    _warehouse_a(root)
    return path


def _warehouse_a(root: Path) -> None:
    with duckdb.connect(str(root / "wh.duckdb")) as con:
        con.execute(
            "CREATE OR REPLACE TABLE people AS SELECT i AS id, 'ext-' || i AS ext,"
            " 'row-' || lpad(i::VARCHAR, 5, '0') AS row_key, 'Name ' || i AS last_name,"
            " 'note ' || i || ' é,\"x' AS note FROM range(?) t(i)",
            [ROWS],
        )


def _warehouse_b(root: Path) -> None:
    with duckdb.connect(str(root / "wh.duckdb")) as con:
        con.execute(f"UPDATE people SET last_name = last_name || ' (B)' WHERE id % {CHANGE_EVERY} = 0")
        con.execute(
            "INSERT INTO people SELECT i, 'ext-' || i, 'row-' || lpad(i::VARCHAR, 5, '0'), 'New ' || i,"
            " NULL FROM range(?, ?) t(i)",
            [ROWS, ROWS + NEW],
        )


def _rows(root: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "wh.duckdb"), read_only=True) as con:
        return con.execute("SELECT ext, row_key, last_name, note FROM people ORDER BY id").fetchall()


# ---- the org and the oracle ----------------------------------------------------------------------------

Record = tuple[Any, ...]  # External_Id__c, Title, LastName, Description


def _org(org: Any) -> Counter[Record]:
    rows = org.query("SELECT External_Id__c, Title, LastName, Description FROM Contact").records
    return Counter((r["External_Id__c"], r["Title"], r["LastName"], r["Description"]) for r in rows)


def _expected(mode: str, a: list[Record], b: list[Record]) -> Counter[Record]:
    """The org after clean runs of A then B, by the mode's rules (insert sets no External_Id__c)."""
    if mode == "insert":
        first = Counter((None, *r[1:]) for r in a)
        changed_or_new = [r for r in b if r not in set(a)]
        return first + Counter((None, *r[1:]) for r in changed_or_new)
    if mode == "upsert":
        return Counter(b)
    keys = {r[0] for r in a}
    return Counter(r for r in b if r[0] in keys)


# ---- running syncs -------------------------------------------------------------------------------------


@dataclass
class Org:
    """The emulator a case runs against, and how a run reaches it."""

    url: str
    emulator: InProcessEmulator | LiveEmulator
    in_process: bool

    def session(self, root: Path) -> SyncSession:
        project = load_project(root / "sfsync.yml", environ=ENV)
        store = StateStore.open(root / ".sfsync")
        if self.in_process:
            assert isinstance(self.emulator, InProcessEmulator)
            return SyncSession(project, store, transport=self.emulator.transport)
        return SyncSession(project, store)


def _run(
    org: Org, root: Path, sync: str, api: str, progress: Callable[[ProgressEvent], None] | None = None
) -> RunResult:
    session = org.session(root)
    try:
        return session.run(sync, RunOptions(api=api, progress=progress))  # type: ignore[arg-type]
    finally:
        session.close()
        session.store.close()


def _faulty_run(
    org: Org, root: Path, sync: str, api: str, progress: Callable[[ProgressEvent], None] | None
) -> None:
    with contextlib.suppress(SfsyncError):  # a fault may end the run; the oracle judges what it left
        _run(org, root, sync, api, progress)


def _kill(root: Path, sync: str, api: str, point: str) -> None:
    env = {**os.environ, **ENV, "SFSYNC_CRASH_AT": point, "SFSYNC_CRASH_MARK": str(root / "mark.txt")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.sync.crash_child",
            str(root / "sfsync.yml"),
            str(root / ".sfsync"),
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


# ---- the faults ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One fault: how phase B's run is disturbed, and how it is lifted before the clean rerun."""

    name: str
    apis: tuple[str, ...] = APIS
    #: emulator fault settings during the faulty run (restored to the defaults afterwards)
    settings: tuple[tuple[str, Any], ...] = ()
    #: a SIGKILL point of tests/sync/crash_child.py per API (the faulty run runs in a child process)
    kill: tuple[tuple[str, str], ...] = ()
    #: something done at the first stored results of the faulty run; returns its undo
    at_first_results: str | None = None


FAULTS = [
    Fault("503-bursts", settings=(("unavailable_rate", 0.15), ("seed", 7))),
    Fault("record-locks", settings=(("lock_row_rate", 0.1), ("seed", 11))),
    Fault("sessions-expire", at_first_results="expire_sessions"),
    Fault("quota-runs-out", at_first_results="spend_quota"),
    Fault("bulk-job-fails", apis=("bulk",), settings=(("bulk_fail", True),)),
    Fault("bulk-jobs-forgotten", apis=("bulk",), settings=(("bulk_forget_jobs", True),)),
    Fault("state-refuses-writes", at_first_results="deny_writes"),
    Fault("kill-mid-call", kill=(("rest", "rest_in_flight"), ("bulk", "after_upload"))),
    Fault("kill-after-results", kill=(("rest", "rest_chunk"), ("bulk", "polling"))),
]
DEFAULT_FAULTS = {
    "unavailable_rate": 0.0,
    "lock_row_rate": 0.0,
    "bulk_fail": False,
    "bulk_forget_jobs": False,
    "seed": None,
    "daily_api_quota": 15000,
    "bulk_delay_seconds": 0.0,
}


def _cases() -> Iterator[Any]:
    for fault in FAULTS:
        for api in fault.apis:
            for mode in MODES:
                yield pytest.param(fault, api, mode, id=f"{fault.name}-{api}-{mode}")


@pytest.fixture
def org(request: pytest.FixtureRequest) -> Org:
    fault: Fault = request.node.callspec.params["fault"]
    if fault.kill:  # the sync runs in a child process: a real socket
        live: LiveEmulator = request.getfixturevalue("live_emulator")
        return Org(live.url, live, in_process=False)
    emulator: InProcessEmulator = request.getfixturevalue("emulator")
    return Org(emulator.base_url, emulator, in_process=True)


def _at_first_results(
    what: str | None, org: Org, root: Path, undo: list[Callable[[], None]]
) -> Callable[[ProgressEvent], None] | None:
    if what is None:
        return None
    done: list[bool] = []

    def start() -> None:
        if what == "expire_sessions":
            org.emulator.runtime.sessions.expire_all()
        elif what == "spend_quota":
            org.emulator.set_faults(daily_api_quota=org.emulator.usage() + 1)
        elif what == "deny_writes":
            undo.append(_deny(root / ".sfsync"))

    def progress(event: ProgressEvent) -> None:
        if isinstance(event, Sent) and (not done or what == "expire_sessions"):
            done.append(True)
            start()

    return progress


@pytest.mark.parametrize(("fault", "api", "mode"), list(_cases()))
def test_fault_then_clean_rerun_leaves_the_org_of_clean_runs(
    fault: Fault, api: str, mode: str, org: Org, tmp_path: Path
) -> None:
    root = tmp_path
    _project(root, org.url)
    if mode == "update":  # update needs the records: an upsert of A creates them
        assert _run(org, root, "upsert", api).counts.created == ROWS
    first = _run(org, root, mode, api)
    assert first.status == "succeeded", first
    a = _rows(root)
    before = _org(org.emulator.org)
    runs_before = {r.id for r in StateStore.open(root / ".sfsync").runs(mode)}

    _warehouse_b(root)
    b = _rows(root)
    undo: list[Callable[[], None]] = []
    org.emulator.set_faults(**dict(fault.settings))
    try:
        kill = dict(fault.kill).get(api)
        if kill is not None:
            _kill(root, mode, api, kill)
        else:
            _faulty_run(org, root, mode, api, _at_first_results(fault.at_first_results, org, root, undo))
    finally:
        for u in undo:
            u()
        org.emulator.set_faults(**DEFAULT_FAULTS)
    _wait_for_jobs(org)

    rerun = _run(org, root, mode, api)
    # update rejects the rows without a record (NOT_FOUND): partial
    assert rerun.status in ("succeeded", "partial", "failed") and not rerun.failed_jobs, rerun
    after = _org(org.emulator.org)

    # the org equals the org after clean runs; no duplicate
    assert after == _expected(mode, a, b), _diff(after, _expected(mode, a, b))
    if mode != "insert":
        assert max(Counter(r[0] for r in after.elements()).values()) == 1

    # history truthful: phase B's runs report what phase B did to the org
    with StateStore.open(root / ".sfsync") as store:
        phase_b = [r for r in store.runs(mode) if r.id not in runs_before]
        assert store.journal_pending(mode) == []
    created = sum(r.counts.created for r in phase_b)
    updated = sum(r.counts.updated for r in phase_b)
    phase = [(r.status, r.counts) for r in phase_b]
    if mode == "insert":
        assert created == CHANGED + NEW == sum((after - before).values()), phase
    elif mode == "upsert":
        assert (created, updated) == (NEW, CHANGED), phase
    else:
        assert (created, updated) == (0, CHANGED), phase

    # settled: one more run sends nothing (update resends its NOT_FOUND rows only)
    last = _run(org, root, mode, api)
    assert last.counts.created + last.counts.updated == 0, last.counts
    assert last.counts.rejected == (NEW if mode == "update" else 0), last.counts


def _wait_for_jobs(org: Org) -> None:
    """Let Bulk jobs a killed run closed finish in the org (what the rerun's recovery then collects)."""
    deadline = time.monotonic() + 60
    while any(j.state in ("UploadComplete", "InProgress") for j in org.emulator.runtime.ingest.all()):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _diff(got: Counter[Record], want: Counter[Record]) -> str:
    extra, missing = got - want, want - got
    return (
        f"{sum(extra.values())} unexpected (e.g. {list(extra)[:3]}),"
        f" {sum(missing.values())} missing (e.g. {list(missing)[:3]})"
    )


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("mode", MODES)
def test_the_oracle_is_what_clean_runs_leave(
    mode: str, api: str, emulator: InProcessEmulator, tmp_path: Path
) -> None:
    org = Org(emulator.base_url, emulator, in_process=True)
    _project(tmp_path, org.url)
    if mode == "update":
        _run(org, tmp_path, "upsert", api)
    _run(org, tmp_path, mode, api)
    a = _rows(tmp_path)
    _warehouse_b(tmp_path)
    _run(org, tmp_path, mode, api)
    assert _org(emulator.org) == _expected(mode, a, _rows(tmp_path))
