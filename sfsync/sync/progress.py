"""What a run reports while it works: typed progress events, in the order they happen.

A caller passes ``progress=callback`` (``RunOptions.progress``); the engine calls it from the thread that
runs the sync. The CLI draws a progress bar from them, the web UI shows a running job's run id and
counts. A callback that raises stops the run like any other error (it is recovered by the next run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sfsync.config import Api


@dataclass(frozen=True)
class RunStarted:
    """The run exists in the run history (its id is known from here on)."""

    sync: str
    run_id: int


@dataclass(frozen=True)
class Reading:
    """The model is being read from its source and compared to the last snapshot."""

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


ProgressEvent = RunStarted | Reading | Diffed | Planned | Sent
"""Every event a run reports; the run's end is its result (or error), not an event."""

Progress = Callable[[ProgressEvent], None]
"""Receives a run's progress events."""


__all__ = ["Diffed", "Planned", "Progress", "ProgressEvent", "Reading", "RunStarted", "Sent"]
