"""Ctrl-C while DuckDB reads a Python stream of record batches.

When SIGINT lands during a query, DuckDB's Python client notices it (it checks Python's signals while it
waits: the SIGINT handler raises KeyboardInterrupt), cancels the query and raises
``RuntimeError("Query interrupted")`` (``sfsync.errors.is_interrupt``). Cancelling waits for the query's
running tasks, and a task scanning a Python stream (the model read into the diff: a generator over the
source's cursor) ends only when the stream does. So a Ctrl-C during the read of a large model waited for
the whole model to be read, and for ever with an endless one (measured: a 100-billion-row model's
``sfsync run`` still ran 120 s after SIGINT at 107% CPU, the main thread in ``Executor::CancelTasks``).

:func:`interruptible` closes that gap: while DuckDB scans the stream, SIGINT first sets an event and then
runs the handler that was there before (so Ctrl-C behaves as it did); the stream raises at its next batch
once the event is set, so the cancelled scan ends within one batch. The stream never ends early without
an error: a short read would look like rows that left the model.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import pyarrow as pa

STOPPED = "the read was stopped by Ctrl-C"


class Stream:
    """A record-batch stream DuckDB may scan; ``stopped`` once a Ctrl-C asked it to stop."""

    def __init__(self, reader: pa.RecordBatchReader | pa.Table) -> None:
        self.reader = reader
        self._stop = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()


@contextmanager
def interruptible(reader: pa.RecordBatchReader | pa.Table) -> Iterator[Stream]:
    """``reader`` as a stream that stops at its next batch after a SIGINT, for the duration of the block.

    Only in the main thread (the only one Python runs signal handlers in) and only when SIGINT has a
    Python handler (not ignored, not the OS default); otherwise, and for a table (DuckDB scans it without
    Python), the stream is ``reader`` as it is."""
    previous = signal.getsignal(signal.SIGINT)
    in_main = threading.current_thread() is threading.main_thread()
    if isinstance(reader, pa.Table) or not in_main or not callable(previous):
        yield Stream(reader)
        return
    stream = Stream(reader)
    stop = stream._stop

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        stop.set()
        previous(signum, frame)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            if stop.is_set():
                raise KeyboardInterrupt(STOPPED)
            yield batch

    stream.reader = pa.RecordBatchReader.from_batches(reader.schema, batches())
    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stream
    finally:
        signal.signal(signal.SIGINT, previous)
