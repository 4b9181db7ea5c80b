"""The diff and snapshot advance on real DuckDB and Parquet files."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfsync.errors import ConfigError, SourceError, StateError
from sfsync.state import StateStore
from sfsync.sync.diff import (
    KIND_COLUMN,
    RESEND_COLUMN,
    DiffResult,
    DiffSettings,
    compute_diff,
    pending_diffs,
)
from sfsync.sync.encode import send_column
from sfsync.sync.snapshot import advance_snapshot

COLS = ["email", "score"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / ".sfsync")
    yield s
    s.close()


def _model(
    rows: list[tuple[Any, ...]],
    names: tuple[str, ...] = ("id", "email", "score"),
    types: tuple[pa.DataType, ...] = (pa.int64(), pa.string(), pa.float64()),
) -> pa.RecordBatchReader:
    table = pa.table(
        {n: pa.array([r[i] for r in rows], t) for i, (n, t) in enumerate(zip(names, types, strict=True))}
    )
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=2))


def _sent(diff: DiffResult) -> dict[Any, dict[str, Any]]:
    """pk -> {kind, resend, values, sends} of the rows to send."""
    out = {}
    for row in diff.read_all().to_pylist():
        out[row[diff.primary_key]] = {
            "kind": row[KIND_COLUMN],
            "resend": row[RESEND_COLUMN],
            "send": sorted(c for c in diff.columns if row[send_column(c)]),
            **{c: row[c] for c in diff.columns},
        }
    return out


def _sync(store: StateStore, rows: list[tuple[Any, ...]], accept: Any = "all", **kw: Any) -> DiffResult:
    """Diff, then advance with ``accept`` (all rows sent, or a list of keys)."""
    kw.setdefault("primary_key", "id")
    kw.setdefault("columns", COLS)
    model = kw.pop("model", None) or _model(rows)
    diff = compute_diff(store, "s", model, **kw)
    keys = list(_sent(diff)) if accept == "all" else accept
    advance_snapshot(store, diff, keys, discard=False)
    return diff


def _snapshot(store: StateStore) -> dict[Any, tuple[Any, ...]]:
    info = store.snapshots.current("s")
    assert info is not None
    t = pq.read_table(info.snapshot_path)
    return {
        r["id"]: tuple(r[c] for c in sorted(c for c in t.column_names if c not in ("id", "_sfsync_hash")))
        for r in t.to_pylist()
    }


def test_first_run_sends_everything_then_only_changes(store: StateStore) -> None:
    first = _sync(store, [(1, "a@x", 1.0), (2, "b@x", 2.0), (3, None, None)])
    assert first.counts.new == 3 and first.counts.previous_rows is None
    assert all(r["send"] == COLS and r["kind"] == "new" for r in _sent(first).values())
    again = compute_diff(
        store,
        "s",
        _model([(1, "a@x", 1.0), (2, "b@x", 2.5), (3, None, None), (4, "d", 4.0)]),
        primary_key="id",
        columns=COLS,
    )
    c = again.counts
    assert (c.rows, c.new, c.changed, c.unchanged, c.gone, c.previous_rows) == (4, 1, 1, 2, 0, 3)
    sent = _sent(again)
    assert sent[2] == {"kind": "changed", "resend": False, "send": ["score"], "email": "b@x", "score": 2.5}
    assert sent[4]["kind"] == "new" and sent[4]["send"] == COLS
    assert set(sent) == {2, 4}


def test_nulls_compare_right(store: StateStore) -> None:
    _sync(store, [(1, None, 1.0), (2, "b", None), (3, None, None), (4, "", 4.0), (5, "e", 5.0)])
    diff = compute_diff(
        store,
        "s",
        _model([(1, "a", 1.0), (2, None, None), (3, None, None), (4, None, 4.0), (5, "", 5.0)]),
        primary_key="id",
        columns=COLS,
    )
    sent = _sent(diff)
    assert sent[1]["send"] == ["email"] and sent[1]["email"] == "a"  # null -> value
    assert sent[2]["send"] == ["email"] and sent[2]["email"] is None  # value -> null clears the field
    assert 3 not in sent  # null -> null
    assert 4 not in sent  # '' and null are the same thing to Salesforce
    assert sent[5]["send"] == ["email"] and sent[5]["email"] is None  # value -> '' clears it
    assert diff.counts.changed == 3 and diff.counts.unchanged == 2


AWKWARD = [
    (1, "quote \" and 'single'", 0.1 + 0.2),
    (2, "comma, semicolon; tab\there", -0.0),
    (3, "new\nline\r\nand crlf", math.inf),
    (4, "unicodé ☃ 𝄞 日本語", 1e300),
    (5, "x" * 40_000, float("nan")),
    (6, "#N/A", 5e-324),
    (7, "  padded  ", 3.0),
]


def test_awkward_values_round_trip_and_compare_equal(store: StateStore) -> None:
    _sync(store, AWKWARD)
    same = compute_diff(store, "s", _model(AWKWARD), primary_key="id", columns=COLS)
    assert same.counts.unchanged == 7 and same.counts.to_send == 0
    assert _snapshot(store)[4] == ("unicodé ☃ 𝄞 日本語", 1e300)
    changed = [(i, e + " ", s) if i in (1, 3) else (i, e, s) for i, e, s in AWKWARD]
    diff = compute_diff(store, "s", _model(changed), primary_key="id", columns=COLS)
    assert {k: v["send"] for k, v in _sent(diff).items()} == {1: ["email"], 3: ["email"]}
    assert _sent(diff)[3]["email"] == "new\nline\r\nand crlf "


def test_many_types(store: StateStore) -> None:
    names = ("id", "d", "ts", "b", "dec", "t", "i")
    types = (
        pa.string(),
        pa.date32(),
        pa.timestamp("us", tz="Europe/Paris"),
        pa.bool_(),
        pa.decimal128(18, 2),
        pa.time64("us"),
        pa.int32(),
    )
    row = (
        "k1",
        dt.date(2024, 2, 29),
        dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.UTC),
        True,
        Decimal("12.50"),
        dt.time(23, 59, 59, 999999),
        2**31 - 1,
    )
    cols = list(names[1:])
    _sync(store, [row], model=_model([row], names, types), columns=cols)
    assert (
        compute_diff(store, "s", _model([row], names, types), primary_key="id", columns=cols).counts.unchanged
        == 1
    )
    row2 = (
        "k1",
        dt.date(2024, 2, 29),
        dt.datetime(2024, 3, 31, 1, 30, 0, 1, tzinfo=dt.UTC),
        False,
        Decimal("12.50"),
        dt.time(23, 59, 59, 999999),
        2**31 - 1,
    )
    diff = compute_diff(store, "s", _model([row2], names, types), primary_key="id", columns=cols)
    assert _sent(diff)["k1"]["send"] == ["b", "ts"]


def test_type_change_compares_by_text_then_rehashes(store: StateStore) -> None:
    _sync(
        store,
        [(1, "a", 1), (2, "b", 2)],
        model=_model([(1, "a", 1), (2, "b", 2)], types=(pa.int64(), pa.string(), pa.int32())),
    )
    # int32 -> int64 with equal values: nothing to send; int -> float 2 -> 2.5: changed
    model = _model([(1, "a", 1), (2, "b", 3)], types=(pa.int64(), pa.string(), pa.int64()))
    diff = compute_diff(store, "s", model, primary_key="id", columns=COLS)
    assert {k: v["send"] for k, v in _sent(diff).items()} == {2: ["score"]}
    advance_snapshot(store, diff, [2])
    info = store.snapshots.current("s")
    assert info is not None and info.types["score"] == "BIGINT"
    # the next diff trusts the fresh hashes (same types now) and finds nothing
    model = _model([(1, "a", 1), (2, "b", 3)], types=(pa.int64(), pa.string(), pa.int64()))
    assert compute_diff(store, "s", model, primary_key="id", columns=COLS).counts.to_send == 0
    # primary key type change: int -> string keys still match by text
    model = _model([("1", "a", 1), ("2", "b", 4)], types=(pa.string(), pa.string(), pa.int64()))
    diff = compute_diff(store, "s", model, primary_key="id", columns=COLS)
    assert {k: v["send"] for k, v in _sent(diff).items()} == {"2": ["score"]} and diff.counts.gone == 0


def test_mapping_added_or_removed(store: StateStore) -> None:
    _sync(store, [(1, "a", 1.0), (2, "b", 2.0)], columns=["email"])
    diff = compute_diff(store, "s", _model([(1, "a", 1.0), (2, "b", 2.0)]), primary_key="id", columns=COLS)
    assert {k: v["send"] for k, v in _sent(diff).items()} == {1: ["score"], 2: ["score"]}
    advance_snapshot(store, diff, [1])
    diff = compute_diff(store, "s", _model([(1, "a", 1.0), (2, "b", 2.0)]), primary_key="id", columns=COLS)
    assert {k: v["send"] for k, v in _sent(diff).items()} == {2: ["score"]}  # 2 was not accepted
    advance_snapshot(store, diff, [2])
    diff = compute_diff(
        store, "s", _model([(1, "a", 1.0), (2, "b", 2.0)]), primary_key="id", columns=["score"]
    )
    assert diff.counts.to_send == 0


def test_duplicate_and_null_keys_stop_before_anything_is_written(store: StateStore) -> None:
    _sync(store, [(1, "a", 1.0)]).discard()
    before = store.snapshots.current("s")
    rows = [(1, "a", 1.0), (1, "b", 2.0), (2, "c", 3.0), (2, "d", 4.0), (2, "e", 5.0), (3, "f", 6.0)]
    rows += [(k, "g", 0.0) for k in range(10, 16) for _ in range(2)]
    with pytest.raises(SourceError) as err:
        compute_diff(store, "s", _model(rows), primary_key="id", columns=COLS, model="customers")
    msg = str(err.value)
    assert "model `customers`: primary key `id` is not unique: 8 keys repeat" in msg
    assert "'2' (3 rows), '1' (2 rows)" in msg and "'3'" not in msg and msg.count("rows)") == 5
    with pytest.raises(SourceError, match="2 of 3 rows have a null primary key `id`"):
        compute_diff(
            store,
            "s",
            _model([(None, "a", 1.0), (1, "b", 1.0), (None, "c", 1.0)]),
            primary_key="id",
            columns=COLS,
        )
    assert store.snapshots.current("s") == before
    assert pending_diffs(store, "s") == []


def test_one_repeated_key_far_apart_in_a_shuffled_model_is_found(store: StateStore) -> None:
    keys = [(i * 7919) % 100_000 for i in range(100_000)]  # every key once, shuffled
    rows = [(k, f"n{k}", 1.0) for k in keys] + [
        (keys[0], "again", 2.0)
    ]  # the first key, once more at the end
    with pytest.raises(SourceError, match=f"1 key repeats.*'{keys[0]}' \\(2 rows\\)"):
        compute_diff(store, "s", _model(rows), primary_key="id", columns=COLS, model="customers")
    diff = compute_diff(store, "s", _model(rows[:-1]), primary_key="id", columns=COLS)  # unique: goes
    assert diff.counts.new == 100_000


_OLD = [(k, f"e{k}", float(k)) for k in range(1, 201)]


@pytest.mark.parametrize(
    ("case", "rows", "kw"),
    [
        # the snapshot's key 7 twice, both rows equal to the snapshot (nothing of them left to send)
        ("old key, both unchanged", [*_OLD, (7, "e7", 7.0)], {}),
        ("old key, one changed", [*_OLD, (7, "new", 7.0)], {}),
        ("new key", [*_OLD, (500, "a", 1.0), (500, "b", 2.0)], {}),
        ("old key, keys now text", [(str(k), e, v) for k, e, v in [*_OLD, (7, "e7", 7.0)]], {"text": True}),
        ("old key, column compared by value", [*_OLD, (7, "e7", 7.0)], {"score": pa.float32()}),
        ("old key, full resync", [*_OLD[:150], (7, "e7", 7.0)], {"full_resync": True}),
    ],
)
def test_a_repeated_key_is_found_by_the_key_join_with_the_snapshot(
    store: StateStore, case: str, rows: list[tuple[Any, ...]], kw: dict[str, Any]
) -> None:
    """With a snapshot, repeats are found in the join with it (sfsync.sync.diff_keys): every way a key
    can meet the snapshot; in the full resync case 50 rows also left the model (the unmatched snapshot
    side, which the count of matched snapshot keys must leave out)."""
    _sync(store, _OLD).discard()
    before = store.snapshots.current("s")
    types = (pa.string() if kw.get("text") else pa.int64(), pa.string(), kw.get("score", pa.float64()))
    key = "'500'" if case == "new key" else "'7'"
    with pytest.raises(SourceError, match=f"is not unique: 1 key repeats, e.g. {key} \\(2 rows\\)"):
        compute_diff(
            store,
            "s",
            _model(rows, types=types),
            primary_key="id",
            columns=COLS,
            full_resync=kw.get("full_resync", False),
        )
    assert store.snapshots.current("s") == before and pending_diffs(store, "s") == []
    unique = [r for i, r in enumerate(rows) if r[0] not in {r2[0] for r2 in rows[:i]}]
    diff = compute_diff(store, "s", _model(unique, types=types), primary_key="id", columns=COLS)
    assert diff.counts.rows == len(unique)  # without the repeat the same model diffs


def test_unknown_and_reserved_columns_are_config_errors(store: StateStore) -> None:
    with pytest.raises(ConfigError, match=r"(?s)no column\(s\) phone.*its columns are: id, email, score"):
        compute_diff(store, "s", _model([(1, "a", 1.0)]), primary_key="id", columns=["email", "phone"])
    model = _model([(1, "a", 1.0)], names=("id", "__send__x", "score"))
    with pytest.raises(ConfigError, match="reserves"):
        compute_diff(store, "s", model, primary_key="id", columns=["__send__x"])


def test_rejected_rows_are_resent(store: StateStore) -> None:
    rows = [(1, "a", 1.0), (2, "b", 2.0), (3, "c", 3.0)]
    _sync(store, rows, accept=[1, 2])  # 3 rejected on its first run
    assert set(_snapshot(store)) == {1, 2}
    rows2 = [(1, "a", 1.0), (2, "B", 2.0), (3, "c", 3.0)]
    diff = _sync(store, rows2, accept=[1])  # 2's change and 3 rejected again (1 was not even sent)
    assert _sent(diff)[3] == {"kind": "new", "resend": True, "send": COLS, "email": "c", "score": 3.0}
    assert _snapshot(store)[2] == ("b", 2.0)  # rejected: keeps the old values
    diff = compute_diff(store, "s", _model(rows2), primary_key="id", columns=COLS)
    sent = _sent(diff)
    assert sent[2]["kind"] == "changed" and sent[2]["resend"] and sent[2]["send"] == ["email"]
    assert sent[3]["kind"] == "new" and diff.counts.resent == 2
    advance_snapshot(store, diff, [2, 3])
    assert compute_diff(store, "s", _model(rows2), primary_key="id", columns=COLS).counts.to_send == 0
    info = store.snapshots.current("s")
    assert info is not None and info.rejected == 0 and info.rows == 3


def test_full_resync_sends_all_and_a_rejected_unchanged_row_is_resent_in_full(store: StateStore) -> None:
    rows = [(1, "a", 1.0), (2, "b", 2.0)]
    _sync(store, rows)
    diff = compute_diff(
        store, "s", _model([*rows, (3, "c", 3.0)]), primary_key="id", columns=COLS, full_resync=True
    )
    sent = _sent(diff)
    assert {k: (v["kind"], v["send"]) for k, v in sent.items()} == {
        1: ("changed", COLS),
        2: ("changed", COLS),
        3: ("new", COLS),
    }
    advance_snapshot(store, diff, [1, 3])
    # 2 equals its snapshot values but Salesforce refused it: it goes again, every field
    sent = _sent(compute_diff(store, "s", _model([*rows, (3, "c", 3.0)]), primary_key="id", columns=COLS))
    assert sent == {2: {"kind": "changed", "resend": True, "send": COLS, "email": "b", "score": 2.0}}


def test_rows_leaving_the_model_drop_out_and_come_back_as_new(store: StateStore) -> None:
    _sync(store, [(1, "a", 1.0), (2, "b", 2.0), (3, "c", 3.0)])
    diff = _sync(store, [(1, "a", 1.0), (3, "c", 3.0)])
    assert diff.counts.gone == 1 and diff.counts.to_send == 0
    assert set(_snapshot(store)) == {1, 3}
    diff = compute_diff(
        store, "s", _model([(1, "a", 1.0), (2, "b", 2.0), (3, "c", 3.0)]), primary_key="id", columns=COLS
    )
    assert _sent(diff)[2]["kind"] == "new"


def test_unchanged_rerun_reuses_the_snapshot_file(store: StateStore) -> None:
    rows = [(i, f"e{i}", float(i)) for i in range(1000)]
    _sync(store, rows)
    before = store.snapshots.current("s")
    diff = _sync(store, rows)
    after = store.snapshots.current("s")
    assert diff.counts.to_send == 0 and diff.counts.unchanged == 1000
    assert before is not None and after is not None and after.generation == before.generation + 1
    assert after.rows == 1000 and after.snapshot_path.stat().st_nlink >= 1


def test_accepted_keys_as_text_and_stale_diffs(store: StateStore) -> None:
    diff = compute_diff(store, "s", _model([(1, "a", 1.0), (2, "b", 2.0)]), primary_key="id", columns=COLS)
    other = compute_diff(store, "s", _model([(1, "a", 1.0)]), primary_key="id", columns=COLS)
    # keys read back from row results are text
    info = advance_snapshot(store, diff, pa.table({"primary_key": ["1", "2"]}), discard=False)
    assert info.rows == 2 and info.rejected == 0
    with pytest.raises(StateError, match="generation 0, but the snapshot is now at 1"):
        advance_snapshot(store, other, [1])


def test_diff_survives_a_crash_and_is_found_again(store: StateStore) -> None:
    diff = compute_diff(store, "s", _model([(1, "a", 1.0)]), primary_key="id", columns=COLS)
    [found] = pending_diffs(store, "s")
    assert found == diff and found.read_all().equals(diff.read_all())
    assert diff.sample(5).num_rows == 1 and diff.rows().read_all().num_rows == 1
    advance_snapshot(store, found, [1])
    assert pending_diffs(store, "s") == []


def test_primary_key_change_sends_everything(store: StateStore) -> None:
    names = ("id", "email", "score")
    _sync(store, [(1, "a", 1.0)])
    diff = compute_diff(store, "s", _model([(1, "a", 1.0)], names), primary_key="email", columns=["score"])
    assert diff.counts.new == 1
    info = advance_snapshot(store, diff, ["a"])
    assert info.primary_key == "email" and info.rows == 1


def test_a_small_memory_limit_is_enough(store: StateStore) -> None:
    n = 300_000
    table = pa.table(
        {
            "id": pa.array(range(n)),
            "email": pa.array([f"user{i}@example.com" * 3 for i in range(n)]),
            "score": pa.array([float(i) for i in range(n)]),
        }
    )
    small = DiffSettings(memory_limit="100MB", threads=1)
    diff = compute_diff(store, "s", table, primary_key="id", columns=COLS, settings=small)
    advance_snapshot(store, diff, diff.read_all().column("id"), settings=small)
    changed = table.set_column(2, "score", pa.array([float(i) + (i % 100 == 0) for i in range(n)]))
    diff = compute_diff(store, "s", changed, primary_key="id", columns=COLS, settings=small)
    assert diff.counts.changed == n // 100 and diff.counts.unchanged == n - n // 100


def test_engine_failures_say_what_to_change(store: StateStore) -> None:
    n = 200_000
    table = pa.table({"id": pa.array(range(n)), "email": pa.array(["x" * 50] * n), "score": [1.0] * n})
    with pytest.raises(StateError, match=r"(?s)failed in DuckDB.*raise state.diff_memory_limit"):
        compute_diff(
            store, "s", table, primary_key="id", columns=COLS, settings=DiffSettings(memory_limit="1MB")
        )
    assert pending_diffs(store, "s") == []


def test_snapshot_from_another_duckdb_version_is_compared_by_value(store: StateStore) -> None:
    rows = [(1, "a", 1.0), (2, "b", 2.0), (3, None, 3.0)]
    _sync(store, rows).discard()
    info = store.snapshots.current("s")
    assert info is not None
    pointer = info.directory / "CURRENT"
    pointer.write_text(pointer.read_text().replace(info.hash_version, "duckdb-0.0.1-hash-v1"))
    diff = compute_diff(
        store, "s", _model([(1, "a", 1.0), (2, "b", 2.5), (3, None, 3.0)]), primary_key="id", columns=COLS
    )
    assert {k: v["send"] for k, v in _sent(diff).items()} == {2: ["score"]}
    after = advance_snapshot(store, diff, [2])
    assert after.hash_version == info.hash_version  # rehashed with this DuckDB
    assert (
        compute_diff(
            store, "s", _model([(1, "a", 1.0), (2, "b", 2.5), (3, None, 3.0)]), primary_key="id", columns=COLS
        ).counts.to_send
        == 0
    )


def test_spill_directories_of_dead_processes_are_removed(store: StateStore) -> None:
    dead = store.paths.tmp / "duckdb-999999999-old"
    (dead / "sub").mkdir(parents=True)
    compute_diff(store, "s", _model([(1, "a", 1.0)]), primary_key="id", columns=COLS)
    assert not dead.exists()
    assert list(store.paths.tmp.iterdir()) == []


def test_advance_is_idempotent_after_a_crash_before_discard(store: StateStore) -> None:
    diff = compute_diff(store, "s", _model([(1, "a", 1.0), (2, "b", 2.0)]), primary_key="id", columns=COLS)
    first = advance_snapshot(store, diff, pa.array(["1"]), discard=False)  # text keys, as row_results has
    again = advance_snapshot(store, DiffResult.open(diff.work_dir), [1, 2])
    assert again == first and first.rows == 1 and first.rejected == 1
    assert pending_diffs(store, "s") == []


def test_accepted_keys_from_row_results(store: StateStore) -> None:
    diff = compute_diff(store, "s", _model([(1, "a", 1.0), (2, "b", 2.0)]), primary_key="id", columns=COLS)
    run = store.start_run("s")
    store.record_results(
        run.id, pa.table({"primary_key": [1, 2], "success": [True, False]}), operation="upsert"
    )
    assert store.accepted_keys(run.id).to_pylist() == ["1"]
    info = advance_snapshot(store, diff, store.accepted_keys(run.id))
    assert info.rows == 1 and set(_snapshot(store)) == {1}


def test_empty_model_and_key_only_sync(store: StateStore) -> None:
    _sync(store, [(1, "a", 1.0), (2, "b", 2.0)], columns=["id"]).discard()
    diff = compute_diff(store, "s", _model([]), primary_key="id", columns=["id"])
    assert (diff.counts.rows, diff.counts.gone, diff.counts.to_send, diff.counts.previous_rows) == (
        0,
        2,
        0,
        2,
    )
    info = advance_snapshot(store, diff, [])
    assert info.rows == 0
    diff = compute_diff(store, "s", _model([(3, "c", 3.0)]), primary_key="id", columns=["id"])
    assert _sent(diff) == {3: {"kind": "new", "resend": False, "send": ["id"], "id": 3}}


def test_a_source_failing_mid_stream_is_a_source_error(store: StateStore) -> None:
    schema = pa.schema([("id", pa.int64()), ("email", pa.string()), ("score", pa.float64())])

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch([[1], ["a"], [1.0]], schema=schema)
        raise ConnectionError("server closed the connection unexpectedly")

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    with pytest.raises(SourceError, match=r"(?s)reading model `customers` failed.*closed the connection"):
        compute_diff(store, "s", reader, primary_key="id", columns=COLS, model="customers")
    assert pending_diffs(store, "s") == [] and store.snapshots.current("s") is None
