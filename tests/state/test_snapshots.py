"""Snapshot files: atomic swaps that survive a crash at any point, generation checks, names."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfsync.errors import ConfigError, StateError
from sfsync.state import SnapshotStore, check_sync_name

ROOT = Path(__file__).resolve().parents[2]


def _publish(store: SnapshotStore, sync: str, generation_value: int, rows: int = 100) -> None:
    base = store.current(sync)
    pending = store.begin(sync, base)
    pq.write_table(pa.table({"id": range(rows), "gen": [generation_value] * rows}), pending.snapshot_tmp)
    pq.write_table(pa.table({"id": [1]}), pending.rejected_tmp)
    store.publish(
        pending,
        primary_key="id",
        columns=("gen",),
        types={"id": "BIGINT", "gen": "BIGINT"},
        hash_version="test",
        rows=rows,
        rejected=1,
    )


def test_crash_between_temp_write_and_rename_keeps_the_old_snapshot(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    assert store.current("s") is None
    _publish(store, "s", 1)
    # a writer that dies after writing its temp files but before publishing
    pending = store.begin("s", store.current("s"))
    pq.write_table(pa.table({"id": [1], "gen": [2]}), pending.snapshot_tmp)
    info = store.current("s")
    assert info is not None and info.generation == 1
    assert pq.read_table(info.snapshot_path).column("gen").to_pylist() == [1] * 100
    # the next writer clears the leftovers and publishes normally
    _publish(store, "s", 2)
    assert not pending.snapshot_tmp.exists()
    info = store.current("s")
    assert info is not None and info.generation == 2 and info.rows == 100 and info.rejected == 1
    _publish(store, "s", 3)
    # each generation's files carry a random tag (a name is never reused for other content)
    names = sorted(re.sub(r"-[0-9a-f]{8}\.", ".", p.name) for p in (tmp_path / "s").glob("*.parquet"))
    assert names == [
        "rejected-000002.parquet",
        "rejected-000003.parquet",
        "snapshot-000002.parquet",
        "snapshot-000003.parquet",
    ]


def test_publish_refuses_a_writer_that_started_from_an_old_generation(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    _publish(store, "s", 1)
    stale = store.begin("s", None)  # believes there is no snapshot yet
    pq.write_table(pa.table({"id": [1]}), stale.snapshot_tmp)
    pq.write_table(pa.table({"id": [1]}), stale.rejected_tmp)
    with pytest.raises(StateError, match="moved to generation 1"):
        store.publish(stale, primary_key="id", columns=(), types={}, hash_version="t", rows=1, rejected=0)
    current = store.current("s")
    assert current is not None and current.generation == 1


def test_reset_forgets_the_snapshot(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    _publish(store, "s", 1)
    store.reset("s")
    assert store.current("s") is None
    assert list((tmp_path / "s").glob("*.parquet")) == []


def test_sync_names_are_safe_file_names() -> None:
    assert check_sync_name("vip_contacts-2.eu") == "vip_contacts-2.eu"
    for bad in ("../x", "a/b", "", ".hidden", "x" * 129, "a b"):
        with pytest.raises(ConfigError):
            check_sync_name(bad)


WRITER = textwrap.dedent(
    """
    import sys
    import pyarrow as pa, pyarrow.parquet as pq
    from pathlib import Path
    from sfsync.state import SnapshotStore
    store = SnapshotStore(Path(sys.argv[1]))
    print("ready", flush=True)
    while True:
        base = store.current("s")
        gen = (base.generation if base else 0) + 1
        pending = store.begin("s", base)
        n = 50_000 + gen
        pq.write_table(pa.table({"id": range(n), "gen": [gen] * n}), pending.snapshot_tmp)
        pq.write_table(pa.table({"id": [gen]}), pending.rejected_tmp)
        store.publish(pending, primary_key="id", columns=("gen",), types={"id": "BIGINT", "gen": "BIGINT"},
                      hash_version="test", rows=n, rejected=1)
    """
)


@pytest.mark.slow
def test_readers_never_see_half_a_snapshot_when_the_writer_is_killed(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    rng = random.Random(5)
    seen: set[int] = set()
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + rng.uniform(0.05, 0.6)
        while time.monotonic() < deadline:  # read while it writes
            _check_consistent(store, seen)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        _check_consistent(store, seen)
    assert len(seen) > 3  # generations advanced across kills


def _check_consistent(store: SnapshotStore, seen: set[int]) -> None:
    info = store.current("s")
    if info is None:
        return
    try:
        table = pq.read_table(info.snapshot_path)
        rejected = pq.read_table(info.rejected_path)
    except FileNotFoundError:  # two newer generations were published meanwhile and dropped this one
        newer = store.current("s")
        assert newer is not None and newer.generation >= info.generation + 2
        return
    assert table.num_rows == info.rows == 50_000 + info.generation
    assert set(table.column("gen").to_pylist()) == {info.generation}
    assert rejected.column("id").to_pylist() == [info.generation]
    seen.add(info.generation)
