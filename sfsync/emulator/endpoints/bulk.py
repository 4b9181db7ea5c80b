"""Bulk API 2.0 ingest jobs: create, upload one CSV, close, background processing, results, abort, delete.

The upload is streamed to a spool file; a worker thread (:data:`BULK_WORKER_THREADS` of them, shared by
all jobs) reads it in chunks of :data:`BULK_CHUNK_ROWS` rows, hands each chunk to ``Org.bulk_load`` and
appends the outcome to ``successful.csv`` / ``failed.csv`` / ``unprocessed.csv`` beside it, so a
1,000,000-row job needs memory for one chunk only. Clients must poll: the job is ``UploadComplete``, then
``InProgress``, then ``JobComplete`` (or ``Failed`` / ``Aborted``). Faults: ``bulk_delay_seconds`` keeps
a job ``InProgress`` that much longer; ``bulk_fail`` makes it end ``Failed`` with every row unprocessed;
``bulk_forget_jobs`` forgets each job once processed (404 for it and its results; its records stay).

Rows run the org's duplicate rules (nothing in Bulk API 2.0 allows saving a duplicate) and, when the job
was created with ``assignmentRuleId``, that assignment rule (see ``automation_headers``).
"""

from __future__ import annotations

import csv
import itertools
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from sfsync.emulator.endpoints.automation_headers import bulk_assignment_rule, bulk_rules
from sfsync.emulator.endpoints.jobs import JobRegistry
from sfsync.emulator.endpoints.wire import NOT_FOUND_MESSAGE, Call, api, api_streaming, json_response, slashed
from sfsync.emulator.records.org import OrgError

BULK_CHUNK_ROWS = 10_000
"""Rows handed to ``Org.bulk_load`` at a time (Salesforce's internal batch size)."""
BULK_WORKER_THREADS = 2
"""Ingest jobs processed at the same time; more jobs wait their turn in UploadComplete."""
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
"""Largest CSV one job accepts (Salesforce: 150 MB after base64)."""
UPLOAD_WRITE_BYTES = 1024 * 1024
"""Upload bytes buffered before each write to the spool file."""
RESULTS_WAIT_SECONDS = 30.0
"""How long a results request on a just-aborted job waits for its worker to stop writing."""

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
TERMINAL = ("JobComplete", "Failed", "Aborted")
RESULT_FILES = {
    "successfulresults": "successful.csv",
    "failedresults": "failed.csv",
    "unprocessedrecords": "unprocessed.csv",
}


