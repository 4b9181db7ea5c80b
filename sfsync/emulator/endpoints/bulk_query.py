"""Bulk API 2.0 query jobs: create, poll, results CSV pages with ``Sforce-Locator``, abort, delete, list.

The SOQL is checked when the job is created (errors are the 400 error array). A worker thread writes
the result to a spool file with every value quoted, as Salesforce does, remembering where each record
ends, so ``GET …/results?maxRecords=N&locator=L`` serves any page straight from disk. The locator is
the base64 of the next record's index (what real locators look like); ``Sforce-Locator`` is ``null``
on the last page, and ``Sforce-NumberOfRecords`` is always present.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from sfsync.emulator.endpoints.bulk import DELIMITERS, LINE_ENDINGS, TERMINAL, csv_options, sf_datetime
from sfsync.emulator.endpoints.jobs import JobRegistry
from sfsync.emulator.endpoints.wire import Call, api, json_response, slashed
from sfsync.emulator.records.org import ColumnInfo, OrgError

DEFAULT_RESULTS_PAGE = 50_000
"""Records per results page when the client gives no ``maxRecords``."""
QUERY_WORKER_THREADS = 1
"""Query jobs run at the same time."""


@dataclass
class QueryJob:
    id: str
    operation: str
    soql: str
    object: str
    delimiter: str
    line_ending: str
    api_version: str
    created_by: str
    created: float
    dir: Path
    state: str = "UploadComplete"
    modstamp: float = 0.0
    processed: int = 0
    error_message: str | None = None
    processing_ms: int = 0
    header: bytes = b""
    ends: array[int] = field(default_factory=lambda: array("Q"))  # byte offset after each record
    abort: threading.Event = field(default_factory=threading.Event)

    @property
    def path(self) -> Path:
        return self.dir / "result.csv"

    def info(self, *, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": sf_datetime(self.created),
            "systemModstamp": sf_datetime(self.modstamp or self.created),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
        }
        if full:
            out.update(
                {
                    "jobType": "V2Query",
                    "numberRecordsProcessed": self.processed,
                    "retries": 0,
                    "totalProcessingTime": self.processing_ms,
                    "isPkChunkingSupported": False,
                }
            )
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lookup(record: dict[str, Any], key: str) -> Any:
    if key in record:
        return record[key]
    low = key.lower()
    return next((v for k, v in record.items() if k.lower() == low), None)


def _getter(column: ColumnInfo) -> Any:
    """A function reading one selected column (``Name`` or ``Account.Name``) from a JSON record."""
    parts = column.path.split(".")

    def get(record: dict[str, Any]) -> str:
        value: Any = record
        for part in parts:
            if not isinstance(value, dict):
                return ""
            value = _lookup(value, part)
        return _cell(value)

    return get


class QueryJobs(JobRegistry[QueryJob]):
    """Every Bulk query job of the org. Thread-safe."""

    def __init__(self, rt: Any, spool_dir: Path) -> None:
        super().__init__(rt, spool_dir, "query", pod="9q", workers=QUERY_WORKER_THREADS)

    def create(self, call: Call, operation: str, soql: str, delimiter: str, line_ending: str) -> QueryJob:
        result = call.rt.org.query(soql, include_deleted=operation == "queryAll", version=call.version)
        job_id = self.new_id()
        job_dir = self.job_dir(job_id)
        job = QueryJob(
            id=job_id,
            operation=operation,
            soql=soql,
            object=result.object,
            delimiter=delimiter,
            line_ending=line_ending,
            api_version=call.version,
            created_by=call.session.user.id,
            created=time.time(),
            dir=job_dir,
        )
        self.add(job)
        self._pool.submit(self._run, job)
        return job

    def abort(self, job: QueryJob) -> bool:
        """Abort a job not yet finished (atomically with the worker's own moves)."""
        with self._lock:
            if job.state in TERMINAL:
                return False
            job.state = "Aborted"
            job.modstamp = time.time()
        job.abort.set()
        return True

    def _run(self, job: QueryJob) -> None:
        started = time.monotonic()
        with self._lock:
            if job.state != "UploadComplete":
                return
            job.state = "InProgress"
            job.modstamp = time.time()
        try:
            self._spool(job)
        except OrgError as e:
            self._finish(job, "Failed", f"{e.code}: {e.message}")
            return
        except Exception as e:  # a crashed job must end Failed, not hang InProgress
            self._finish(job, "Failed", f"InternalServerError : {type(e).__name__}: {e}")
            return
        job.processing_ms = int((time.monotonic() - started) * 1000)
        self._finish(job, "JobComplete")

    def _finish(self, job: QueryJob, state: str, error: str | None = None) -> None:
        with self._lock:
            if job.state != "Aborted":
                job.state = state
                job.error_message = error
            job.modstamp = time.time()

    def _spool(self, job: QueryJob) -> None:
        result = self._rt.org.query(
            job.soql, include_deleted=job.operation == "queryAll", version=job.api_version
        )
        getters = [_getter(c) for c in result.columns]
        buf = io.StringIO()
        writer = csv.writer(
            buf,
            delimiter=DELIMITERS[job.delimiter],
            lineterminator=LINE_ENDINGS[job.line_ending],
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow([c.path for c in result.columns])
        job.header = buf.getvalue().encode("utf-8")
        pos = 0
        with open(job.path, "wb") as out:
            for n, record in enumerate(result.records):
                if n % 1000 == 0 and job.abort.is_set():
                    return
                buf.seek(0)
                buf.truncate()
                writer.writerow([g(record) for g in getters])
                data = buf.getvalue().encode("utf-8")
                out.write(data)
                pos += len(data)
                job.ends.append(pos)
                job.processed = n + 1


def encode_locator(index: int) -> str:
    return base64.b64encode(str(index).encode()).decode()


def decode_locator(locator: str) -> int:
    try:
        return int(base64.b64decode(locator.encode(), validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise OrgError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None


# ---- endpoints -----------------------------------------------------------------------------------


def create_job(call: Call) -> Response:
    body = call.json_object()
    operation = str(body.get("operation") or "")
    if operation not in ("query", "queryAll"):
        raise OrgError(
            400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation!r}; use query or queryAll"
        )
    soql = str(body.get("query") or "")
    if not soql:
        raise OrgError(400, "INVALIDJOB", "InvalidJob : query is required")
    delimiter, line_ending = csv_options(body)
    job = call.rt.query_jobs.create(call, operation, soql, delimiter, line_ending)
    return json_response(job.info(full=False))


def job_row(call: Call) -> Response:
    jobs = call.rt.query_jobs
    job = jobs.get(call.param("job"))
    method = call.request.method
    if method == "GET":
        return json_response(job.info(full=True))
    if method == "DELETE":
        if job.state not in TERMINAL:
            raise OrgError(
                400, "INVALIDJOBSTATE", f"Job {job.id} is {job.state}; abort it before deleting it"
            )
        jobs.remove(job)
        return Response(status_code=204)
    state = str(call.json_object().get("state") or "")
    if state != "Aborted":
        raise OrgError(400, "INVALIDJOBSTATE", f"Unsupported state {state!r}: query jobs can only be Aborted")
    if not jobs.abort(job):
        raise OrgError(
            400, "INVALIDJOBSTATE", f"Job state transition from {job.state} to Aborted is not allowed"
        )
    return json_response(job.info(full=False))


def results(call: Call) -> Response:
    job = call.rt.query_jobs.get(call.param("job"))
    if job.state != "JobComplete":
        raise OrgError(
            400,
            "INVALIDJOBSTATE",
            f"Job {job.id} is {job.state}; results are available once it is JobComplete",
        )
    raw_max = call.query("maxRecords")
    try:
        page = int(raw_max) if raw_max else DEFAULT_RESULTS_PAGE
    except ValueError:
        raise OrgError(
            400, "INVALIDMAXRECORDS", f"maxRecords must be a positive integer, got {raw_max}"
        ) from None
    if page <= 0:
        raise OrgError(400, "INVALIDMAXRECORDS", f"maxRecords must be a positive integer, got {raw_max}")
    locator = call.query("locator")
    start = decode_locator(locator) if locator and locator != "null" else 0
    total = len(job.ends)
    start = min(max(start, 0), total)
    end = min(start + page, total)
    begin_byte = job.ends[start - 1] if start > 0 else 0
    end_byte = job.ends[end - 1] if end > 0 else 0
    with open(job.path, "rb") as f:
        f.seek(begin_byte)
        data = f.read(end_byte - begin_byte)
    headers = {
        "Sforce-Locator": encode_locator(end) if end < total else "null",
        "Sforce-NumberOfRecords": str(end - start),
    }
    return Response(job.header + data, media_type="text/csv", headers=headers)


def list_jobs(call: Call) -> Response:
    records = [j.info(full=True) for j in call.rt.query_jobs.all()]
    return json_response({"done": True, "records": records, "nextRecordsUrl": None})


def routes() -> list[Route]:
    v = "/services/data/{version}/jobs/query"
    return [
        *slashed(v, api(create_job), ["POST"]),
        *slashed(v, api(list_jobs), ["GET"], name="query_list"),
        *slashed(f"{v}/{{job}}", api(job_row), ["GET", "PATCH", "DELETE"]),
        *slashed(f"{v}/{{job}}/results", api(results), ["GET"]),
    ]
