"""One worker of the multi-scheduler test: ``sfsync scheduler`` (the same objects the CLI command builds)
on a clock that runs ``scale`` times faster than real time from ``t0``, so ``every: 1m`` slots come
every few real seconds. Usage: python multi_worker_child.py PROJECT T0 SCALE MAX_PARALLEL
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from sfsync.api import Project
from sfsync.cli.schedule_cmd import _configure_logging
from sfsync.schedule import Scheduler, SchedulerSettings


class ScaledClock:
    """Scheduler time = t0 + (real time - t0) * scale; sleeps are shortened by the same factor."""

    def __init__(self, t0: float, scale: float) -> None:
        self.t0, self.scale = t0, scale

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t0 + (time.time() - self.t0) * self.scale, UTC)

    def wait(self, wake: threading.Event, seconds: float) -> None:
        wake.wait(seconds / self.scale)


def main() -> None:
    path, t0, scale, parallel = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    _configure_logging("info")
    project = Project.load(path)
    settings = SchedulerSettings(max_parallel=parallel, poll_seconds=2.0, recheck_seconds=3600)
    sched = Scheduler(project, settings=settings, clock=ScaledClock(t0, scale))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        sched.stop()

    signal.signal(signal.SIGTERM, on_signal)
    sched.run_forever()
    project.close()


if __name__ == "__main__":
    main()
