"""Several ``sfsync scheduler`` workers sharing only a PostgreSQL state store and a files directory.

Three scheduler processes, each in its own working directory, run twenty syncs on a fast clock
(``multi_worker_child.py``: ``every: 1m`` slots come every few real seconds); one worker is killed
with SIGKILL while its runs are loading. Checked: each slot of each sync is run by one worker only,
no two runs of a sync overlap, a skipped slot is only ever caught up by the next run (the catch-up
rule), the dead worker's runs are reaped and recovered, and the org ends up with every model row
exactly once: what a single worker leaves (the syncs insert, so a row sent twice would show).
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pytest

from sfsync.state import RunStatus, StateSettings, StateStore
from tests.plugins.emulator import LiveEmulator
from tests.plugins.workers import SharedState, start_python, worker_project, write_worker

SYNCS = 20
ROWS = 30
SCALE = 10.0  # scheduler seconds per real second: every 1m = 6 s
INTERVAL = timedelta(minutes=1)
PARALLEL = 8  # per worker: three workers hold more runs than there are syncs
LEASE_SECONDS = 3.0
CHILD = Path(__file__).with_name("multi_worker_child.py")

GIVEN_BACK = re.compile(r"sync (s\d\d): slot (\S+) (?:is due again|not run here)")
RUN_LINE = re.compile(r"sync (s\d\d): run: slot (\S+?)(?: \(catching up once; missed slots since (\S+)\))?$")


def _project(login_url: str, warehouse: Path, state: SharedState) -> str:
    models = "".join(
        f"  m{n:02d}: {{source: wh, kind: user, primary_key: id, table: p{n:02d}}}\n" for n in range(SYNCS)
    )
    syncs = "".join(
        f"  s{n:02d}: {{from: m{n:02d}, to: org, object: Contact, mode: insert,"
        f" api: {'bulk' if n % 2 else 'rest'},"
        " mappings: {first: FirstName, last: LastName, email: Email}, schedule: {every: 1m}}\n"
        for n in range(SYNCS)
    )
    settings = "{max_retries: 0, bulk_poll_seconds: 0.2}"
    return worker_project(login_url, syncs, state, warehouse=warehouse, models=models, settings=settings)


def _contacts(live_emulator: LiveEmulator) -> list[str]:
    with httpx.Client(base_url=live_emulator.url, timeout=30) as c:
        r = c.get(
            "/services/data/v62.0/query",
            params={"q": "SELECT LastName, Email FROM Contact"},
            headers={"Authorization": f"Bearer {live_emulator.token()}"},
        )
        r.raise_for_status()
        body = r.json()
        names = [f"{rec['LastName']}|{rec['Email']}" for rec in body["records"]]
        while not body.get("done", True):
            body = c.get(
                body["nextRecordsUrl"], headers={"Authorization": f"Bearer {live_emulator.token()}"}
            ).json()
            names += [f"{rec['LastName']}|{rec['Email']}" for rec in body["records"]]
        return names


def _real(t0: float, slot: datetime) -> float:
    """The real (epoch) time at which the fast clock shows ``slot``."""
    return t0 + (slot.timestamp() - t0) / SCALE


def _warehouse(path: Path) -> list[str]:
    """Twenty tables of people; returns every row as the org should hold it (``LastName|Email``)."""
    con = duckdb.connect(str(path))
    try:
        for n in range(SYNCS):
            con.execute(
                f"create table p{n:02d} as select 'p{n:02d}-' || i as id, 'F' || i as first,"
                f" 'L{n:02d}-' || i as last, 'p{n:02d}.' || i || '@example.com' as email"
                f" from range({ROWS}) t(i)"
            )
        return sorted(
            f"{last}|{email}"
            for n in range(SYNCS)
            for last, email in con.execute(f"select last, email from p{n:02d}").fetchall()
        )
    finally:
        con.close()


def _start_workers(
    tmp_path: Path, project: str, state: SharedState, t0: float
) -> tuple[list[subprocess.Popen[str]], list[Path]]:
    workers: list[subprocess.Popen[str]] = []
    logs: list[Path] = []
    for n in range(3):
        # its own working directory: nothing shared but the state
        path = write_worker(tmp_path / f"worker{n}", project, state.env())
        log = path.parent / "scheduler.log"
        logs.append(log)
        with log.open("w") as err:
            argv = [str(CHILD), str(path), str(t0), str(SCALE), str(PARALLEL)]
            workers.append(start_python(argv, cwd=path.parent, stdout=subprocess.DEVNULL, stderr=err))
    return workers, logs


def _kill_mid_run(store: StateStore, workers: list[subprocess.Popen[str]], logs: list[Path]) -> list[int]:
    """SIGKILL worker 0 while one of its runs is loading (a Bulk job or REST batch journaled)."""
    victim = workers[0]
    deadline = time.monotonic() + 40
    while True:
        assert time.monotonic() < deadline, logs[0].read_text()[-3000:]
        for w, log in zip(workers, logs, strict=True):
            assert w.poll() is None, f"a worker died: {log.read_text()[-3000:]}"
        running = [r for r in store.runs(limit=100, status=RunStatus.RUNNING) if r.pid == victim.pid]
        if any(store.journal_entries(run_id=r.id) for r in running):
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            return [r.id for r in running]
        time.sleep(0.05)


def _wait_recovered(store: StateStore, t0: float, killed_runs: list[int], log: Path) -> None:
    """Every run of the dead worker is reaped and recovered, and every sync runs again once the dead
    worker's lease has expired (at the slot after that, or later)."""
    expired = t0 + (time.time() + LEASE_SECONDS - t0) * SCALE
    target = datetime.fromtimestamp(expired, UTC).replace(second=0, microsecond=0) + INTERVAL
    deadline = time.monotonic() + 120  # generous: on a loaded machine the workers fall behind the fast clock
    while True:
        dead = [store.get_run(i) for i in killed_runs]
        behind = [
            f"s{n:02d}"
            for n in range(SYNCS)
            if not any(
                r.status is RunStatus.SUCCEEDED and r.started_at.timestamp() >= _real(t0, target)
                for r in store.runs(f"s{n:02d}", limit=50)
            )
        ]
        if all(d.status is RunStatus.INTERRUPTED for d in dead) and not behind:
            return
        assert time.monotonic() < deadline, (
            f"the dead worker's runs {[(d.id, d.status.value) for d in dead]} were not recovered, or "
            f"{behind} did not run after {target}: " + log.read_text()[-3000:]
        )
        time.sleep(0.2)


