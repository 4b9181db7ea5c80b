"""Bulk API 2.0: ingest jobs (create, upload CSV, close, poll, results, abort, delete, list) and query jobs.

Typical ingest: ``run(object, operation, csv, on_created=journal)`` creates the job, tells the caller its id
(so a crash can be recovered from), uploads, closes (``on_uploaded``/``on_closed`` tell the caller each
step as it happens) and polls with a growing interval until the job is
``JobComplete``, ``Failed`` or ``Aborted``. Results come as Arrow tables of string columns
(:meth:`BulkIngest.results`) or raw CSV bytes (:meth:`BulkIngest.open_results`). ``run_many`` keeps up
to ``max_concurrency`` jobs in flight.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from sfsync.errors import SalesforceConfigError, SalesforceError, TransientError
from sfsync.salesforce.csvtable import DELIMITERS, read_csv_table
from sfsync.salesforce.retry import poll_intervals
from sfsync.salesforce.transport import Transport

IngestOperation = Literal["insert", "update", "upsert", "delete", "hardDelete"]
ResultKind = Literal["successful", "failed", "unprocessed"]
FINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
_RESULT_PATHS = {
    "successful": "successfulResults/",
    "failed": "failedResults/",
    "unprocessed": "unprocessedrecords/",
}
# Results are spooled to a temporary file past this many bytes (keeps memory flat for big jobs).
SPOOL_MEMORY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class BulkJob:
    """A Bulk API 2.0 job as Salesforce last described it."""

    id: str
    state: str
    object: str | None = None
    operation: str | None = None
    job_type: str | None = None
    records_processed: int = 0
    records_failed: int = 0
    error_message: str | None = None
    column_delimiter: str = "COMMA"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "JobComplete"

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> BulkJob:
        return cls(
            id=str(body["id"]),
            state=str(body.get("state", "")),
            object=body.get("object"),
            operation=body.get("operation"),
            job_type=body.get("jobType"),
            records_processed=int(body.get("numberRecordsProcessed") or 0),
            records_failed=int(body.get("numberRecordsFailed") or 0),
            error_message=body.get("errorMessage") or None,
            column_delimiter=str(body.get("columnDelimiter") or "COMMA"),
            raw=body,
        )


@dataclass(frozen=True)
class IngestSpec:
    """One ingest job for :meth:`BulkIngest.run_many`. ``data`` is CSV bytes or the path of a CSV file."""

    object: str
    operation: IngestOperation
    data: bytes | Path = field(repr=False)
    external_id_field: str | None = None
    line_ending: Literal["LF", "CRLF"] = "LF"
    column_delimiter: str = "COMMA"
    assignment_rule_id: str | None = None


def _size(data: bytes | Path) -> int:
    return len(data) if isinstance(data, bytes | bytearray) else data.stat().st_size


class _Jobs:
    """What ingest and query jobs share: get, wait, abort, delete, list."""

    kind: str = "ingest"

    def __init__(self, transport: Transport, executor: Callable[[], Executor]) -> None:
        self._transport = transport
        self._executor = executor

    def _path(self, job_id: str = "", suffix: str = "") -> str:
        path = f"jobs/{self.kind}"
        if job_id:
            path += f"/{job_id}"
        return path + (f"/{suffix}" if suffix else "")

    def get(self, job_id: str) -> BulkJob:
        body = self._transport.request(
            "GET", self._path(job_id), new_work=False, what=f"get Bulk {self.kind} job", job_id=job_id
        ).json()
        return BulkJob.from_json(body)

    def _set_state(self, job_id: str, state: str) -> BulkJob:
        body = self._transport.request(
            "PATCH",
            self._path(job_id),
            json={"state": state},
            new_work=False,
            what=f"set Bulk {self.kind} job state to {state}",
            job_id=job_id,
        ).json()
        return BulkJob.from_json(body)

    def abort(self, job_id: str) -> BulkJob:
        return self._set_state(job_id, "Aborted")

    def delete(self, job_id: str) -> None:
        self._transport.request(
            "DELETE", self._path(job_id), new_work=False, what=f"delete Bulk {self.kind} job", job_id=job_id
        )

    def list(self) -> list[BulkJob]:
        """Every job of this kind the org lists (all pages)."""
        jobs: list[BulkJob] = []
        path = self._path()
        while path:
            body = self._transport.request(
                "GET", path, new_work=False, what=f"list Bulk {self.kind} jobs"
            ).json()
            jobs.extend(BulkJob.from_json(r) for r in body.get("records", ()))
            path = "" if body.get("done", True) else (body.get("nextRecordsUrl") or "")
        return jobs

    def wait(
        self,
        job_id: str,
        *,
        timeout_seconds: float | None = None,
        on_poll: Callable[[BulkJob], None] | None = None,
    ) -> BulkJob:
        """Poll until the job is JobComplete, Failed or Aborted; the wait between polls grows.

        ``on_poll`` is told the job as each poll describes it (state, records processed and failed)."""
        settings = self._transport.settings
        limit = settings.bulk_job_timeout_seconds if timeout_seconds is None else timeout_seconds
        deadline = time.monotonic() + limit
        for wait in poll_intervals(settings):
            job = self.get(job_id)
            if on_poll is not None:
                on_poll(job)
            if job.done:
                return job
            if time.monotonic() + wait > deadline:
                raise TransientError(
                    f"Bulk {self.kind} job {job_id} is still {job.state} after {limit:g}s",
                    code="BULK_JOB_TIMEOUT",
                    job_id=job_id,
                    object=job.object,
                    hint="the job keeps running in Salesforce: wait for it again later, abort it, or raise "
                    "bulk_job_timeout_seconds",
                )
            self._transport.sleep(wait)
        raise AssertionError("unreachable")


class BulkIngest(_Jobs):
    """Bulk API 2.0 ingest jobs."""

    kind = "ingest"

    def create_job(
        self,
        object_name: str,
        operation: IngestOperation,
        *,
        external_id_field: str | None = None,
        line_ending: Literal["LF", "CRLF"] = "LF",
        column_delimiter: str = "COMMA",
        assignment_rule_id: str | None = None,
    ) -> BulkJob:
        """``assignment_rule_id``: the AssignmentRule the job runs on its Case or Lead rows (API 49.0+);
        without it a Bulk job runs no assignment rule."""
        if operation == "upsert" and not external_id_field:
            raise SalesforceConfigError(
                f"a Bulk upsert into {object_name} needs external_id_field",
                object=object_name,
                hint="name the External ID field (or Id) that matches rows to records",
            )
        if column_delimiter not in DELIMITERS:
            raise ValueError(f"column_delimiter must be one of {', '.join(DELIMITERS)}")
        body: dict[str, Any] = {
            "object": object_name,
            "operation": operation,
            "contentType": "CSV",
            "lineEnding": line_ending,
            "columnDelimiter": column_delimiter,
        }
        if operation == "upsert":
            body["externalIdFieldName"] = external_id_field
        if assignment_rule_id:
            body["assignmentRuleId"] = assignment_rule_id
        job = self._transport.request(
            "POST", "jobs/ingest", json=body, what=f"create Bulk {operation} job", object=object_name
        ).json()
        return BulkJob.from_json(job)

    def check_size(self, data: bytes | Path, object_name: str | None = None) -> int:
        """Refuse data over ``bulk_max_upload_bytes`` (Salesforce takes 150 MB base64, about 100 MB raw)."""
        size = _size(data)
        limit = self._transport.settings.bulk_max_upload_bytes
        if size > limit:
            raise SalesforceConfigError(
                f"the CSV for one Bulk job is {size:,} bytes, over the {limit:,}-byte limit of one job",
                object=object_name,
                code="BULK_UPLOAD_TOO_LARGE",
                hint="split the rows into several jobs (Salesforce accepts at most 150 MB base64, "
                "about 100 MB raw CSV, per job)",
            )
        return size

    def upload(self, job_id: str, data: bytes | Path) -> None:
        """Upload the job's only CSV: bytes, or a file path (streamed from disk, never held in memory)."""
        self.check_size(data)
        self._transport.request(
            "PUT",
            self._path(job_id, "batches"),
            content=data if isinstance(data, Path) else bytes(data),
            headers={"Content-Type": "text/csv"},
            idempotent=False,
            new_work=False,
            what="upload CSV to Bulk job",
            job_id=job_id,
        )

    def close(self, job_id: str) -> BulkJob:
        """Mark the upload complete: Salesforce starts processing."""
        return self._set_state(job_id, "UploadComplete")

    def run(
        self,
        object_name: str,
        operation: IngestOperation,
        data: bytes | Path,
        *,
        external_id_field: str | None = None,
        line_ending: Literal["LF", "CRLF"] = "LF",
        column_delimiter: str = "COMMA",
        on_created: Callable[[BulkJob], None] | None = None,
        on_uploaded: Callable[[BulkJob], None] | None = None,
        on_closed: Callable[[BulkJob], None] | None = None,
        wait: bool = True,
        assignment_rule_id: str | None = None,
    ) -> BulkJob:
        """Create, upload, close and (unless ``wait=False``) wait.

        ``on_created``, ``on_uploaded`` and ``on_closed`` are told the job right after the create, upload
        and close calls return (a journal records each step as it happens; ``on_created`` runs before
        anything is uploaded). Returns the final job; a ``Failed`` job is returned, not raised: read
        ``state``/``error_message``. If the upload or close fails the job is aborted (best effort) before
        the error is raised.
        """
        self.check_size(data, object_name)
        job = self.create_job(
            object_name,
            operation,
            external_id_field=external_id_field,
            line_ending=line_ending,
            column_delimiter=column_delimiter,
            assignment_rule_id=assignment_rule_id,
        )
        if on_created is not None:
            on_created(job)
        try:
            self.upload(job.id, data)
            if on_uploaded is not None:
                on_uploaded(job)
            job = self.close(job.id)
            if on_closed is not None:
                on_closed(job)
        except SalesforceError as exc:
            exc.job_id = exc.job_id or job.id
            exc.object = exc.object or object_name
            self._abort_quietly(job.id)
            raise
        return self.wait(job.id) if wait else job

    def _abort_quietly(self, job_id: str) -> None:
        # The original error matters more; an Open job expires on its own after 24 h.
        with contextlib.suppress(SalesforceError):
            self.abort(job_id)

    def run_many(
        self, specs: Sequence[IngestSpec], *, on_created: Callable[[int, BulkJob], None] | None = None
    ) -> list[BulkJob | SalesforceError]:
        """Run several jobs, at most ``max_concurrency`` at once; one entry per spec, a job or its error."""
        for spec in specs:
            self.check_size(spec.data, spec.object)

        def one(index: int, spec: IngestSpec) -> BulkJob:
            report = (lambda job: on_created(index, job)) if on_created is not None else None
            return self.run(
                spec.object,
                spec.operation,
                spec.data,
                external_id_field=spec.external_id_field,
                line_ending=spec.line_ending,
                column_delimiter=spec.column_delimiter,
                on_created=report,
                assignment_rule_id=spec.assignment_rule_id,
            )

        pool = self._executor()
        futures = [pool.submit(one, i, spec) for i, spec in enumerate(specs)]
        out: list[BulkJob | SalesforceError] = []
        for future in futures:
            try:
                out.append(future.result())
            except SalesforceError as exc:
                out.append(exc)
        return out

    @contextmanager
    def open_results(self, job_id: str, kind: ResultKind) -> Iterator[Iterator[bytes]]:
        """The raw CSV of a job's successful, failed or unprocessed records, as a stream of byte chunks."""
        with self._transport.stream(
            "GET",
            self._path(job_id, _RESULT_PATHS[kind]),
            headers={"Accept": "text/csv"},
            what=f"fetch {kind} results of Bulk job",
            job_id=job_id,
        ) as response:
            yield response.iter_bytes()

    def results(self, job_id: str, kind: ResultKind, *, column_delimiter: str = "COMMA") -> pa.Table:
        """A job's results as a Table of string columns (successful: ``sf__Id, sf__Created`` + the uploaded
        columns; failed: ``sf__Id, sf__Error`` + columns; unprocessed: the uploaded columns)."""
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
            with self.open_results(job_id, kind) as chunks:
                for chunk in chunks:
                    spool.write(chunk)
            spool.seek(0)
            return read_csv_table(spool, delimiter=DELIMITERS[column_delimiter])


