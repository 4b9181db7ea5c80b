"""The web UI's ``/metrics``: over a real socket, behind the UI's token, parsed by prometheus_client."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sfsync import api
from sfsync.emulator.server import BackgroundServer
from sfsync.web import UiSettings, create_app
from tests.plugins.emulator import InProcessEmulator
from tests.web.conftest import TOKEN


def test_the_ui_serves_the_runs_of_every_process_to_an_authenticated_scraper(
    project_file: Path, emulator: InProcessEmulator
) -> None:
    app = create_app(UiSettings(project_file=project_file, token=TOKEN, transport=emulator.transport))
    server = BackgroundServer(app).start()
    try:
        url = f"{server.url}/metrics"
        assert httpx.get(url, timeout=10).status_code == 401  # the token guards metrics too
        # a run by another process (the CLI, the scheduler): the UI reads it from the shared state
        with api.Project.load(project_file, transport=emulator.transport) as other:
            outcome = other.attempt("contacts")
        assert outcome.result is not None
        answer = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert answer.status_code == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples
        }
        assert samples[("sfsync_runs_total", (("status", "partial"), ("sync", "contacts")))] == 1
        assert samples[("sfsync_rows_total", (("outcome", "created"), ("sync", "contacts")))] == 2
        rejected = {k[1]: v for k, v in samples.items() if k[0] == "sfsync_rejected_rows_total"}
        assert rejected == {
            (("code", "INVALID_EMAIL_ADDRESS"), ("sync", "contacts")): 1,
            (("code", "STRING_TOO_LONG"), ("sync", "contacts")): 1,
        }
        assert samples[("sfsync_api_calls_total", (("sync", "contacts"),))] == outcome.result.counts.api_calls
        assert samples[("sfsync_schedule_lag_seconds", (("sync", "contacts"),))] == 0  # never due yet
    finally:
        server.stop()
        app.state.service.close()
