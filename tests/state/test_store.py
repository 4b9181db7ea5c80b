"""The state store on real SQLite files: runs, row results, journal, sync status, schema versions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from sfsync.errors import ConfigError, NotFoundError, StateError
from sfsync.state import (
    BulkJobProgress,
    JournalState,
    RunCounts,
    RunPhase,
    RunProgress,
    RunStatus,
    StateStore,
    Trigger,
    default_state_dir,
)
from sfsync.state.schema import MIGRATIONS
from tests.state.backends import Backend


@pytest.fixture
def store(tmp_path: Path, backend: Backend) -> Iterator[StateStore]:
    s = backend.open(tmp_path / ".sfsync")
    yield s
    s.close()


def test_open_creates_layout_in_wal_mode(tmp_path: Path) -> None:
    root = tmp_path / "proj" / ".sfsync"
    with StateStore.open(root) as s:
        assert s.paths.database.exists()
        for d in (s.paths.locks, s.paths.snapshots, s.paths.work, s.paths.tmp):
            assert d.is_dir()
    conn = sqlite3.connect(root / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
    assert (root / ".gitignore").read_text().strip().endswith("*")
    # reopening applies nothing twice
    StateStore.open(root).close()
    assert default_state_dir(tmp_path / "proj" / "sfsync.yml") == (tmp_path / "proj" / ".sfsync").resolve()


def test_store_written_by_newer_sfsync_is_refused(tmp_path: Path) -> None:
    StateStore.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StateError, match="newer than this sfsync"):
        StateStore.open(tmp_path)


def test_run_lifecycle(store: StateStore) -> None:
    run = store.start_run("contacts", Trigger.SCHEDULE)
    assert run.status is RunStatus.RUNNING and run.trigger is Trigger.SCHEDULE and not run.finished
    store.update_run(run.id, RunCounts(rows_read=10, new=3), api="bulk")
    assert store.get_run(run.id).counts.rows_read == 10
    done = store.finish_run(run.id, "succeeded", RunCounts(10, 3, 2, 5, 3, 2, 1, 7), api="rest", error=None)
    assert done.status is RunStatus.SUCCEEDED and done.finished_at is not None
    assert done.counts == RunCounts(10, 3, 2, 5, 3, 2, 1, 7)
    assert done.api == "rest" and done.duration_s is not None and done.duration_s >= 0
    failed = store.start_run("contacts", "ui")
    store.finish_run(failed.id, RunStatus.FAILED, error="INVALID_SESSION_ID: session expired")
    store.start_run("accounts", "api")
    assert [r.id for r in store.runs("contacts")] == [failed.id, run.id]
    assert len(store.runs()) == 3 and len(store.runs(limit=1)) == 1
    last_ok = store.last_run("contacts", status="succeeded")
    assert last_ok is not None and last_ok.id == run.id
    assert store.get_run(failed.id).error == "INVALID_SESSION_ID: session expired"
    with pytest.raises(StateError, match="final status"):
        store.finish_run(run.id, "running")
    with pytest.raises(NotFoundError, match="run 999 does not exist"):
        store.get_run(999)
    with pytest.raises(ValueError):
        store.start_run("contacts", "cron")
    with pytest.raises(ConfigError, match="file name"):
        store.start_run("../escape")


def _results(n: int, *, reject_every: int = 3) -> pa.Table:
    ok = [i % reject_every != 0 for i in range(n)]
    return pa.table(
        {
            "primary_key": pa.array(range(n), pa.int64()),
            "success": ok,
            "operation": ["updated" if o else "update" for o in ok],
            "record_id": [f"003{i:012d}AAA" if o else None for i, o in enumerate(ok)],
            "error_code": [
                None if o else ("NOT_FOUND" if i % 2 else "REQUIRED_FIELD_MISSING") for i, o in enumerate(ok)
            ],
            "message": [
                None if o else f'row {i}: it\'s "bad", really\nsecond line' for i, o in enumerate(ok)
            ],
            "fields": [[] if o else ["LastName", "Email"] for o in ok],
        }
    )


def test_row_results_in_bulk_and_rejected_rows(store: StateStore) -> None:
    run = store.start_run("contacts")
    n = store.record_results(run.id, _results(30_000))
    assert n == 30_000
    rejected = store.rejected_rows(run.id)
    assert len(rejected) == 10_000
    first = rejected[0]
    assert first.primary_key == "0" and first.error_code == "REQUIRED_FIELD_MISSING"
    assert (
        first.fields == ("LastName", "Email") and first.message == 'row 0: it\'s "bad", really\nsecond line'
    )
    assert first.sync == "contacts" and not first.success
    not_found = store.rejected_rows(run.id, "NOT_FOUND", limit=5)
    assert [r.primary_key for r in not_found] == ["3", "9", "15", "21", "27"]
    assert store.rejected_counts(run.id) == {"NOT_FOUND": 5_000, "REQUIRED_FIELD_MISSING": 5_000}
    ok = store.row_results(run.id, success=True, limit=1)
    assert ok[0].record_id == "003000000000001AAA" and ok[0].fields == ()
    table = store.rejected_table(run.id, "NOT_FOUND")
    assert table.num_rows == 5_000 and table.column("fields")[0].as_py() == ["LastName", "Email"]


def test_row_results_operation_argument_and_reader(store: StateStore) -> None:
    run = store.start_run("contacts")
    t = pa.table({"primary_key": ["a", "b"], "success": [True, False], "error_code": [None, "X"]})
    reader = pa.RecordBatchReader.from_batches(t.schema, t.to_batches())
    assert store.record_results(run.id, reader, operation="upsert") == 2
    assert [r.operation for r in store.row_results(run.id)] == ["upsert", "upsert"]
    with pytest.raises(StateError, match="operation"):
        store.record_results(run.id, t)
    with pytest.raises(StateError, match="primary_key"):
        store.record_results(run.id, pa.table({"success": [True]}), operation="insert")


def test_journal_transitions_and_pending(store: StateStore) -> None:
    run = store.start_run("accounts")
    a = store.journal_add(
        run.id, "750000000000001AAA", "Account", "upsert", chunk_path="c1.csv", row_start=0, row_end=99
    )
    assert a.state is JournalState.NEW and a.sync == "accounts" and a.row_end == 99
    b = store.journal_add(run.id, "750000000000002AAA", "Account", "upsert")
    store.journal_set_state(a.job_id, "uploaded")
    store.journal_set_state(a.job_id, JournalState.CLOSED)
    store.journal_set_state(b.job_id, "aborted", error="run interrupted")
    assert [e.job_id for e in store.journal_pending("accounts")] == [a.job_id]
    with pytest.raises(StateError, match="cannot go from aborted to closed"):
        store.journal_set_state(b.job_id, "closed")
    with pytest.raises(StateError, match="journaled once"):
        store.journal_add(run.id, a.job_id, "Account", "upsert")
    with pytest.raises(StateError, match="not in the run journal"):
        store.journal_set_state("750nope", "closed")
    # results and the collected state land together
    store.record_results(run.id, _results(10), collected_job_id=a.job_id)
    assert store.journal_pending("accounts") == []
    entry = store.journal_entry(a.job_id)
    assert entry is not None and entry.state is JournalState.COLLECTED
    assert len(store.journal_entries(run_id=run.id)) == 2
    interrupted = store.journal_entry(b.job_id)
    assert interrupted is not None and interrupted.error == "run interrupted"


def test_collect_is_atomic_with_results(store: StateStore) -> None:
    run = store.start_run("accounts")
    store.journal_add(run.id, "750A", "Account", "insert")
    with pytest.raises(StateError, match="cannot go from new to collected"):
        store.record_results(run.id, _results(10), collected_job_id="750A")
    assert store.row_results(run.id) == []  # the results were rolled back with the failed state change


def test_sync_status_pause_and_warnings(store: StateStore) -> None:
    assert not store.sync_status("leads").paused
    st = store.set_paused("leads", True, "paused by alice")
    assert st.paused and st.pause_cause == "paused by alice" and st.paused_at is not None
    st = store.set_warning_state("leads", {"rejected_rows_percent": "firing"})
    assert st.paused and st.warning_state == {"rejected_rows_percent": "firing"}
    st = store.set_paused("leads", False)
    assert (
        not st.paused and st.pause_cause is None and st.warning_state == {"rejected_rows_percent": "firing"}
    )
    assert [s.sync for s in store.sync_statuses()] == ["leads"]


def test_prune_results_keeps_latest_runs(store: StateStore) -> None:
    ids = []
    for _ in range(3):
        run = store.start_run("c")
        store.record_results(run.id, _results(10))
        ids.append(run.id)
    assert store.prune_results(keep_runs=1) == 20
    assert store.row_results(ids[0]) == [] and len(store.row_results(ids[2])) == 10


def test_pruning_results_drops_the_settled_journal_entries_of_those_runs(store: StateStore) -> None:
    old, new = store.start_run("c"), store.start_run("c")
    store.journal_add(old.id, "rest-1-000001", "Contact", "insert")
    store.journal_add(old.id, "rest-1-000002", "Contact", "insert")  # still pending: kept for recovery
    store.journal_set_state("rest-1-000001", JournalState.CLOSED)
    store.journal_set_state("rest-1-000001", JournalState.COLLECTED)
    store.record_results(old.id, _results(3))
    store.journal_add(new.id, "rest-2-000001", "Contact", "insert")
    store.prune_results(keep_runs=1)
    assert [e.job_id for e in store.journal_entries()] == ["rest-1-000002", "rest-2-000001"]


def test_a_corrupt_store_or_snapshot_pointer_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match=r"(?s)state.db is unusable.*move it away"):
        StateStore.open(tmp_path)
    other = StateStore.open(tmp_path / "other")
    (other.paths.snapshots / "s").mkdir()
    (other.paths.snapshots / "s" / "CURRENT").write_text("{not json")
    with pytest.raises(StateError, match=r"(?s)CURRENT is unreadable.*--full-resync"):
        other.snapshots.current("s")
    other.close()


def test_one_store_shared_by_threads(store: StateStore) -> None:
    import threading

    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                run = store.start_run(f"t{n}")
                store.record_results(run.id, _results(50))
                store.set_warning_state(f"t{n}", {"i": str(i)})
                store.finish_run(run.id, "succeeded")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.runs(limit=1000)) == 80


def test_migration_3_turns_cause_prefixes_into_the_automatic_field(tmp_path: Path) -> None:
    """Stores written before migration 3 kept who paused a sync as an ``auto: ``/``manual: `` prefix."""
    root = tmp_path / ".sfsync"
    root.mkdir()
    conn = sqlite3.connect(root / "state.db")
    for statement in (MIGRATIONS[0] + ";" + MIGRATIONS[1]).split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    rows = [
        ("broken", 1, "auto: the source or model cannot be read: table people is gone"),
        ("held", 1, "manual: paused by alice: quarter close"),
        ("fine", 0, None),
    ]
    conn.executemany(
        "INSERT INTO sync_status (sync, paused, pause_cause, paused_at, updated_at)"
        " VALUES (?, ?, ?, '2026-01-05T10:00:00+00:00', '2026-01-05T10:00:00+00:00')",
        rows,
    )
    conn.commit()
    conn.close()
    with StateStore.open(root) as s:
        broken, held, fine = (s.sync_status(n) for n in ("broken", "held", "fine"))
    assert broken.paused and broken.pause_automatic
    assert broken.pause_cause == "the source or model cannot be read: table people is gone"
    assert held.paused and not held.pause_automatic and held.pause_cause == "paused by alice: quarter close"
    assert not fine.paused and not fine.pause_automatic


def test_migration_4_judges_old_runs_again_and_keeps_journal_and_ids(tmp_path: Path) -> None:
    """Runs recorded as ``succeeded`` with rejected rows become ``partial`` (whether they retried rows is
    unknown, so even one that had every row rejected); the journal survives the rebuild of ``runs``, and no
    run id is handed out twice."""
    root = tmp_path / ".sfsync"
    root.mkdir()
    conn = sqlite3.connect(root / "state.db")
    for statement in ";".join(MIGRATIONS[:3]).split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    runs = [  # id, status, created, updated, rejected
        (1, "succeeded", 10, 0, 0),
        (2, "succeeded", 7, 1, 2),
        (3, "succeeded", 0, 0, 5),
        (4, "failed", 0, 0, 0),
        (5, "succeeded", 1, 0, 0),
    ]
    conn.executemany(
        "INSERT INTO runs (id, sync, trigger, status, started_at, created, updated, rejected, pid, host)"
        " VALUES (?, 'contacts', 'manual', ?, '2026-01-05T10:00:00+00:00', ?, ?, ?, 1, 'h')",
        runs,
    )
    conn.execute(
        "INSERT INTO journal (run_id, sync, job_id, object, operation, state, created_at, updated_at)"
        " VALUES (2, 'contacts', '750J1', 'Contact', 'upsert', 'closed', '2026-01-05T10:00:00+00:00',"
        " '2026-01-05T10:00:00+00:00')"
    )
    conn.execute("DELETE FROM runs WHERE id = 5")  # the newest run is gone: its id stays used
    conn.commit()
    conn.close()
    with StateStore.open(root) as s:
        statuses = {r.id: r.status for r in s.runs(limit=10)}
        assert statuses == {
            1: RunStatus.SUCCEEDED,
            2: RunStatus.PARTIAL,
            3: RunStatus.PARTIAL,
            4: RunStatus.FAILED,
        }
        assert [e.job_id for e in s.journal_pending("contacts")] == ["750J1"]
        assert s.start_run("contacts").id == 6
        s.finish_run(6, RunStatus.PARTIAL, RunCounts(created=1, rejected=1))
        assert s.get_run(6).status is RunStatus.PARTIAL


def test_progress_of_a_running_run_is_stored(store: StateStore) -> None:
    run = store.start_run("contacts")
    assert store.get_run(run.id).progress is None
    progress = RunProgress(
        RunPhase.COLLECTING,
        rows_read=10,
        to_send=8,
        sent=3,
        api="bulk",
        jobs=(BulkJobProgress("750A", "InProgress", rows=8, processed=3),),
    )
    store.set_progress(run.id, progress)
    assert store.get_run(run.id).progress == progress


def test_a_pause_says_whether_the_sync_paused_itself(store: StateStore) -> None:
    store.set_paused("a", True, "Salesforce refuses the login: …", automatic=True)
    store.set_paused("b", True, "paused by bob")
    assert store.sync_status("a").pause_automatic and not store.sync_status("b").pause_automatic
    store.set_paused("a", False)
    assert not store.sync_status("a").paused and not store.sync_status("a").pause_automatic


def test_the_state_is_private_to_its_owner(tmp_path: Path) -> None:
    """It holds synced names and e-mails (and stored tokens): 0700 folders, 0600 database files."""
    root = tmp_path / ".sfsync"
    root.mkdir(mode=0o755)  # made by an older sfsync, readable by everyone
    with StateStore.open(root) as s:
        s.start_run("contacts")
        modes = {p.name: p.stat().st_mode & 0o777 for p in root.iterdir()}
    assert root.stat().st_mode & 0o777 == 0o700
    for name, mode in modes.items():
        if name.startswith("state.db"):
            assert mode == 0o600, (name, oct(mode))
        elif (root / name).is_dir():
            assert mode == 0o700, (name, oct(mode))
