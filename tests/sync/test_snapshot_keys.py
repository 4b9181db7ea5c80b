"""The snapshot advance's accepted keys: in the diff's order they are proved complete by one comparison
(no join); in any other order or form they are joined; the snapshot is the same either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfsync.state import StateStore
from sfsync.sync import snapshot
from sfsync.sync.diff import DiffResult, compute_diff
from sfsync.sync.snapshot import advance_snapshot

COLS = ["email", "score"]


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


@pytest.mark.parametrize("form", ["in order", "reversed", "as text", "as text reversed", "one missing"])
def test_accepted_keys_in_any_order_or_form_give_the_same_snapshot(
    tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys in the diff's order take a one-comparison path (here over several compared batches); any
    other order or form takes the join: the snapshot and the rejected set are the same either way."""
    monkeypatch.setattr(snapshot, "COMPARE_BATCH_ROWS", 7)
    table = _model([(i, f"e{i}", float(i)) for i in range(50)])
    results = []
    for name in ("given", "reference"):
        store = StateStore.open(tmp_path / name / ".sfsync")
        try:
            diff = _diff(store, table)
            keys: list[Any] = _sent_keys(diff)  # the diff's own order
            expected_rejected = [7] if form == "one missing" else []
            if name == "given":
                if "reversed" in form:
                    keys = keys[::-1]
                if "as text" in form:
                    keys = [str(k) for k in keys]
                if form == "one missing":
                    keys = [k for k in keys if k not in (7, "7")]
                # the one-comparison path is taken exactly for the complete keys in the diff's order
                proved = snapshot._every_row_in_order(diff, pa.table({"k": keys}))
                assert proved == (form in ("in order", "as text"))
            else:
                keys = [k for k in keys if k not in expected_rejected]
                keys = sorted(keys, key=lambda k: -k)  # never the diff's order: always the join
            advance_snapshot(store, diff, keys)
            results.append((_snapshot_rows(store), _rejected(store)))
            assert _rejected(store) == expected_rejected
        finally:
            store.close()
    assert results[0] == results[1]