def sf_datetime(epoch: float) -> str:
    """Salesforce's job timestamp form: ``2018-12-18T22:51:36.000+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}+0000"


def csv_options(body: dict[str, Any]) -> tuple[str, str]:
    delimiter = str(body.get("columnDelimiter") or "COMMA")
    line_ending = str(body.get("lineEnding") or "LF")
    if delimiter not in DELIMITERS:
        raise OrgError(
            400,
            "INVALIDJOB",
            f"InvalidJob : Invalid columnDelimiter: {delimiter}; use one of {', '.join(DELIMITERS)}",
        )
    if line_ending not in LINE_ENDINGS:
        raise OrgError(400, "INVALIDJOB", f"InvalidJob : Invalid lineEnding: {line_ending}; use LF or CRLF")
    if str(body.get("contentType") or "CSV") != "CSV":
        raise OrgError(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
    return delimiter, line_ending


@dataclass
class IngestJob:
    id: str
    object: str
    operation: str
    ext_field: str | None
    delimiter: str
    line_ending: str
    api_version: str
    created_by: str
    created: float
    dir: Path
    assignment_rule_id: str | None = None  # the job's assignmentRuleId (Case and Lead jobs)
    state: str = "Open"
    modstamp: float = 0.0
    uploaded: bool = False
    processed: int = 0
    failed: int = 0
    error_message: str | None = None
    processing_ms: int = 0
    abort: threading.Event = field(default_factory=threading.Event)
    submitted: bool = False
    upload_done: bool = False  # the upload's last byte is on disk
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def upload_path(self) -> Path:
        return self.dir / "upload.csv"

    def info(self, *, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": sf_datetime(self.created),
            "systemModstamp": sf_datetime(self.modstamp or self.created),
            "state": self.state,
        }
        if self.ext_field:
            out["externalIdFieldName"] = self.ext_field
        if self.assignment_rule_id:
            out["assignmentRuleId"] = self.assignment_rule_id
        out.update(
            {
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(self.api_version),
                "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
                "lineEnding": self.line_ending,
                "columnDelimiter": self.delimiter,
            }
        )
        if full:
            out.update(
                {
                    "jobType": "V2Ingest",
                    "numberRecordsProcessed": self.processed,
                    "numberRecordsFailed": self.failed,
                    "retries": 0,
                    "totalProcessingTime": self.processing_ms,
                    "apiActiveProcessingTime": self.processing_ms,
                    "apexProcessingTime": 0,
                }
            )
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out


class IngestJobs(JobRegistry[IngestJob]):
    """Every ingest job of the org and the workers that process them. Thread-safe."""

    def __init__(self, rt: Any, spool_dir: Path) -> None:
        super().__init__(rt, spool_dir, "ingest", pod="8d", workers=BULK_WORKER_THREADS)

    def transition(self, job: IngestJob, allowed: tuple[str, ...], to: str) -> dict[str, Any] | None:
        """Move a job to ``to`` if it is in one of ``allowed`` (atomically with the worker's own moves);
        the job info right after the move, or None when not allowed."""
        with self._lock:
            if job.state not in allowed:
                return None
            job.state = to
            job.modstamp = time.time()
            return job.info(full=False)

    def submit(self, job: IngestJob) -> None:
        job.submitted = True
        self._pool.submit(self._run, job)

    # ---- processing ---------------------------------------------------------------------------
    def _run(self, job: IngestJob) -> None:
        try:
            self._process(job)
        except Exception as e:  # a crashed job must end Failed, not hang InProgress
            self._finish(job, "Failed", f"InternalServerError : {type(e).__name__}: {e}")
        finally:
            job.finished.set()
        if self._rt.config.faults.bulk_forget_jobs:
            self.remove(job)  # fault: the org no longer knows the job (its records stay)

    def _finish(self, job: IngestJob, state: str, error: str | None = None) -> None:
        with self._lock:
            if job.state != "Aborted":
                job.state = state
            if error and job.state == "Failed":
                job.error_message = error
            job.modstamp = time.time()

    def _process(self, job: IngestJob) -> None:
        started = time.monotonic()
        with self._lock:
            if job.state != "UploadComplete":
                return
            job.state = "InProgress"
            job.modstamp = time.time()
        faults = self._rt.config.faults
        if faults.bulk_delay_seconds > 0:
            job.abort.wait(faults.bulk_delay_seconds)
        sep = DELIMITERS[job.delimiter]
        with open(job.upload_path, encoding="utf-8-sig", newline="") as src:
            reader = csv.reader(src, delimiter=sep, strict=False)
            header = next(reader, None)
            writers = _ResultWriters(job, header or [], sep, LINE_ENDINGS[job.line_ending])
            try:
                if not header:
                    self._finish(job, "Failed", "InvalidBatch : Empty CSV file: upload a header row and rows")
                    return
                if faults.bulk_fail:
                    writers.unprocessed_rest(reader)
                    self._finish(
                        job,
                        "Failed",
                        "InternalServerError : the job failed on purpose (emulator "
                        "fault bulk_fail); set bulk_fail to false to process jobs",
                    )
                    return
                error = self._load_chunks(job, header, reader, writers)
            finally:
                writers.close()
        job.processing_ms = int((time.monotonic() - started) * 1000)
        self._finish(job, "Failed" if error else "JobComplete", error)

    def _load_chunks(
        self, job: IngestJob, header: list[str], reader: Any, writers: _ResultWriters
    ) -> str | None:
        user_id = job.created_by
        width = len(header)
        while True:
            chunk = [row for row in itertools.islice(reader, BULK_CHUNK_ROWS) if row]
            if not chunk:
                return None
            if job.abort.is_set():
                writers.unprocessed.writerows(chunk)
                writers.unprocessed_rest(reader)
                return None
            good = [row for row in chunk if len(row) == width]
            if len(good) != len(chunk):
                bad = [row for row in chunk if len(row) != width]
                for row in bad:
                    writers.failed.writerow(
                        [
                            "",
                            f"INVALID_FIELD:The row has {len(row)} values but the header has "
                            f"{width} columns:--",
                            *row,
                        ]
                    )
                with self._lock:
                    job.processed += len(bad)
                    job.failed += len(bad)
            try:
                results = self._rt.org.bulk_load(
                    job.object,
                    job.operation,
                    job.ext_field,
                    header,
                    good,
                    user_id=user_id,
                    rules=bulk_rules(job.assignment_rule_id),
                )
            except OrgError as e:
                writers.unprocessed.writerows(good)
                writers.unprocessed_rest(reader)
                return f"InvalidBatch : {e.message}"
            failed = 0
            ok_rows = []
            for row, res in zip(good, results, strict=True):
                if res.error is None:
                    ok_rows.append([res.id or "", "true" if res.created else "false", *row])
                else:
                    failed += 1
                    writers.failed.writerow([res.id or "", res.error.to_bulk(), *row])
            writers.successful.writerows(ok_rows)
            with self._lock:
                job.processed += len(good)
                job.failed += failed


class _ResultWriters:
    def __init__(self, job: IngestJob, header: list[str], sep: str, line_ending: str) -> None:
        self._files = [
            open(job.dir / name, "w", encoding="utf-8", newline="")  # noqa: SIM115
            for name in ("successful.csv", "failed.csv", "unprocessed.csv")
        ]
        opts: dict[str, Any] = {"delimiter": sep, "lineterminator": line_ending}
        self.successful = csv.writer(self._files[0], **opts)
        self.failed = csv.writer(self._files[1], **opts)
        self.unprocessed = csv.writer(self._files[2], **opts)
        self.successful.writerow(["sf__Id", "sf__Created", *header])
        self.failed.writerow(["sf__Id", "sf__Error", *header])
        self.unprocessed.writerow(header)

    def unprocessed_rest(self, reader: Any) -> None:
        for row in reader:
            if row:
                self.unprocessed.writerow(row)

    def close(self) -> None:
        for f in self._files:
            f.close()


# ---- endpoints -----------------------------------------------------------------------------------


def create_job(call: Call) -> Response:
    body = call.json_object()
    operation = str(body.get("operation") or "")
    if operation not in OPERATIONS:
        raise OrgError(
            400,
            "INVALIDJOB",
            f"InvalidJob : Invalid operation: {operation!r}; use one of {', '.join(OPERATIONS)}",
        )
    obj = call.rt.config.object(str(body.get("object") or ""))
    if obj is None:
        raise OrgError(400, "INVALIDJOB", f"InvalidJob : Unable to find object: {body.get('object')}")
    ext_field = body.get("externalIdFieldName")
    if operation == "upsert":
        if not ext_field:
            raise OrgError(
                400, "INVALIDJOB", "InvalidJob : External ID was blank for upsert: set externalIdFieldName"
            )
        fdef = obj.field(str(ext_field))
        if fdef is None:
            raise OrgError(400, "INVALIDJOB", f"InvalidJob : Field name not found : {ext_field}")
        ext_field = fdef.name
    else:
        ext_field = None
    delimiter, line_ending = csv_options(body)
    rule_id = bulk_assignment_rule(call, obj.name, body)
    jobs = call.rt.ingest
    job_id = jobs.new_id()
    job = IngestJob(
        id=job_id,
        object=obj.name,
        operation=operation,
        ext_field=ext_field,
        delimiter=delimiter,
        line_ending=line_ending,
        api_version=call.version,
        created_by=call.session.user.id,
        created=time.time(),
        dir=jobs.job_dir(job_id),
        assignment_rule_id=rule_id,
    )
    jobs.add(job)
    return json_response(job.info(full=False))


async def _spool_upload(call: Call, path: Path) -> int:
    """Stream the request body to ``path``; the byte count (stops reading past MAX_UPLOAD_BYTES)."""
    size = 0
    buffer = bytearray()
    with open(path, "wb") as out:
        async for chunk in call.request.stream():
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                break
            buffer += chunk
            if len(buffer) >= UPLOAD_WRITE_BYTES:
                await run_in_threadpool(out.write, bytes(buffer))
                buffer.clear()
        if buffer:
            await run_in_threadpool(out.write, bytes(buffer))
    return size


async def upload(call: Call) -> Response:
    job = call.rt.ingest.get(call.param("job"))
    if job.state != "Open" or job.uploaded:
        # One upload per job: a real org refuses a second PUT with "Found multiple contents for job"
        # (recorded in ikimanderson/salesforce-product-mcp; docs/salesforce-facts.md#bulk-ingest-jobs).
        raise OrgError(
            400,
            "INVALIDJOBSTATE",
            f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / 'Delete' the "
            "current Job then create a new Job and make sure you only do 'PUT' once on a given Job.",
        )
    job.uploaded = True  # no await since the check: a concurrent PUT sees it
    try:
        size = await _spool_upload(call, job.upload_path)
    except BaseException:
        job.uploaded = False  # the client went away mid-upload: let it upload again
        raise
    if size <= MAX_UPLOAD_BYTES:
        job.upload_done = True
    else:
        job.uploaded = False
        raise OrgError(
            400,
            "EXCEEDED_QUOTA",
            f"The CSV is larger than {MAX_UPLOAD_BYTES} bytes; split it into several jobs",
        )
    return Response(status_code=201)


def job_row(call: Call) -> Response:
    """GET (info), PATCH (close or abort), DELETE ``/jobs/ingest/{job}``."""
    jobs = call.rt.ingest
    job = jobs.get(call.param("job"))
    method = call.request.method
    if method == "GET":
        return json_response(job.info(full=True))
    if method == "DELETE":
        if job.state in ("UploadComplete", "InProgress"):
            raise OrgError(
                400,
                "INVALIDJOBSTATE",
                f"Job {job.id} is {job.state}; abort it or wait for it to finish before deleting it",
            )
        jobs.remove(job)
        return Response(status_code=204)
    state = str(call.json_object().get("state") or "")
    if state == "UploadComplete" and job.uploaded and not job.upload_done:
        raise OrgError(
            400,
            "INVALIDJOBSTATE",
            f"Job {job.id}'s CSV is still being uploaded; close it after the PUT has answered 201",
        )
    if state not in ("UploadComplete", "Aborted"):
        raise OrgError(400, "INVALIDJOBSTATE", f"Unsupported state {state!r}: use UploadComplete or Aborted")
    allowed = ("Open",) if state == "UploadComplete" else ("Open", "UploadComplete", "InProgress")
    info = jobs.transition(job, allowed, state)
    if info is None:
        raise OrgError(
            400, "INVALIDJOBSTATE", f"Job state transition from {job.state} to {state} is not allowed"
        )
    if state == "Aborted":
        job.abort.set()
    elif not job.uploaded:
        job.state = "Failed"
        job.error_message = "InvalidBatch : No data was uploaded for this job: PUT a CSV before closing it"
    else:
        jobs.submit(job)
    return json_response(info)


def results(call: Call) -> Response:
    job = call.rt.ingest.get(call.param("job"))
    name = RESULT_FILES.get(call.param("kind").lower())
    if name is None:
        raise OrgError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
    if job.state not in TERMINAL:
        raise OrgError(
            400,
            "INVALIDJOBSTATE",
            f"Job {job.id} is {job.state}; results are available once it is JobComplete, Failed or Aborted",
        )
    if job.submitted:
        job.finished.wait(RESULTS_WAIT_SECONDS)  # an aborted job stops at the next chunk
    path = job.dir / name
    if not path.exists():
        if name == "unprocessed.csv" and job.upload_path.exists():
            path = job.upload_path  # never processed: every uploaded row is unprocessed
        else:
            return Response(b"", media_type="text/csv")
    return FileResponse(path, media_type="text/csv")


def list_jobs(call: Call) -> Response:
    records = [j.info(full=True) for j in call.rt.ingest.all()]
    return json_response({"done": True, "records": records, "nextRecordsUrl": None})


def routes() -> list[Route]:
    v = "/services/data/{version}/jobs/ingest"
    return [
        *slashed(v, api(create_job), ["POST"]),
        *slashed(v, api(list_jobs), ["GET"], name="ingest_list"),
        *slashed(f"{v}/{{job}}", api(job_row), ["GET", "PATCH", "DELETE"]),
        *slashed(f"{v}/{{job}}/batches", api_streaming(upload), ["PUT"]),
        *slashed(f"{v}/{{job}}/{{kind}}", api(results), ["GET"]),
    ]


def spool_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="sfsync-emulator-"))
