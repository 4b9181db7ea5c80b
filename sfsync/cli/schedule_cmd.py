"""``sfsync scheduler``, ``sfsync pause SYNC`` and ``sfsync resume SYNC``."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from sfsync.cli._app import app, console
from sfsync.config import DEFAULT_PROJECT_FILE
from sfsync.schedule import SchedulerSettings

if TYPE_CHECKING:
    from sfsync.api import Project

_PROJECT_HELP = "Project file (or its directory)."

LOG_LEVELS = ("debug", "info", "warning", "error")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""Format of the scheduler's log lines (stderr); times are UTC, ISO 8601."""


def _open(project_path: Path) -> Project:
    from sfsync.api import Project

    return Project.load(project_path)


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger("sfsync")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


_DEFAULTS = SchedulerSettings()


@app.command()
def scheduler(
    project: Path = typer.Option(Path(DEFAULT_PROJECT_FILE), "--project", help=_PROJECT_HELP),
    max_parallel: int = typer.Option(
        _DEFAULTS.max_parallel,
        "--max-parallel",
        min=1,
        show_default=True,
        help="Syncs run at once (different ones; one sync never runs twice at once).",
    ),
    poll_seconds: float = typer.Option(
        _DEFAULTS.poll_seconds,
        "--poll-seconds",
        min=0.01,
        show_default=True,
        help="Longest sleep between checks for due syncs.",
    ),
    recheck_seconds: float = typer.Option(
        _DEFAULTS.recheck_seconds,
        "--recheck-seconds",
        min=0.0,
        show_default=True,
        help="How often a sync that paused itself is re-checked (resumed when its check passes).",
    ),
    stop_grace_seconds: float | None = typer.Option(
        _DEFAULTS.stop_grace_seconds,
        "--stop-grace-seconds",
        show_default="until runs in flight finish",
        help="On SIGTERM, wait this long for runs in flight.",
    ),
    log_level: str = typer.Option(
        "info", "--log-level", show_default=True, help="debug, info, warning or error."
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus metrics on this port (GET /metrics); off by default."
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", show_default=True, help="Address the metrics server binds."
    ),
) -> None:
    """Run every scheduled sync when due, until SIGTERM or Ctrl-C (a second one stops at once)."""
    from sfsync.schedule import ProjectWatcher, Scheduler

    if log_level.lower() not in LOG_LEVELS:
        raise typer.BadParameter(
            f"{log_level!r}: choose one of {', '.join(LOG_LEVELS)}", param_hint="--log-level"
        )
    _configure_logging(log_level)
    proj = _open(project)
    settings = SchedulerSettings(
        max_parallel=max_parallel,
        poll_seconds=poll_seconds,
        recheck_seconds=recheck_seconds,
        stop_grace_seconds=stop_grace_seconds,
    )
    assert proj.config.path is not None
    sched = Scheduler(proj, settings=settings, watcher=ProjectWatcher(proj.config.path))
    log = logging.getLogger("sfsync.schedule")

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if sched.stopping:
            log.warning(
                "second %s: stopping now; runs in flight are recovered by their next run",
                signal.Signals(signum).name,
            )
            logging.shutdown()
            os._exit(128 + signum)
        log.info("%s received: no new runs; waiting for runs in flight", signal.Signals(signum).name)
        sched.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    metrics = None
    if metrics_port is not None:
        from sfsync.schedule.metrics import MetricsServer

        metrics = MetricsServer(lambda: sched.project, metrics_host, metrics_port)
        log.info("metrics at http://%s:%d/metrics", metrics_host, metrics.port)
    left = sched.run_forever()
    if metrics is not None:
        metrics.stop()
    if left:
        logging.shutdown()
        os._exit(1)  # worker threads are still inside runs: do not wait for them
    proj.close()


@app.command()
def pause(
    sync: str = typer.Argument(..., help="The sync to pause."),
    reason: str | None = typer.Option(None, "--reason", help="Why (shown in `sfsync runs` and `check`)."),
    project: Path = typer.Option(Path(DEFAULT_PROJECT_FILE), "--project", help=_PROJECT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the sync's status as JSON."),
) -> None:
    """Pause a sync: the scheduler skips it until `sfsync resume` (a run in progress finishes)."""
    with _open(project) as proj:
        view = proj.pause(sync, reason)
    if as_json:
        console.out(json.dumps(view.to_dict(), indent=2), highlight=False)
    else:
        console.print(f"sync {sync}: {view.describe()}", highlight=False, markup=False)


@app.command()
def resume(
    sync: str = typer.Argument(..., help="The sync to resume."),
    project: Path = typer.Option(Path(DEFAULT_PROJECT_FILE), "--project", help=_PROJECT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the sync's status as JSON."),
) -> None:
    """Resume a paused sync (slots the scheduler skipped while it was paused run once, right away)."""
    with _open(project) as proj:
        proj.require_sync(sync)
        was_paused = proj.status(sync).paused
        view = proj.resume(sync)
    if as_json:
        console.out(json.dumps({**view.to_dict(), "was_paused": was_paused}, indent=2), highlight=False)
    elif was_paused:
        console.print(f"sync {sync}: resumed; {view.describe()}", highlight=False, markup=False)
    else:
        console.print(f"sync {sync} was not paused; {view.describe()}", highlight=False, markup=False)
