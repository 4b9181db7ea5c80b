"""The facade (``sfsync.api.Project``): what the CLI, the scheduler and the web UI call, on a real project
syncing into the in-process emulator."""

from __future__ import annotations

import httpx
import pytest

from sfsync import api
from sfsync.config import load_project
from sfsync.errors import NotFoundError, SourceError
from sfsync.state import RunStatus, Trigger
from tests.plugins.emulator import InProcessEmulator
from tests.schedule.conftest import Harness
from tests.schedule.helpers import drop_table


def test_an_unknown_sync_is_not_found_and_leaves_no_state(harness: Harness) -> None:
    harness.factory.add_sync()
    facade = harness.facade()
    for call in (facade.run, facade.attempt, facade.plan, facade.pause, facade.resume):
        with pytest.raises(NotFoundError, match="there is no sync 'typo'") as caught:
            call("typo")
        assert caught.value.what == "sync" and caught.value.exit_code == 2
    assert harness.store.sync_statuses() == [] and harness.store.runs() == []


def test_a_run_and_its_outcome_carry_the_id_of_the_run_they_recorded(harness: Harness) -> None:
    harness.factory.add_sync()
    facade = harness.facade()
    events: list[api.ProgressEvent] = []
    outcome = facade.attempt("contacts", trigger=Trigger.MANUAL, progress=events.append)
    run = harness.store.last_run("contacts")
    assert run is not None and run.trigger is Trigger.MANUAL
    assert outcome.kind is api.OutcomeKind.SUCCEEDED and outcome.run_id == run.id
    assert outcome.result is not None and outcome.result.status is RunStatus.SUCCEEDED
    assert events[0] == api.RunStarted("contacts", run.id)
    assert api.run_result_view(outcome.result)["counts"]["created"] == 6

    drop_table(harness.factory.warehouse)
    failed = facade.attempt("contacts")
    broken = harness.store.last_run("contacts")
    assert broken is not None and broken.id == failed.run_id and broken.status is RunStatus.FAILED
    assert isinstance(failed.exception, SourceError) and failed.exception.run_id == broken.id
    # what follows a run is decided once: the broken source pauses the sync by itself
    status = facade.status("contacts")
    assert status.paused and status.automatic and (status.cause or "").startswith("the source or model")
    with pytest.raises(SourceError):
        facade.run("contacts")  # a person may still run a paused sync: it fails the same way


def test_checking_and_describing_create_no_state(harness: Harness, emulator: InProcessEmulator) -> None:
    harness.factory.add_sync()
    harness.factory.write()
    facade = api.Project.load(harness.factory.root / "sfsync.yml", transport=emulator.transport)
    with facade:
        # the test project reads its secrets from the factory's environment: check through its config
        facade = facade.with_config(harness.factory.load())
        assert facade.describe("Contact").name == "Contact"
        assert facade.status("contacts").describe() == "active"
        assert not (harness.factory.root / ".sfsync").exists()
        facade.pause("contacts", "maintenance", user="dana")
        assert facade.status("contacts").cause == "paused by dana: maintenance"
        assert (harness.factory.root / ".sfsync" / "state.db").exists()


class _SessionRunsOutDuringBackoff(httpx.BaseTransport):
    """Very short sessions plus 503s (issue 12, item 5), as a script of what happens to the next API calls:
    ``expire`` (the session's life ran out just before the call), ``503`` (the org answers 503, and the
    session runs out while the client waits to retry). Calls past the script reach the org as they are."""

    def __init__(self, emulator: InProcessEmulator) -> None:
        self._emulator = emulator
        self.script: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.script and "/services/data/" in request.url.path:
            step = self.script.pop(0)
            self._emulator.runtime.sessions.expire_all()
            if step == "503":
                body = b'[{"message": "Server is unavailable", "errorCode": "SERVER_UNAVAILABLE"}]'
                return httpx.Response(503, content=body, headers={"Content-Type": "application/json"})
        return self._emulator.transport.handle_request(request)


def test_a_relogin_race_is_retried_and_does_not_pause_the_sync(
    harness: Harness, emulator: InProcessEmulator
) -> None:
    harness.factory.add_sync()
    path = harness.factory.write()
    path.write_text(path.read_text().replace("max_retries: 0", "max_retries: 3"))
    transport = _SessionRunsOutDuringBackoff(emulator)
    facade = harness.facade(load_project(path, environ={}), transport=transport)
    facade.describe("Contact")  # logs in
    # the session expires: 401, log in again; the org answers 503 and the new session runs out during the
    # backoff: the repeated call is refused (401) right after that login, a race the client must retry
    transport.script = ["expire", "503"]
    outcome = facade.attempt("contacts")
    assert outcome.kind is api.OutcomeKind.SUCCEEDED, outcome.exception
    assert not facade.status("contacts").paused
