"""What a run reports while it works: typed progress events, in the order they happen.

A caller passes ``progress=callback`` (``RunOptions.progress``); the engine calls it from the threads that
run the sync (Bulk job events may come from the worker that uploads the job), one call at a time. The CLI
draws a progress bar from them; every run also stores where it is in the run history (``runs.progress``,
see :mod:`sfsync.sync.live`), so the web UI shows the phase, rows sent and Bulk jobs of a run started by
anyone. A callback that raises stops the run like any other error (it is recovered by the next run).

Phases, in order (a run with nothing to send stops after diffing): ``reading`` → ``diffing`` →
``planning`` → ``sending`` → ``collecting`` (Bulk only: every job is uploaded, results are awaited).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sfsync.config import Api
from sfsync.state import BulkJobProgress, RunPhase


@dataclass(frozen=True)
class RunStarted:
    """The run exists in the run history (its id is known from here on)."""

    sync: str
    run_id: int


@dataclass(frozen=True)
class PhaseStarted:
    """The run moved to ``phase``."""

    sync: str
    phase: RunPhase


@dataclass(frozen=True)
class Reading:
    """The model is being read from its source (the ``reading`` phase starts)."""

    sync: str
    model: str


@dataclass(frozen=True)
class Diffed:
    """The model was compared to the last snapshot: ``to_send`` rows are new or changed."""

    sync: str
    rows: int
    new: int
    changed: int
    unchanged: int
    resent: int

    @property
    def to_send(self) -> int:
        return self.new + self.changed


@dataclass(frozen=True)
class Planned:
    """The plan is frozen: ``to_send`` rows go through ``api``; ``refused`` were refused before sending."""

    sync: str
    api: Api
    to_send: int
    refused: int


@dataclass(frozen=True)
class Sent:
    """``rows`` more rows have an outcome (stored), of ``total`` to send."""

    sync: str
    rows: int
    total: int


@dataclass(frozen=True)
class BulkJobChanged:
    """A Bulk job of the run was created, changed state in Salesforce, or had its results stored."""

    sync: str
    job: BulkJobProgress


ProgressEvent = RunStarted | PhaseStarted | Reading | Diffed | Planned | Sent | BulkJobChanged
"""Every event a run reports; the run's end is its result (or error), not an event."""

Progress = Callable[[ProgressEvent], None]
"""Receives a run's progress events."""


__all__ = [
    "BulkJobChanged",
    "Diffed",
    "PhaseStarted",
    "Planned",
    "Progress",
    "ProgressEvent",
    "Reading",
    "RunStarted",
    "Sent",
]