class BulkQuery(_Jobs):
    """Bulk API 2.0 query jobs: results as Arrow tables across all locators."""

    kind = "query"

    def create_job(self, soql: str, *, include_deleted: bool = False) -> BulkJob:
        body = {"operation": "queryAll" if include_deleted else "query", "query": soql, "contentType": "CSV"}
        job = self._transport.request(
            "POST", "jobs/query", json=body, idempotent=True, what="create Bulk query job"
        ).json()
        return BulkJob.from_json(job)

    def pages(self, job_id: str, *, column_delimiter: str = "COMMA") -> Iterator[pa.Table]:
        """Each results page of a finished query job as a Table, following ``Sforce-Locator``."""
        page_records = self._transport.settings.bulk_query_page_records
        locator: str | None = None
        while True:
            params: dict[str, Any] = {}
            if page_records:
                params["maxRecords"] = page_records
            if locator:
                params["locator"] = locator
            response = self._transport.request(
                "GET",
                self._path(job_id, "results"),
                params=params,
                headers={"Accept": "text/csv"},
                new_work=False,
                what="fetch Bulk query results",
                job_id=job_id,
            )
            yield read_csv_table(response.content, delimiter=DELIMITERS[column_delimiter])
            locator = response.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

    def results(self, job_id: str, *, column_delimiter: str = "COMMA") -> pa.Table:
        tables = [t for t in self.pages(job_id, column_delimiter=column_delimiter) if t.num_columns]
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables)

    def run(self, soql: str, *, include_deleted: bool = False) -> pa.Table:
        """Create a query job, wait for it and return every row (string columns)."""
        job = self.wait(self.create_job(soql, include_deleted=include_deleted).id)
        if not job.succeeded:
            raise SalesforceError(
                f"Bulk query job {job.id} ended {job.state}: {job.error_message or 'no reason given'}",
                job_id=job.id,
                code=job.state.upper(),
                hint="check the SOQL and the object's permissions; Aborted means someone aborted the job",
            )
        return self.results(job.id, column_delimiter=job.column_delimiter)


__all__ = [
    "FINAL_STATES",
    "BulkIngest",
    "BulkJob",
    "BulkQuery",
    "IngestOperation",
    "IngestSpec",
    "ResultKind",
]
