"""Run one sync and SIGKILL this very process at a chosen point (for ``tests/sync/test_crash.py``).

Usage: ``python -m tests.sync.crash_child PROJECT_FILE STATE_DIR SYNC [API]`` (API: bulk, the default, or
rest), with ``SFSYNC_CRASH_AT`` naming the
point and ``SFSYNC_CRASH_MARK`` a file where the child writes what it saw just before dying (so the test
knows the kill happened where it meant). The hooks wrap library functions in this process only; the
sfsync code under test is unchanged.

Points:
    before_upload      a Bulk job was created and journaled, its CSV not uploaded yet (job Open, empty)
    after_upload       the upload call returned, the journal not yet told (Open, with data; journal: new)
    before_close       the upload is journaled, the job not closed (Open, with data; journal: uploaded)
    polling            the job is closed and Salesforce is processing it (first poll answered)
    after_collect      the first job's results are stored; other jobs, and the snapshot, are not
    before_snapshot    every result is stored, the snapshot has not advanced
    warehouse_before_commit  (warehouse planner) the advance ran in the warehouse, not committed
    warehouse_after_commit   (warehouse planner) the warehouse committed, the local store not told
    rest_chunk         (REST) the first collections call's results are stored, other calls are in flight
    rest_before_journal  (REST) the first batch's rows are on disk, not journaled yet, nothing sent
    rest_before_send   (REST) the first batch is journaled, its first collections call not sent yet
    rest_in_flight     (REST) Salesforce applied the first collections call; its answer is lost
    rest_in_flight_later  (REST) the same for the 12th call (the second batch: the first one is done)
    rest_before_done   (REST) every result of the first batch is stored, the batch not yet marked done
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sfsync.config import Api, load_project
from sfsync.salesforce.bulk import BulkIngest, BulkJob
from sfsync.salesforce.collections import Collections
from sfsync.state import StateStore
from sfsync.sync import planners
from sfsync.sync.engine import RunOptions, SyncSession
from sfsync.sync.inflight import REST_BATCH_PREFIX, RestJournal
from sfsync.sync.warehouse import advance as wh_advance

_DYING = threading.Lock()
_APIS: tuple[Api, ...] = ("rest", "bulk")


def _die(mark: str) -> None:
    """Write the mark and SIGKILL the process; Bulk jobs run in threads, so only the first caller writes."""
    _DYING.acquire()  # never released: a second thread waits here until the signal lands
    path = os.environ.get("SFSYNC_CRASH_MARK")
    if path:
        Path(path).write_text(mark)
    os.kill(os.getpid(), signal.SIGKILL)


def _before_upload() -> None:
    def upload_then(self: BulkIngest, job_id: str, data: Any) -> None:
        _die(f"before_upload {job_id} {self.get(job_id).state}")

    BulkIngest.upload = upload_then  # type: ignore[method-assign]


def _after_upload() -> None:
    upload = BulkIngest.upload

    def upload_and_die(self: BulkIngest, job_id: str, data: Any) -> None:
        upload(self, job_id, data)
        _die(f"after_upload {job_id} {self.get(job_id).state}")

    BulkIngest.upload = upload_and_die  # type: ignore[method-assign]


def _before_close() -> None:
    def close_then(self: BulkIngest, job_id: str) -> BulkJob:
        _die(f"before_close {job_id} {self.get(job_id).state}")
        raise AssertionError("unreachable")

    BulkIngest.close = close_then  # type: ignore[method-assign]


def _polling() -> None:
    def wait(self: BulkIngest, job_id: str, **kwargs: Any) -> BulkJob:
        _die(f"polling {job_id} {self.get(job_id).state}")
        raise AssertionError("unreachable")

    BulkIngest.wait = wait  # type: ignore[method-assign,assignment]


def _rest_chunk() -> None:
    record_results = StateStore.record_results

    def record_chunk(self: StateStore, run_id: int, data: Any, **kw: Any) -> int:
        n = record_results(self, run_id, data, **kw)
        _die(f"rest_chunk {n}")
        return n

    StateStore.record_results = record_chunk  # type: ignore[method-assign]


def _after_collect() -> None:
    record_results = StateStore.record_results

    def record(self: StateStore, run_id: int, data: Any, **kw: Any) -> int:
        n = record_results(self, run_id, data, **kw)
        if kw.get("collected_job_id"):
            _die(f"after_collect {kw['collected_job_id']} {n}")
        return n

    StateStore.record_results = record  # type: ignore[method-assign]


def _before_snapshot() -> None:
    def advance(*args: Any, **kwargs: Any) -> Any:
        _die("before_snapshot")

    planners.advance = advance  # the name the engine calls, replaced


def _warehouse_before_commit() -> None:
    """The warehouse planner applied the advance's statements; its transaction is not committed."""
    apply = wh_advance._apply

    def apply_then_die(*args: Any, **kwargs: Any) -> None:
        apply(*args, **kwargs)
        _die("warehouse_before_commit")

    wh_advance._apply = apply_then_die


