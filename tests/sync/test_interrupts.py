"""A Ctrl-C while DuckDB reads a Python stream stops the read within a batch (sfsync.sync.interrupts).

Real DuckDB, a real SIGINT: the stream itself sends the signal from DuckDB's scan thread once it has
produced a few batches, so the signal always lands while the main thread waits in ``execute``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import duckdb
import pyarrow as pa
import pytest

from sfsync.errors import SourceError, is_interrupt
from sfsync.state import StateStore
from sfsync.sync.diff import compute_diff
from sfsync.sync.interrupts import interruptible

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string())])
#: batches an endless stream may still produce after the signal before the test calls it a hang
GIVE_UP_AFTER = 2000
#: batches (of ~1 ms each) read after the signal: DuckDB notices a signal when it next checks Python's,
#: then the stream stops at its next batch (without ``interruptible`` the scan never ends)
STOPS_WITHIN = 200


class Endless:
    """An endless stream of batches that sends SIGINT to this process after its fifth batch."""

    def __init__(self) -> None:
        self.after_signal = 0

    def batches(self) -> Iterator[pa.RecordBatch]:
        n = 0
        while True:
            if n == 5:
                os.kill(os.getpid(), signal.SIGINT)
            elif n > 5:
                self.after_signal += 1
                time.sleep(0.001)  # a real source takes time per batch
                if self.after_signal > GIVE_UP_AFTER:
                    raise AssertionError("the stream was still read long after Ctrl-C")
            yield pa.record_batch(
                [pa.array(range(n * 1000, n * 1000 + 1000)), pa.array(["x"] * 1000)], SCHEMA
            )
            n += 1

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(SCHEMA, self.batches())


@pytest.fixture
def sigint_handler() -> Iterator[list[int]]:
    """SIGINT raises KeyboardInterrupt, as by default, and is counted; the test's own handler is put back."""
    seen: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGINT, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_ctrl_c_stops_the_diffs_read_of_an_endless_model_within_a_batch(
    tmp_path: Path, sigint_handler: list[int]
) -> None:
    endless = Endless()
    store = StateStore.open(tmp_path / ".sfsync")
    try:
        with pytest.raises(KeyboardInterrupt):
            compute_diff(store, "people", endless.reader(), primary_key="id", columns=["name"])
        assert sigint_handler == [signal.SIGINT]  # the handler that was there before still ran
        assert endless.after_signal <= STOPS_WITHIN
        assert not any(store.paths.work.rglob("*.parquet"))  # no diff left behind
        assert store.snapshots.current("people") is None
    finally:
        store.close()


def test_a_stream_told_to_stop_raises_at_its_next_batch(sigint_handler: list[int]) -> None:
    endless = Endless()
    con = duckdb.connect()
    with interruptible(endless.reader()) as stream:
        con.register("src", stream.reader)
        with pytest.raises(BaseException) as raised:  # the form depends on which thread read the batch
            con.execute("CREATE TABLE t AS SELECT id, hash(name) AS h FROM src")
        assert stream.stopped
    assert is_interrupt(raised.value) or "KeyboardInterrupt" in str(raised.value), raised.value
    assert endless.after_signal <= STOPS_WITHIN
    con.close()


def test_the_previous_handler_is_back_after_the_block(sigint_handler: list[int]) -> None:
    before = signal.getsignal(signal.SIGINT)
    table = pa.table({"id": [1, 2]})
    with interruptible(table) as stream:  # DuckDB scans a table without Python: nothing to stop
        assert stream.reader is table
        assert signal.getsignal(signal.SIGINT) is before
    reader = pa.RecordBatchReader.from_batches(SCHEMA, iter([]))
    with interruptible(reader) as stream:
        assert signal.getsignal(signal.SIGINT) is not before
        con = duckdb.connect()
        con.register("src", stream.reader)
        assert con.execute("SELECT count(*) FROM src").fetchone() == (0,)  # a stream that ends is read
    assert signal.getsignal(signal.SIGINT) is before and not stream.stopped


def test_outside_the_main_thread_the_stream_is_left_as_it_is() -> None:
    reader = pa.RecordBatchReader.from_batches(SCHEMA, iter([]))
    got: list[object] = []

    def in_thread() -> None:
        with interruptible(reader) as stream:
            got.append(stream.reader)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert got == [reader]


def test_ctrl_c_is_recognised_in_each_form_it_comes_back_in() -> None:
    assert is_interrupt(KeyboardInterrupt())
    assert is_interrupt(RuntimeError("Query interrupted"))  # what DuckDB raises after a SIGINT
    assert is_interrupt(duckdb.InterruptException("INTERRUPT Error: Interrupted!"))
    try:
        try:
            raise RuntimeError("Query interrupted")
        except RuntimeError as exc:
            raise SourceError("reading model `people` failed") from exc
    except SourceError as wrapped:
        assert is_interrupt(wrapped)
    assert not is_interrupt(RuntimeError("something else"))
    assert not is_interrupt(SourceError("reading model `people` failed: Catalog Error"))
    assert not is_interrupt(None)
