"""A run's live progress: every progress event goes to the caller's callback and into the run history.

:class:`LiveProgress` folds the events of one run into a :class:`~sfsync.state.RunProgress` (phase, rows
read, rows with an outcome of rows to send, Bulk jobs and their states) and stores it on the run's row
(``StateStore.set_progress``), so any process (the web UI, ``sfsync runs``) shows where a run started by
another one is. Phase changes and Bulk job changes are stored at once; row counts at most every
:data:`PROGRESS_WRITE_SECONDS`, so a run sending millions of rows costs a few writes per second at most.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from sfsync.errors import StateError
from sfsync.state import RunPhase, RunProgress, StateStore
from sfsync.sync.progress import (
    BulkJobChanged,
    Diffed,
    PhaseStarted,
    Planned,
    Progress,
    ProgressEvent,
    Reading,
    RunStarted,
    Sent,
)

log = logging.getLogger(__name__)

PROGRESS_WRITE_SECONDS = 0.5
"""Shortest time between two stores of a run's row counts (phase and Bulk job changes are stored at once)."""


class LiveProgress:
    """Forwards a run's events to ``callback`` and keeps the run's stored progress up to date."""

    def __init__(self, store: StateStore, callback: Progress | None) -> None:
        self._store = store
        self._callback = callback
        self._lock = threading.RLock()
        self._run_id: int | None = None
        self._progress = RunProgress(RunPhase.READING)
        self._written = 0.0
        self._stored = True

    @property
    def progress(self) -> RunProgress:
        with self._lock:
            return self._progress

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            urgent = self._fold(event)
            if self._run_id is not None:
                now = time.monotonic()
                if urgent or now - self._written >= PROGRESS_WRITE_SECONDS:
                    self._store_now(now)
                else:
                    self._stored = False
            if self._callback is not None:
                self._callback(event)

    def flush(self) -> None:
        """Store the latest progress if a throttled change is still unstored."""
        with self._lock:
            if not self._stored and self._run_id is not None:
                self._store_now(time.monotonic())

    def _fold(self, event: ProgressEvent) -> bool:
        """Apply ``event`` to the progress; True when it should be stored right away."""
        p = self._progress
        if isinstance(event, RunStarted):
            self._run_id = event.run_id
            return True
        if isinstance(event, Reading):
            self._progress = replace(p, phase=RunPhase.READING)
            return True
        if isinstance(event, PhaseStarted):
            self._progress = replace(p, phase=event.phase)
            return True
        if isinstance(event, Diffed):
            self._progress = replace(p, rows_read=event.rows, to_send=event.to_send)
            return False
        if isinstance(event, Planned):
            self._progress = replace(p, api=event.api, to_send=event.to_send + event.refused)
            return True
        if isinstance(event, Sent):
            self._progress = replace(p, sent=p.sent + event.rows)
            return False
        if isinstance(event, BulkJobChanged):
            jobs = {j.id: j for j in p.jobs}
            jobs[event.job.id] = event.job
            self._progress = replace(p, jobs=tuple(jobs.values()))
            return True
        return False

    def _store_now(self, now: float) -> None:
        assert self._run_id is not None
        try:
            self._store.set_progress(self._run_id, self._progress)
        except StateError as exc:  # progress is for people watching: never fail a run over it
            log.warning("run %s: progress not stored: %s", self._run_id, exc.message)
        self._written = now
        self._stored = True


__all__ = ["PROGRESS_WRITE_SECONDS", "LiveProgress"]