def _warehouse_after_commit() -> None:
    """The warehouse snapshot advanced and committed; the local store does not know yet."""

    def die(*args: Any, **kwargs: Any) -> Any:
        _die("warehouse_after_commit")

    wh_advance.publish_marker = die  # type: ignore[attr-defined]  # imported there, not exported


def _rest_before_journal() -> None:
    journal_add = StateStore.journal_add

    def add(self: StateStore, run_id: int, job_id: str, *args: Any, **kw: Any) -> Any:
        if job_id.startswith(REST_BATCH_PREFIX):
            _die(f"rest_before_journal {job_id}")
        return journal_add(self, run_id, job_id, *args, **kw)

    StateStore.journal_add = add  # type: ignore[method-assign]


def _rest_call(nth: int, *, applied: bool) -> Callable[[], None]:
    """Die at the ``nth`` collections call, before it is sent or after Salesforce applied it."""
    calls = {"n": 0}
    lock = threading.Lock()
    never = threading.Event()

    def install() -> None:
        send = Collections._send

        def send_and_die(self: Collections, *args: Any, **kw: Any) -> Any:
            with lock:
                calls["n"] += 1
                mine = calls["n"]
            if not applied and mine > nth:
                # the kill comes before any later call leaves: without this, other chunk threads send
                # while the first one writes its mark, and "nothing sent" would not hold
                never.wait(60)
            if mine == nth and not applied:
                _die(f"rest_before_send {mine}")
            out = send(self, *args, **kw)
            if mine == nth:
                _die(f"rest_in_flight {mine} {len(out)}")
            return out

        Collections._send = send_and_die  # type: ignore[method-assign]

    return install


def _rest_before_done() -> None:
    done = RestJournal.done

    def die(self: RestJournal, batch_id: str) -> None:
        _die(f"rest_before_done {batch_id}")
        done(self, batch_id)

    RestJournal.done = die  # type: ignore[method-assign]


HOOKS: dict[str, Callable[[], None]] = {
    "rest_before_journal": _rest_before_journal,
    "rest_before_send": _rest_call(1, applied=False),
    "rest_in_flight": _rest_call(1, applied=True),
    "rest_in_flight_later": _rest_call(12, applied=True),
    "rest_before_done": _rest_before_done,
    "before_upload": _before_upload,
    "after_upload": _after_upload,
    "before_close": _before_close,
    "polling": _polling,
    "after_collect": _after_collect,
    "before_snapshot": _before_snapshot,
    "warehouse_before_commit": _warehouse_before_commit,
    "warehouse_after_commit": _warehouse_after_commit,
    "rest_chunk": _rest_chunk,
}


def install(point: str) -> None:
    if point not in HOOKS:
        raise SystemExit(f"SFSYNC_CRASH_AT must be one of {', '.join(HOOKS)}, not {point!r}")
    HOOKS[point]()


def main(argv: list[str]) -> int:
    project_file, state_dir, sync, *rest = argv
    install(os.environ["SFSYNC_CRASH_AT"])
    session = SyncSession(load_project(project_file), StateStore.open(state_dir))
    api = rest[0] if rest else "bulk"
    if api not in _APIS:
        raise SystemExit(f"API must be rest or bulk, not {api!r}")
    result = session.run(sync, RunOptions(api=api))
    # reaching this line means the hook never fired: the test fails on the exit code
    print(f"finished without crashing: {result}", file=sys.stderr)
    return 3


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
