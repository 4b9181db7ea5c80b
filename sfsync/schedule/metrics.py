"""Prometheus metrics of a project: what the scheduler (``--metrics-port``) and the web UI (``/metrics``)
expose, in the text format of prometheus-client.

The numbers come from the project's state (the run history every process shares), so the scheduler and
the web UI of one project report the same runs whoever started them. Runs are counted once they finish;
the counters only grow (the run history is never deleted, only row results are pruned). Names follow
Prometheus conventions (``_total`` counters, ``_seconds`` units); docs/deployment.md#metrics lists them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sfsync.api import Project
from sfsync.schedule.ledger import next_run_at
from sfsync.schedule.times import is_scheduled
from sfsync.state import RunRecord

DURATION_BUCKETS: tuple[float, ...] = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)
"""Upper bounds (seconds) of the run duration histogram's buckets (a last +Inf bucket is implied)."""
HISTORY_PAGE = 500
"""Runs read per query while catching up with the run history (doubled until the last folded run)."""


@dataclass
class _Totals:
    """What the finished runs seen so far add up to, per sync."""

    runs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (sync, status)
    rows: Counter[tuple[str, str]] = field(default_factory=Counter)  # (sync, outcome)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (sync, error code)
    api_calls: Counter[str] = field(default_factory=Counter)
    buckets: dict[str, list[int]] = field(default_factory=dict)  # sync -> count per bucket (+Inf last)
    duration_sum: dict[str, float] = field(default_factory=dict)


