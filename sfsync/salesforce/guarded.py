"""A view of a transport whose every call first asks the caller whether it may still be sent.

The sync engine runs each sync under a run lock; with the PostgreSQL state backend the lock is a lease
that a stalled or cut-off worker can lose to another worker (``sfsync.state.lease``). From then on that
run must not send anything: the new owner settles what it left. The client is shared by every run of a
process, so the check cannot live on it: :meth:`SalesforceClient.guarded` hands a run its own view, whose
transport runs ``check`` before each attempt of each call (every retry, poll and token request too), and
its sObject Collections run it again before handing a chunk's answer to ``on_chunk``. A ``check`` that
raises stops the call before it is sent (or the answer before the caller stores it: once the lease is
lost, the worker that took over settles those rows from the journal); chunks and Bulk jobs then stop as
after any other error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from sfsync.salesforce.collections import ChunkCallback, Collections, Operation
from sfsync.salesforce.results import RecordResult
from sfsync.salesforce.transport import Transport


class GuardedTransport(Transport):
    """``inner`` itself (same session, limits, counters, HTTP connections), with ``check`` run first.

    The view shares the inner transport's instance dictionary, so a session refreshed or a quota
    noticed through the view is the inner one's too; only the check is the view's own. Closing the
    view closes nothing (the inner transport belongs to its client)."""

    __slots__ = ("_check",)

    def __init__(self, inner: Transport, check: Callable[[], None]) -> None:  # no super().__init__: a view
        self.__dict__ = inner.__dict__
        self._check = check

    def _guard(self, new_work: bool, what: str) -> None:
        self._check()
        super()._guard(new_work, what)

    def close(self) -> None:
        pass


class GuardedCollections(Collections):
    """sObject Collections through a :class:`GuardedTransport`, checking again before each ``on_chunk``."""

    def __init__(self, transport: GuardedTransport, executor: Callable[[], Executor]) -> None:
        super().__init__(transport, executor)
        self._check = transport._check

    def save(
        self,
        operation: Operation,
        object_name: str | None,
        records: Sequence[Mapping[str, Any]] | Sequence[str],
        *,
        on_chunk: ChunkCallback | None = None,
        **options: Any,
    ) -> list[RecordResult]:
        report = on_chunk
        if report is not None:

            def checked(got: list[RecordResult], report: ChunkCallback = report) -> None:
                self._check()
                report(got)

            report = checked
        return super().save(operation, object_name, records, on_chunk=report, **options)


__all__ = ["GuardedCollections", "GuardedTransport"]
