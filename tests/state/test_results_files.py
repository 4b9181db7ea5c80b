"""Row results as Parquet part files: the journal mark as commit point, ordering, and the v1 upgrade."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from sfsync.state import JournalState, StateStore
from sfsync.state import results as results_files
from sfsync.state.schema import MIGRATIONS
from tests.state.backends import Backend


@pytest.fixture
def store(tmp_path: Path, backend: Backend) -> Iterator[StateStore]:
    s = backend.open(tmp_path / ".sfsync")
    yield s
    s.close()


def _outcomes(keys: list[str], *, failed: frozenset[str] | set[str] = frozenset()) -> pa.Table:
    return pa.table(
        {
            "primary_key": keys,
            "success": [k not in failed for k in keys],
            "operation": ["created" if k not in failed else "upsert" for k in keys],
            "error_code": [None if k not in failed else "DUPLICATE_VALUE" for k in keys],
            "fields": [None if k not in failed else "Email" for k in keys],
        }
    )


def _closed_job(store: StateStore, run_id: int, job_id: str) -> None:
    store.journal_add(run_id, job_id, "Contact", "upsert")
    store.journal_set_state(job_id, JournalState.UPLOADED)
    store.journal_set_state(job_id, JournalState.CLOSED)


def test_a_job_part_without_its_journal_mark_is_not_read_and_recollecting_replaces_it(
    store: StateStore,
) -> None:
    run = store.start_run("contacts")
    _closed_job(store, run.id, "750J1")
    directory = results_files.run_dir(store.paths.results, run.id)
    # a crash after the part got its name and before the journal mark
    crashed = results_files.normalise(run.id, _outcomes(["a", "b", "c"], failed={"c"}), operation=None)
    results_files.write_part(directory, crashed, job_id="750J1", compression="zstd", fsync=False)
    assert store.row_results(run.id) == [] and store.rejected_counts(run.id) == {}
    assert store.accepted_keys(run.id).to_pylist() == []
    # recovery collects the job again: the same rows once, the job collected
    assert (
        store.record_results(run.id, _outcomes(["a", "b", "c"], failed={"c"}), collected_job_id="750J1") == 3
    )
    assert [r.primary_key for r in store.row_results(run.id)] == ["a", "b", "c"]
    assert sorted(store.accepted_keys(run.id).to_pylist()) == ["a", "b"]
    assert store.rejected_counts(run.id) == {"DUPLICATE_VALUE": 1}
    assert store.rejected_rows(run.id)[0].fields == ("Email",)
    assert len(list(directory.glob("*.parquet"))) == 1
    assert store.journal_pending("contacts") == []


def test_parts_are_read_in_the_order_stored_across_calls(store: StateStore) -> None:
    run = store.start_run("contacts")
    store.record_results(run.id, _outcomes(["r1", "r2"]))  # e.g. rows refused before sending
    _closed_job(store, run.id, "750J2")
    store.record_results(run.id, _outcomes(["j1", "j2"], failed={"j2"}), collected_job_id="750J2")
    store.record_results(run.id, _outcomes(["z"], failed={"z"}))
    assert [r.primary_key for r in store.row_results(run.id)] == ["r1", "r2", "j1", "j2", "z"]
    assert [r.primary_key for r in store.row_results(run.id, limit=2, offset=2)] == ["j1", "j2"]
    assert [r.primary_key for r in store.rejected_rows(run.id)] == ["j2", "z"]
    table = store.rejected_table(run.id)
    assert table.column("primary_key").to_pylist() == ["j2", "z"]
    assert table.column("fields").to_pylist() == [["Email"], ["Email"]]
    other = store.start_run("contacts")
    assert store.row_results(other.id) == [] and store.rejected_table(other.id).num_rows == 0


def test_a_version_1_store_keeps_its_row_results_after_the_upgrade(tmp_path: Path) -> None:
    root = tmp_path / ".sfsync"
    root.mkdir()
    conn = sqlite3.connect(root / "state.db", isolation_level=None)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO runs (sync, trigger, status, started_at, pid, host)"
        " VALUES ('contacts', 'manual', 'succeeded', '2026-01-01T00:00:00+00:00', 1, 'h')"
    )
    conn.executemany(
        "INSERT INTO row_results (run_id, sync, primary_key, operation, success, record_id, error_code,"
        " message, fields) VALUES (1, 'contacts', ?, ?, ?, ?, ?, ?, ?)",
        [
            ("k1", "created", 1, "003A", None, None, None),
            ("k2", "upsert", 0, None, "REQUIRED_FIELD_MISSING", "LastName missing", "LastName,Email"),
        ],
    )
    conn.close()
    with StateStore.open(root) as store:
        rows = store.row_results(1)
        assert [(r.primary_key, r.success, r.record_id) for r in rows] == [
            ("k1", True, "003A"),
            ("k2", False, None),
        ]
        assert rows[1].fields == ("LastName", "Email") and rows[1].message == "LastName missing"
        assert store.rejected_counts(1) == {"REQUIRED_FIELD_MISSING": 1}
    conn = sqlite3.connect(root / "state.db")
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'row_results'").fetchone()[0] == 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
