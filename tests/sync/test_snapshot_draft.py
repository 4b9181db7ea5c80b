"""The snapshot draft: the next snapshot written while Salesforce works, used only when every row was
accepted, and then identical (rows and hashes) to the snapshot the advance builds itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfsync.state import StateStore
from sfsync.sync.diff import DiffResult, compute_diff
from sfsync.sync.snapshot import SnapshotDraft, advance_snapshot

COLS = ["email", "score"]


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[StateStore, StateStore]]:
    """Two state stores fed the same models: one advances with drafts, the other without."""
    a = StateStore.open(tmp_path / "drafted" / ".sfsync")
    b = StateStore.open(tmp_path / "built" / ".sfsync")
    yield a, b
    a.close()
    b.close()


def _model(rows: list[tuple[Any, ...]], score: pa.DataType = pa.float64()) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([r[0] for r in rows], pa.int64()),
            "email": pa.array([r[1] for r in rows], pa.string()),
            "score": pa.array([r[2] for r in rows], score),
        }
    )


def _diff(store: StateStore, table: pa.Table) -> DiffResult:
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3))
    return compute_diff(store, "s", reader, primary_key="id", columns=COLS)


def _sent_keys(diff: DiffResult) -> list[Any]:
    return list(diff.read_all().column("id").to_pylist())


def _snapshot_rows(store: StateStore) -> list[dict[str, Any]]:
    info = store.snapshots.current("s")
    assert info is not None
    return sorted(pq.read_table(info.snapshot_path).to_pylist(), key=lambda r: r["id"])


def _rejected(store: StateStore) -> list[Any]:
    info = store.snapshots.current("s")
    assert info is not None
    return sorted(pq.read_table(info.rejected_path).column(0).to_pylist())


def _advance_both(stores: tuple[StateStore, StateStore], table: pa.Table, reject: set[Any]) -> bool:
    """Diff ``table`` in both stores and advance with every sent row accepted but ``reject``; the first
    store with a draft. True when the published snapshot is the draft's file itself."""
    drafted, built = stores
    d1, d2 = _diff(drafted, table), _diff(built, table)
    draft = SnapshotDraft(drafted, d1)
    draft.start()
    written = draft.take()
    inode = written.stat().st_ino if written is not None else None
    advance_snapshot(drafted, d1, [k for k in _sent_keys(d1) if k not in reject], draft=draft)
    advance_snapshot(built, d2, [k for k in _sent_keys(d2) if k not in reject])
    assert not draft.path.exists()  # moved into place, or dropped
    info = drafted.snapshots.current("s")
    assert info is not None
    return inode is not None and info.snapshot_path.stat().st_ino == inode


def test_a_draft_is_the_snapshot_the_advance_would_build(stores: tuple[StateStore, StateStore]) -> None:
    steps = [
        _model([(1, "a", 1.0), (2, "b", 2.0), (3, None, None)]),  # first run: every row new
        _model([(1, "a", 1.5), (3, "c", None), (4, "d", 4.0)]),  # changed, new, one gone
        _model([(1, "a", 1.5), (3, "c", None), (4, "d", 4.0)]),  # nothing to send
        _model([(1, "a", 2), (3, "c", 3), (4, "d", 4)], score=pa.int32()),  # a column changes type
    ]
    used = []
    for table in steps:
        used.append(_advance_both(stores, table, reject=set()))
        assert _snapshot_rows(stores[0]) == _snapshot_rows(stores[1])  # same rows, same hashes
        assert _rejected(stores[0]) == _rejected(stores[1]) == []
    # the draft was used for every run that sent rows (the unchanged run reuses the old file instead)
    assert used == [True, True, False, True]
    assert [r["id"] for r in _snapshot_rows(stores[0])] == [1, 3, 4]


def test_a_rejected_row_drops_the_draft(stores: tuple[StateStore, StateStore]) -> None:
    _advance_both(stores, _model([(1, "a", 1.0), (2, "b", 2.0)]), reject=set())
    used = _advance_both(stores, _model([(1, "a", 9.0), (2, "b", 2.0), (5, "e", 5.0)]), reject={1, 5})
    assert not used
    # the rejected change keeps the old value, the rejected new row stays out: both are resent next run
    assert _snapshot_rows(stores[0]) == _snapshot_rows(stores[1])
    assert [(r["id"], r["score"]) for r in _snapshot_rows(stores[0])] == [(1, 1.0), (2, 2.0)]
    assert _rejected(stores[0]) == [1, 5]
    assert set(_sent_keys(_diff(stores[0], _model([(1, "a", 9.0), (2, "b", 2.0), (5, "e", 5.0)])))) == {1, 5}


def test_a_cancelled_draft_leaves_nothing_and_the_advance_still_builds(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / ".sfsync")
    try:
        n = 300_000
        table = pa.table(
            {
                "id": pa.array(range(n), pa.int64()),
                "email": pa.array([f"p{i}@example.com" for i in range(n)]),
                "score": pa.array([float(i) for i in range(n)]),
            }
        )
        diff = _diff(store, table)
        draft = SnapshotDraft(store, diff)
        draft.start()
        draft.cancel()  # mid-write or before it began: either way nothing of it stays
        assert draft.take() is None and not draft.path.exists()
        assert not list(diff.work_dir.glob("snapshot-draft*"))
        advance_snapshot(store, diff, _sent_keys(diff), draft=draft)
        info = store.snapshots.current("s")
        assert info is not None and info.rows == n
        # the next run finds nothing to send: the snapshot holds every row with a trustworthy hash
        assert _diff(store, table).counts.to_send == 0
    finally:
        store.close()


def test_a_draft_of_a_stale_diff_never_starts(stores: tuple[StateStore, StateStore]) -> None:
    store = stores[0]
    stale = _diff(store, _model([(1, "a", 1.0)]))
    fresh = _diff(store, _model([(1, "a", 1.0)]))
    advance_snapshot(store, fresh, _sent_keys(fresh))  # the snapshot moved on since `stale` was made
    draft = SnapshotDraft(store, stale)
    draft.start()
    assert draft.take() is None and not draft.path.exists()


@pytest.mark.parametrize("form", ["in order", "reversed", "as text", "as text reversed", "one missing"])
def test_accepted_keys_in_any_order_or_form_give_the_same_snapshot(tmp_path: Path, form: str) -> None:
    """Keys in the diff's order take a one-comparison path; any other order or form takes the join: the
    snapshot and the rejected set are the same either way."""
    table = _model([(i, f"e{i}", float(i)) for i in range(50)])
    results = []
    for name in ("given", "reference"):
        store = StateStore.open(tmp_path / name / ".sfsync")
        try:
            diff = _diff(store, table)
            keys: list[Any] = _sent_keys(diff)  # the diff's own order
            expected_rejected = [keys[7]] if form == "one missing" else []
            if name == "given":
                if "reversed" in form:
                    keys = keys[::-1]
                if "as text" in form:
                    keys = [str(k) for k in keys]
                if form == "one missing":
                    keys = keys[:7] + keys[8:]
            else:
                keys = [k for k in keys if k not in expected_rejected]
                keys = sorted(keys, key=lambda k: -k)  # never the diff's order: always the join
            advance_snapshot(store, diff, keys)
            results.append((_snapshot_rows(store), _rejected(store)))
            assert _rejected(store) == expected_rejected
        finally:
            store.close()
    assert results[0] == results[1]
