"""What Bulk ingest and query jobs share: a thread-safe registry with spool directories and workers."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from sfsync.emulator.endpoints.wire import NOT_FOUND_MESSAGE
from sfsync.emulator.metadata.ids import IdFactory
from sfsync.emulator.records.org import OrgError

JOB_IDS_PER_MILLISECOND = 1000
"""Room for this many jobs per millisecond of uptime before ids would reach those of a later start."""


class SpooledJob(Protocol):
    id: str
    created: float
    dir: Path
    abort: threading.Event


J = TypeVar("J", bound=SpooledJob)


class JobRegistry(Generic[J]):
    """Every job of one kind: lookup by 15- or 18-char id, a spool directory each, a worker pool."""

    def __init__(self, rt: Any, spool_dir: Path, kind: str, *, pod: str, workers: int) -> None:
        self._rt = rt
        self._dir = spool_dir / kind
        self._dir.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, J] = {}
        self._lock = threading.Lock()
        # Jobs live in memory; a restarted emulator (``--db`` keeps its records) must not hand out the ids
        # of jobs it answered before, which clients may still have journaled: number from the clock.
        self._ids = IdFactory("750", pod=pod, start=int(time.time() * 1000) * JOB_IDS_PER_MILLISECOND)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"bulk-{kind}")

    def count(self) -> int:
        with self._lock:
            return len(self._jobs)

    def new_id(self) -> str:
        return self._ids.next()

    def job_dir(self, job_id: str) -> Path:
        path = self._dir / job_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, job: J) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def get(self, job_id: str) -> J:
        with self._lock:
            job = self._jobs.get(job_id) or next(
                (j for j in self._jobs.values() if j.id[:15] == job_id[:15]), None
            )
        if job is None:
            raise OrgError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return job

    def all(self) -> list[J]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created)

    def remove(self, job: J) -> None:
        job.abort.set()
        with self._lock:
            self._jobs.pop(job.id, None)
        shutil.rmtree(job.dir, ignore_errors=True)

    def clear(self) -> None:
        for job in self.all():
            self.remove(job)

    def close(self) -> None:
        for job in self.all():
            job.abort.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)
