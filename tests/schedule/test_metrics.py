"""Prometheus metrics of the scheduler: scraped from its real HTTP endpoint, parsed with prometheus_client."""

from __future__ import annotations

import signal
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sfsync.schedule import FireLedger, next_fire, schedule_fingerprint
from sfsync.schedule.metrics import DURATION_BUCKETS, MetricsServer
from tests.plugins.emulator import InProcessEmulator, LiveEmulator
from tests.schedule.conftest import Harness
from tests.schedule.helpers import make_people
from tests.schedule.test_signals import _start

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    answer = httpx.get(url, timeout=10)
    answer.raise_for_status()
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_the_scheduler_serves_runs_rows_calls_quota_durations_and_lag(
    harness: Harness, emulator: InProcessEmulator
) -> None:
    make_people(harness.factory.warehouse, 10, bad_emails=3)
    harness.factory.add_sync("contacts", schedule="{every: 15m}")
    harness.factory.add_sync(
        "leads", object="Lead", mappings="{last: LastName, first: Company}", schedule="{manual: true}"
    )
    facade = harness.facade()
    server = MetricsServer(lambda: facade, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        before = scrape(url)
        assert not [k for k in before if k[0] == "sfsync_runs_total"]  # no run yet
        assert value(before, "sfsync_runs_in_progress", sync="contacts") == 0

        first = facade.attempt("contacts")
        facade.attempt("leads")
        ledger = FireLedger.in_dir(harness.store.paths.root)
        sync = harness.factory.load().syncs["contacts"]
        # the scheduler last ran contacts for the slot of an hour ago: three 15-minute slots are owed
        last = datetime.now(UTC) - timedelta(hours=1)
        ledger.record("contacts", last, schedule_fingerprint(sync.schedule))
        owed = next_fire(sync.schedule, last)
        assert owed is not None
        lag_at_least = (datetime.now(UTC) - owed).total_seconds()
        after = scrape(url)
        lag_at_most = (datetime.now(UTC) - owed).total_seconds()
        assert first.result is not None
        c = first.result.counts
        assert value(after, "sfsync_runs_total", sync="contacts", status="partial") == 1
        assert value(after, "sfsync_runs_total", sync="leads", status="succeeded") == 1
        assert value(after, "sfsync_rows_total", sync="contacts", outcome="created") == 7
        assert value(after, "sfsync_rows_total", sync="contacts", outcome="rejected") == 3
        assert value(after, "sfsync_rows_total", sync="leads", outcome="created") == 10
        assert value(after, "sfsync_rejected_rows_total", sync="contacts", code="INVALID_EMAIL_ADDRESS") == 3
        assert value(after, "sfsync_api_calls_total", sync="contacts") == c.api_calls > 0
        assert value(after, "sfsync_run_duration_seconds_count", sync="contacts") == 1
        assert value(after, "sfsync_run_duration_seconds_bucket", sync="leads", le="+Inf") == 1
        assert value(
            after, "sfsync_run_duration_seconds_bucket", sync="leads", le=str(float(DURATION_BUCKETS[-1]))
        )
        lag = value(after, "sfsync_schedule_lag_seconds", sync="contacts")
        assert 45 * 60 <= lag_at_least <= lag <= lag_at_most  # owed since the first slot after the last
        assert ("sfsync_schedule_lag_seconds", (("sync", "leads"),)) not in after  # manual: no schedule
        used = value(after, "sfsync_salesforce_api_requests_used", destination="org")
        limit = value(after, "sfsync_salesforce_api_requests_limit", destination="org")
        assert 0 < used <= emulator.usage() and limit == emulator.config.faults.daily_api_quota
        assert value(after, "sfsync_salesforce_api_requests_remaining", destination="org") == limit - used

        # counters only grow: one more run of contacts is counted once, however often it is scraped
        facade.pause("contacts")
        facade.attempt("contacts")
        for _ in range(2):
            again = scrape(url)
        assert value(again, "sfsync_runs_total", sync="contacts", status="partial") == 2
        assert value(again, "sfsync_rows_total", sync="contacts", outcome="rejected") == 6
        assert value(again, "sfsync_sync_paused", sync="contacts") == 1
        assert value(again, "sfsync_sync_paused", sync="leads") == 0
    finally:
        server.stop()


def test_sfsync_scheduler_serves_metrics_of_its_runs(tmp_path: Path, live_emulator: LiveEmulator) -> None:
    with socket.socket() as probe:  # a free port for the metrics server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc, store, _ = _start(tmp_path, live_emulator, "--metrics-port", str(port), delay_s=0)
    try:
        deadline = time.monotonic() + 60
        samples: Samples = {}
        while time.monotonic() < deadline:  # the catch-up run finishes, then shows in the metrics
            assert proc.poll() is None, proc.communicate()[1]
            try:
                samples = scrape(f"http://127.0.0.1:{port}/metrics")
            except httpx.HTTPError:
                samples = {}
            done = ("sfsync_runs_total", (("status", "succeeded"), ("sync", "contacts"))) in samples
            # the scheduler writes the slot to its ledger just after the run ends: then the lag is 0
            if done and samples.get(("sfsync_schedule_lag_seconds", (("sync", "contacts"),))) == 0:
                break
            time.sleep(0.1)
        assert value(samples, "sfsync_runs_total", sync="contacts", status="succeeded") == 1
        assert value(samples, "sfsync_rows_total", sync="contacts", outcome="created") == 50
        assert value(samples, "sfsync_schedule_lag_seconds", sync="contacts") == 0  # caught up
        assert value(samples, "sfsync_runs_in_progress", sync="contacts") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        store.close()
    assert proc.returncode == 0
