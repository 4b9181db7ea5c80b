"""sObject Collections: create, update, upsert and delete in chunks of at most 200, chunks in parallel.

Every input record gets exactly one :class:`RecordResult`, at its input position. Records that failed with
``UNABLE_TO_LOCK_ROW`` are sent again (only those, after a backoff) up to ``max_retries`` times.

Failures of a whole chunk:
- transient (retries exhausted): the chunk's records come back failed with that code (``SERVER_UNAVAILABLE``,
  ``CONNECTION_ERROR`` …), the other chunks' results stand;
- quota, auth, configuration: no further chunk is sent, chunks in flight finish, then the error is raised.
  Every record that may have been written is reported to ``on_chunk`` before that (records whose lock
  retry was cut short come back failed with the error's code): callers that must account for each
  accepted record (the sync engine) record results from ``on_chunk``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from decimal import Decimal
from typing import Any, Literal

from sfsync.errors import SalesforceError, TransientError
from sfsync.salesforce.names import path_segment
from sfsync.salesforce.responses import collection_results
from sfsync.salesforce.results import RETRYABLE_RECORD_CODES, RecordError, RecordResult
from sfsync.salesforce.transport import Transport

log = logging.getLogger("sfsync.salesforce")

Operation = Literal["create", "update", "upsert", "delete"]
ChunkCallback = Callable[[list[RecordResult]], None]
#: A chunk's results, and the error that must stop the whole call (quota, auth, configuration), if any.
ChunkOutcome = tuple[list[RecordResult], SalesforceError | None]


def dumps(body: Any) -> bytes:
    """JSON for Salesforce: dates and datetimes as ISO 8601; a ``Decimal`` written digit for digit (never
    through a binary float, which keeps about 16 significant digits); NaN and infinities refused with
    ValueError (JSON has none). The C encoder does the work: each Decimal goes out as a string tagged
    with a random nonce, and the tagged strings are turned back into bare numbers."""
    nonce: str | None = None

    def default(value: Any) -> Any:
        nonlocal nonce
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"{value} is not a number JSON can carry")
            nonce = nonce or uuid.uuid4().hex
            return f"{nonce}:{format(value, 'f')}"
        if isinstance(value, dt.datetime):
            return value.isoformat(timespec="milliseconds")
        if isinstance(value, dt.date | dt.time):
            return value.isoformat()
        raise TypeError(f"cannot send a value of type {type(value).__name__} to Salesforce")

    try:
        text = json.dumps(body, default=default, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"not a number JSON can carry: {exc}") from None
    if nonce is not None:
        text = re.sub(f'"{nonce}:(-?[0-9]+(?:\\.[0-9]+)?)"', r"\1", text)
    return text.encode()


def _check_arguments(operation: Operation, object_name: str | None, external_id_field: str | None) -> None:
    if operation in ("create", "update", "upsert") and not object_name:
        raise ValueError(f"{operation} needs the object name")
    if operation == "upsert" and not external_id_field:
        raise ValueError("upsert needs external_id_field (an External ID field, or Id)")


def _cancel(futures: list[Future[ChunkOutcome]]) -> None:
    for future in futures:
        future.cancel()


def _collect_in_flight(
    futures: list[Future[ChunkOutcome]],
    done: set[Future[ChunkOutcome]],
    collect: Callable[[list[RecordResult]], None],
) -> None:
    """Wait for the chunks already sent (not seen yet, not cancelled) and collect what they wrote."""
    for future in futures:
        if future in done or future.cancelled():
            continue
        try:
            got, _error = future.result()
            collect(got)
        except BaseException:  # the first error is the one to raise
            pass


class Collections:
    """sObject Collections calls on one transport, chunks run on ``executor``."""

    def __init__(self, transport: Transport, executor: Callable[[], Executor]) -> None:
        self._transport = transport
        self._executor = executor

    def save(
        self,
        operation: Operation,
        object_name: str | None,
        records: Sequence[Mapping[str, Any]] | Sequence[str],
        *,
        external_id_field: str | None = None,
        all_or_none: bool = False,
        on_chunk: ChunkCallback | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[RecordResult]:
        """Send ``records`` (ids for delete) and return one result per input, in input order. ``headers``
        go on every call (``SaveOptions.rest_headers``: assignment and duplicate rules)."""
        _check_arguments(operation, object_name, external_id_field)
        size = self._transport.settings.collection_chunk_size
        items = list(enumerate(records))
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        results: dict[int, RecordResult] = {}

        def run(chunk: list[tuple[int, Any]]) -> ChunkOutcome:
            return self._chunk(operation, object_name, external_id_field, all_or_none, chunk, headers)

        def collect(got: list[RecordResult]) -> None:
            for r in got:
                results[r.index] = r
            if got and on_chunk is not None:
                on_chunk(got)

        stop: SalesforceError | None = None
        if len(chunks) == 1:
            got, stop = run(chunks[0])
            collect(got)
        elif chunks:
            stop = self._run_in_parallel(chunks, run, collect)
        if stop is not None:
            raise stop
        return [results[i] for i in range(len(items))]

    def _run_in_parallel(
        self,
        chunks: list[list[tuple[int, Any]]],
        run: Callable[[list[tuple[int, Any]]], ChunkOutcome],
        collect: Callable[[list[RecordResult]], None],
    ) -> SalesforceError | None:
        """Run the chunks at once and collect each one's results as it finishes. The first quota, auth or
        configuration error cancels the chunks not started yet and is returned (raised by the caller)."""
        futures = [self._executor().submit(run, chunk) for chunk in chunks]
        done: set[Future[ChunkOutcome]] = set()
        stop: SalesforceError | None = None
        try:
            for future in as_completed(futures):
                done.add(future)
                if future.cancelled():
                    continue
                got, error = future.result()
                collect(got)
                if error is not None and stop is None:  # quota, auth, configuration: send nothing more
                    stop = error
                    _cancel(futures)
        except BaseException:
            # Ctrl-C, or the caller's on_chunk failed: send nothing more, but report what the calls
            # already on the wire wrote, so that no written record goes unreported (no duplicates later)
            _cancel(futures)
            _collect_in_flight(futures, done, collect)
            raise
        return stop

    # ---- one chunk ----------------------------------------------------------------------------------
    def _chunk(
        self,
        operation: Operation,
        object_name: str | None,
        external_id_field: str | None,
        all_or_none: bool,
        chunk: list[tuple[int, Any]],
        headers: Mapping[str, str] | None = None,
    ) -> tuple[list[RecordResult], SalesforceError | None]:
        """The chunk's results (lock failures re-sent), and the error that must stop the whole call, if any.

        Results are returned whenever some record of the chunk may have been written, so that no accepted
        record goes unreported; an error before anything was sent returns no results.
        """
        transport = self._transport
        final: dict[int, RecordResult] = {}
        pending = chunk
        attempt = 1
        while True:
            try:
                got = self._send(
                    operation, object_name, external_id_field, all_or_none, pending, attempt, headers
                )
            except TransientError as exc:  # retries exhausted: these records failed, other chunks stand
                final.update((r.index, r) for r in _failed(pending, exc, attempt))
                return [final[i] for i, _ in chunk], None
            except SalesforceError as exc:
                if not final:
                    return [], exc
                final.update((r.index, r) for r in _failed(pending, exc, attempt))
                return [final[i] for i, _ in chunk], exc
            final.update((r.index, r) for r in got)
            failed = [r for r in got if not r.success]
            retry = [r for r in failed if r.retryable]
            if all_or_none and len(retry) != len(failed):
                retry = []  # a record fails for good, so the whole call would roll back again
            if not any(c in RETRYABLE_RECORD_CODES for r in retry for c in r.error_codes):
                retry = []  # only rollback collateral is left: nothing to wait for
            if not retry or attempt > transport.settings.max_retries:
                return [final[i] for i, _ in chunk], None
            wait = transport.backoff_delay(attempt)
            log.warning(
                "%d record(s) of %s failed with UNABLE_TO_LOCK_ROW; sending them again in %.2fs "
                "(retry %d of %d)",
                len(retry),
                object_name or "delete",
                wait,
                attempt,
                transport.settings.max_retries,
            )
            transport.counters.add("record_retries", len(retry))
            again = {r.index for r in retry}
            pending = [item for item in chunk if item[0] in again]
            attempt += 1
            transport.sleep(wait)

    def _send(
        self,
        operation: Operation,
        object_name: str | None,
        external_id_field: str | None,
        all_or_none: bool,
        chunk: list[tuple[int, Any]],
        attempt: int,
        headers: Mapping[str, str] | None = None,
    ) -> list[RecordResult]:
        transport = self._transport
        indexes = [i for i, _ in chunk]
        what = f"{operation} {len(chunk)} {object_name or 'record'}(s) through sObject Collections"
        if operation == "delete":
            ids = ",".join(str(rec) for _, rec in chunk)
            response = transport.request(
                "DELETE",
                "composite/sobjects",
                params={"ids": ids, "allOrNone": str(all_or_none).lower()},
                what=what,
            )
        else:
            body = {
                "allOrNone": all_or_none,
                "records": [{"attributes": {"type": object_name}, **rec} for _, rec in chunk],
            }
            method, path = (
                ("POST", "composite/sobjects") if operation == "create" else ("PATCH", "composite/sobjects")
            )
            if operation == "upsert":
                obj, key = path_segment(str(object_name)), path_segment(str(external_id_field), "field")
                path = f"composite/sobjects/{obj}/{key}"
            response = transport.request(
                method,
                path,
                content=dumps(body),
                headers={"Content-Type": "application/json", **(headers or {})},
                what=what,
                object=object_name,
            )
        return collection_results(response.json(), indexes, attempts=attempt)


def _failed(chunk: list[tuple[int, Any]], exc: SalesforceError, attempts: int) -> list[RecordResult]:
    error = RecordError(exc.code or type(exc).__name__, exc.message)
    return [
        RecordResult(index=i, id=None, success=False, errors=(error,), attempts=attempts) for i, _ in chunk
    ]


__all__ = ["ChunkCallback", "Collections", "Operation", "dumps"]
