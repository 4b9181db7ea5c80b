"""Runs and plans started from the UI execute on worker threads; pages poll their state.

A job's outcome is kept in memory (the run itself is in the state store, like any CLI run); the
newest ``keep`` finished jobs are remembered.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sfsync.errors import SfsyncError

JobKind = Literal["run", "plan"]
JobState = Literal["queued", "running", "done", "failed"]


@dataclass(frozen=True)
class Job:
    id: str
    kind: JobKind
    sync: str
    state: JobState = "queued"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    error: str | None = None
    run_id: int | None = None
    result: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


Work = Callable[[Callable[[int], None]], dict[str, Any]]
"""A job's body: gets a callback to report the run id as soon as it is known, returns the result."""


class JobRunner:
    def __init__(self, max_workers: int, keep: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sfsync-ui-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep

    def _set(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def submit(self, kind: JobKind, sync: str, work: Work) -> Job:
        job = Job(id=secrets.token_hex(8), kind=kind, sync=sync)
        with self._lock:
            self._jobs[job.id] = job
            finished = [j.id for j in self._jobs.values() if j.finished]
            for old in finished[: max(0, len(self._jobs) - self._keep)]:
                del self._jobs[old]

        def body() -> None:
            self._set(job.id, state="running")
            try:
                result = work(lambda run_id: self._set(job.id, run_id=run_id))
            except SfsyncError as exc:
                self._set(job.id, state="failed", error=str(exc), finished_at=datetime.now(UTC))
            except Exception as exc:  # a bug must still end the job visibly
                self._set(
                    job.id,
                    state="failed",
                    error=f"{type(exc).__name__}: {exc}",
                    finished_at=datetime.now(UTC),
                )
            else:
                run_id = result.get("run_id")
                self._set(
                    job.id,
                    state="done",
                    result=result,
                    run_id=run_id if isinstance(run_id, int) else None,
                    finished_at=datetime.now(UTC),
                )

        self._pool.submit(body)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def active(self, sync: str) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.sync == sync and not j.finished]

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


__all__ = ["Job", "JobRunner"]