class ProjectMetrics(Collector):
    """A prometheus-client collector reading the project that ``project()`` returns at each scrape (the
    scheduler and the web UI reload their project file: the newest one is read)."""

    def __init__(self, project: Callable[[], Project], *, now: Callable[[], datetime] | None = None) -> None:
        self._project = project
        self._now = now or (lambda: datetime.now(UTC))
        self._totals = _Totals()
        self._watermark = 0  # every run with an id up to this one is folded into the totals
        self._folded: set[int] = set()  # finished runs above the watermark already folded
        self._lock = threading.Lock()

    # ---- folding the run history ----------------------------------------------------------------------
    def _new_runs(self, project: Project) -> list[RunRecord]:
        limit = HISTORY_PAGE
        while True:
            runs = project.runs(None, limit)
            if len(runs) < limit or runs[-1].id <= self._watermark:
                return sorted((r for r in runs if r.id > self._watermark), key=lambda r: r.id)
            limit *= 2

    def _fold(self, project: Project, run: RunRecord) -> None:
        t = self._totals
        t.runs[(run.sync, run.status.value)] += 1
        c = run.counts
        for outcome, n in (("created", c.created), ("updated", c.updated), ("rejected", c.rejected)):
            t.rows[(run.sync, outcome)] += n
        if c.rejected:
            for code, n in project.rejected_counts(run.id).items():
                t.rejected[(run.sync, code)] += n
        t.api_calls[run.sync] += c.api_calls
        if run.duration_s is not None:
            counts = t.buckets.setdefault(run.sync, [0] * (len(DURATION_BUCKETS) + 1))
            place = next(
                (i for i, b in enumerate(DURATION_BUCKETS) if run.duration_s <= b), len(DURATION_BUCKETS)
            )
            counts[place] += 1
            t.duration_sum[run.sync] = t.duration_sum.get(run.sync, 0.0) + run.duration_s

    def _catch_up(self, project: Project) -> list[RunRecord]:
        """Fold the runs that finished since the last scrape; returns the runs still running."""
        if not project.has_state:
            return []
        runs = self._new_runs(project)
        running = [r for r in runs if not r.finished]
        for run in runs:
            if run.finished and run.id not in self._folded:
                self._fold(project, run)
                self._folded.add(run.id)
        if runs:
            self._watermark = (min(r.id for r in running) - 1) if running else runs[-1].id
            self._folded = {i for i in self._folded if i > self._watermark}
        return running

    # ---- the metrics --------------------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        project = self._project()
        with self._lock:
            running = self._catch_up(project)
            yield from self._history_metrics()
        yield self._running(project, running)
        yield from self._schedule_metrics(project)
        yield from self._quota_metrics(project)

    def _history_metrics(self) -> Iterator[Metric]:
        t = self._totals
        runs = CounterMetricFamily(
            "sfsync_runs", "Finished runs by sync and status.", labels=["sync", "status"]
        )
        for (sync, status), n in sorted(t.runs.items()):
            runs.add_metric([sync, status], n)
        yield runs
        rows = CounterMetricFamily(
            "sfsync_rows", "Rows Salesforce answered for, by outcome.", labels=["sync", "outcome"]
        )
        for (sync, outcome), n in sorted(t.rows.items()):
            rows.add_metric([sync, outcome], n)
        yield rows
        rejected = CounterMetricFamily(
            "sfsync_rejected_rows", "Rejected rows by Salesforce error code.", labels=["sync", "code"]
        )
        for (sync, code), n in sorted(t.rejected.items()):
            rejected.add_metric([sync, code], n)
        yield rejected
        calls = CounterMetricFamily("sfsync_api_calls", "Salesforce API calls made by runs.", labels=["sync"])
        for sync, n in sorted(t.api_calls.items()):
            calls.add_metric([sync], n)
        yield calls
        duration = HistogramMetricFamily(
            "sfsync_run_duration_seconds", "How long finished runs took.", labels=["sync"]
        )
        for sync, counts in sorted(t.buckets.items()):
            cumulative, total = [], 0
            for bound, n in zip([*(str(float(b)) for b in DURATION_BUCKETS), "+Inf"], counts, strict=True):
                total += n
                cumulative.append((bound, float(total)))
            duration.add_metric([sync], cumulative, sum_value=t.duration_sum[sync])
        yield duration

    def _running(self, project: Project, running: list[RunRecord]) -> Metric:
        gauge = GaugeMetricFamily(
            "sfsync_runs_in_progress", "Runs of each sync running now.", labels=["sync"]
        )
        by_sync = Counter(r.sync for r in running)
        for sync in project.syncs:
            gauge.add_metric([sync], by_sync.get(sync, 0))
        return gauge

    def _schedule_metrics(self, project: Project) -> Iterator[Metric]:
        now = self._now()
        lag = GaugeMetricFamily(
            "sfsync_schedule_lag_seconds",
            "How far behind its schedule each scheduled sync is: the age of its oldest slot not yet run "
            "(0 when none is owed).",
            labels=["sync"],
        )
        paused = GaugeMetricFamily("sfsync_sync_paused", "1 when the sync is paused.", labels=["sync"])
        state_dir = project.store.paths.root if project.has_state else None
        for name, sync in project.config.syncs.items():
            paused.add_metric([name], 1.0 if project.status(name).paused else 0.0)
            if not is_scheduled(sync.schedule):
                continue
            due = next_run_at(state_dir, name, sync.schedule, now) if state_dir is not None else None
            lag.add_metric([name], max(0.0, (now - due).total_seconds()) if due is not None else 0.0)
        yield lag
        yield paused

    def _quota_metrics(self, project: Project) -> Iterator[Metric]:
        used = GaugeMetricFamily(
            "sfsync_salesforce_api_requests_used",
            "The org's API requests used in the last 24 h, as Salesforce last reported it to a run.",
            labels=["destination"],
        )
        limit = GaugeMetricFamily(
            "sfsync_salesforce_api_requests_limit",
            "The org's daily API request limit.",
            labels=["destination"],
        )
        remaining = GaugeMetricFamily(
            "sfsync_salesforce_api_requests_remaining",
            "API requests left in the org's rolling 24 h quota.",
            labels=["destination"],
        )
        for destination, usage in sorted(project.api_usage().items()):
            used.add_metric([destination], usage.used)
            limit.add_metric([destination], usage.max)
            remaining.add_metric([destination], max(0, usage.max - usage.used))
        yield used
        yield limit
        yield remaining


def metrics_registry(project: Callable[[], Project]) -> CollectorRegistry:
    """A registry holding only the project's metrics (no process metrics: several projects may share a
    process in tests and embeddings)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProjectMetrics(project))
    return registry


def metrics_text(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry's metrics in Prometheus' text format, and its content type (for an HTTP answer)."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsServer:
    """An HTTP server answering ``GET /metrics`` on its own thread (the scheduler's ``--metrics-port``)."""

    def __init__(self, project: Callable[[], Project], host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=metrics_registry(project))

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


__all__ = [
    "DURATION_BUCKETS",
    "HISTORY_PAGE",
    "MetricsServer",
    "ProjectMetrics",
    "metrics_registry",
    "metrics_text",
]
