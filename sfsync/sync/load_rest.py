"""The REST loader: rows through sObject Collections, each batch journaled before it is sent.

The client splits a batch into calls of 200 records and runs several at once; outcomes are stored after
each call returns, so rows accepted before an error are never lost. With a journal, a batch is recorded
before it is sent and marked done once every record that may have been written has its outcome (crash
recovery: ``sfsync.sync.inflight``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from sfsync.errors import SalesforceError
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.responses import CONNECTION_ERROR
from sfsync.salesforce.results import RecordResult
from sfsync.sync import outcomes
from sfsync.sync.encode import encode_json_records
from sfsync.sync.target import PK, LoadStats, OutcomeSink, Target


class BatchJournal(Protocol):
    """Journals a REST batch before it is sent (``sfsync.sync.inflight.RestJournal``)."""

    def before(self, table: pa.Table) -> str: ...

    def done(self, batch_id: str) -> None: ...

    def lost(self, batch_id: str, failed: pa.Table) -> pa.Table:
        """Outcomes of rows whose call may have reached Salesforce but got no answer (``failed``: their
        failure outcomes): the rows found written in the org become accepted, the others stay failed."""
        ...


def _rebatch(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    size = 0
    for b in batches:
        pending.append(b)
        size += b.num_rows
        if size >= rows:
            table = pa.Table.from_batches(pending)
            for start in range(0, table.num_rows, rows):
                part = table.slice(start, rows)
                if part.num_rows == rows:
                    yield part
                else:
                    pending, size = list(part.to_batches()), part.num_rows
                    break
            else:
                pending, size = [], 0
    if size:
        yield pa.Table.from_batches(pending)


def load_rest(
    client: SalesforceClient,
    target: Target,
    batches: Iterable[pa.RecordBatch],
    sink: OutcomeSink,
    *,
    batch_rows: int = 2000,
    journal: BatchJournal | None = None,
) -> LoadStats:
    """Send rows through sObject Collections, ``batch_rows`` at a time (outcomes stored after each chunk).

    With a ``journal``, each batch is journaled before it is sent and marked done once every record that
    may have been written has its outcome stored, so crash recovery knows which rows were in flight.
    """
    for table in _rebatch(batches, batch_rows):
        keys = [str(k) for k in table.column(PK).to_pylist()]
        records = encode_json_records(table, target.maps, target.key)

        unanswered: list[pa.Table] = []

        def chunk_done(
            results: list[RecordResult], keys: list[str] = keys, unanswered: list[pa.Table] = unanswered
        ) -> None:
            # stored per chunk, so rows accepted before a LimitError/AuthError are never lost
            chunk_keys = [keys[r.index] for r in results]
            got = outcomes.from_record_results(chunk_keys, results, target.mode)
            if journal is not None and target.mode == "insert":
                # a create whose answer never came may have been applied: settled after the batch
                lost = pc.fill_null(pc.equal(got.column("error_code"), CONNECTION_ERROR), False)
                unanswered.append(got.filter(lost))
                got = got.filter(pc.invert(lost))
            sink(got, None)

        batch = journal.before(table) if journal is not None else None
        try:
            _send_rest(client, target, records, chunk_done)
        except SalesforceError:
            # the collections call reported every record that may have been written before raising
            _settle_batch(journal, batch, unanswered, sink)
            raise
        _settle_batch(journal, batch, unanswered, sink)
    return LoadStats()


def _settle_batch(
    journal: BatchJournal | None, batch: str | None, unanswered: list[pa.Table], sink: OutcomeSink
) -> None:
    """Every record of the batch that may have been written has its outcome: mark the batch done."""
    if journal is None or batch is None:
        return
    lost = pa.concat_tables(unanswered) if unanswered else None
    if lost is not None and lost.num_rows:
        sink(journal.lost(batch, lost), None)
    journal.done(batch)


def _send_rest(
    client: SalesforceClient,
    target: Target,
    records: list[dict[str, Any]],
    chunk_done: Callable[[list[RecordResult]], None],
) -> None:
    options = target.save_options  # always said: REST would otherwise run assignment rules
    if target.mode == "insert":
        client.create(target.object, records, on_chunk=chunk_done, options=options)
    elif target.mode == "delete":  # DELETE /composite/sobjects?ids=… (to the recycle bin)
        client.delete([str(r["Id"]) for r in records], on_chunk=chunk_done)
    elif target.bulk_operation == "update":
        client.update(target.object, records, on_chunk=chunk_done, options=options)
    else:
        assert target.key_field is not None
        client.upsert(target.object, target.key_field, records, on_chunk=chunk_done, options=options)


__all__ = ["BatchJournal", "load_rest"]