Claim = tuple[int, str, datetime, datetime | None]
"""(worker, sync, slot, first slot caught up or None): a slot a worker claimed and ran."""


def _claims(logs: list[Path]) -> list[Claim]:
    """The slots each worker ran, from its log (a claim whose run found the sync busy, given back or left
    to the later slot another worker claimed meanwhile, does not count)."""
    claims: list[Claim] = []
    for w, log in enumerate(logs):
        for line in log.read_text().splitlines():
            m = RUN_LINE.search(line)
            if m:
                since = datetime.fromisoformat(m.group(3)) if m.group(3) else None
                claims.append((w, m.group(1), datetime.fromisoformat(m.group(2)), since))
            back = GIVEN_BACK.search(line)
            if back:
                given = (w, back.group(1), datetime.fromisoformat(back.group(2)))
                claims = [c for c in claims if (c[0], c[1], c[2]) != given]
    return claims


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_three_schedulers_share_the_work_and_recover_a_killed_one(
    tmp_path: Path, live_emulator: LiveEmulator, postgres_url: str, pg_schema: str
) -> None:
    shared = tmp_path / "shared"  # stands for the bucket: the workers' only shared files
    shared.mkdir()
    expected = _warehouse(shared / "wh.duckdb")
    live_emulator.set_faults(bulk_delay_seconds=1.5)  # Bulk runs stay in flight a while
    t0 = time.time()
    state = SharedState(
        postgres_url,
        pg_schema,
        shared / "files",
        lease_seconds=LEASE_SECONDS,
        lease_heartbeat_seconds=0.5,
    )
    project = _project(live_emulator.url, shared / "wh.duckdb", state)
    workers, logs = _start_workers(tmp_path, project, state, t0)
    store = StateStore.open(tmp_path / "observer", StateSettings(), url=postgres_url, schema=pg_schema)
    try:
        killed_runs = _kill_mid_run(store, workers, logs)
        _wait_recovered(store, t0, killed_runs, logs[1])
        for proc in workers[1:]:
            proc.send_signal(signal.SIGTERM)
        for proc, log in zip(workers[1:], logs[1:], strict=True):
            assert proc.wait(timeout=40) == 0, log.read_text()[-3000:]
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # every model row once in the org: what a single worker leaves
    assert sorted(_contacts(live_emulator)) == expected

    runs = store.runs(limit=10_000)
    store.close()
    assert {r.status for r in runs if r.id in killed_runs} == {RunStatus.INTERRUPTED}
    assert all(r.status is RunStatus.SUCCEEDED for r in runs if r.id not in killed_runs)

    # no two runs of a sync overlap (a reaped run ends when it is reaped, before its successor starts)
    for n in range(SYNCS):
        mine = sorted((r for r in runs if r.sync == f"s{n:02d}"), key=lambda r: r.started_at)
        assert len(mine) >= 2
        for before, after in itertools.pairwise(mine):
            assert before.finished_at is not None and before.finished_at <= after.started_at, (before, after)

    # each slot of each sync is claimed and run by one worker only, and the work was shared
    claims = _claims(logs)
    counted = Counter((sync, slot) for _, sync, slot, _ in claims)
    assert [k for k, c in counted.items() if c > 1] == []
    assert {w for w, *_ in claims} >= {1, 2}
    # each claim of a surviving worker became a run of that worker
    for w in (1, 2):
        for name in {s for ww, s, _, _ in claims if ww == w}:
            n_claims = sum(1 for ww, s, _, _ in claims if ww == w and s == name)
            n_runs = sum(1 for r in runs if r.sync == name and r.pid == workers[w].pid)
            assert n_runs == n_claims, "\n".join(ln for ln in logs[w].read_text().splitlines() if name in ln)

    # no slot missed beyond the catch-up rule: when slots passed without their own run (the sync was
    # running, its dead worker's lease had not expired, or every worker was busy), the next run is the
    # one catch-up run for all of them, starting at the first one missed
    for n in range(SYNCS):
        slots = sorted((slot, since) for _, s, slot, since in claims if s == f"s{n:02d}")
        for (a, _), (b, since) in itertools.pairwise(slots):
            assert b - a == INTERVAL or since == a + INTERVAL, (n, a, b, since)
