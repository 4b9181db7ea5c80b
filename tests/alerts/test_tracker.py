"""Warnings on real runs (DuckDB → in-process emulator), sent to a real HTTP receiver: each warning is
sent when its sync enters the warning state and once when it recovers, never at every run."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sfsync.alerts import FIRING, OK, WarningTracker
from sfsync.api import OutcomeKind, follow_run
from sfsync.errors import SfsyncError
from sfsync.state import Trigger
from sfsync.sync.engine import SyncSession
from tests.plugins.emulator import InProcessEmulator
from tests.schedule.conftest import Harness
from tests.schedule.helpers import (
    Receiver,
    assert_no_secret,
    drop_table,
    make_people,
    receiving,
    webhook_notifications,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


class Runs:
    def __init__(self, harness: Harness, emulator: InProcessEmulator) -> None:
        self.project = harness.factory.load()
        self.store = harness.store
        self.facade = harness.facade(self.project, transport=emulator.transport)

    def run(self) -> OutcomeKind:
        return self.facade.attempt("contacts", trigger=Trigger.MANUAL).kind


def kinds(receiver: Receiver) -> list[str]:
    return [r.body["kind"] for r in receiver.posts("/hook")]


def test_rejected_rows_warn_once_with_codes_and_an_example_then_recover(
    harness: Harness, emulator: InProcessEmulator, receiver: Receiver
) -> None:
    harness.factory.notifications = webhook_notifications(receiver)
    harness.factory.add_sync(warnings="{on_failure: true, rejected_rows_percent: 20, notify: [hook, slack]}")
    make_people(harness.factory.warehouse, 10, bad_emails=3)
    runs = Runs(harness, emulator)

    assert runs.run() is OutcomeKind.PARTIAL
    [warning] = receiver.posts("/hook")
    body = warning.body
    run = harness.store.last_run("contacts")
    assert run is not None and run.counts.rejected == 3
    assert body["run"]["id"] == run.id and body["run"]["trigger"] == "manual"
    assert body["entered"] == [
        {
            "rule": "rejected_rows_percent",
            "summary": "30% of rows rejected (3 of 10), all with INVALID_EMAIL_ADDRESS (over the 20% limit)",
        }
    ]
    assert body["top_errors"] == [{"code": "INVALID_EMAIL_ADDRESS", "count": 3}]
    assert body["example"].startswith("id=")
    assert "INVALID_EMAIL_ADDRESS" in body["example"] and "not-an-email-" in body["example"]
    assert f"Details: sfsync show-run {run.id} --rejected" in body["text"]
    [slack] = receiver.posts("/services/")
    assert "Example row: id=" in slack.body["blocks"][1]["text"]["text"]
    assert_no_secret(json.dumps(body) + json.dumps(slack.body))
    assert harness.store.sync_status("contacts").warning_state == {
        "on_failure": OK,
        "rejected_rows_percent": FIRING,
    }

    # the same rows are retried and rejected again: still partial (not failed: only retries were sent),
    # still in warning, nothing new is sent
    assert runs.run() is OutcomeKind.PARTIAL
    assert kinds(receiver) == ["warning"]

    # the data is fixed: one recovery message
    make_people(harness.factory.warehouse, 10)
    assert runs.run() is OutcomeKind.SUCCEEDED
    assert kinds(receiver) == ["warning", "recovered"]
    recovered = receiver.posts("/hook")[1].body
    assert recovered["recovered"][0]["rule"] == "rejected_rows_percent"
    assert recovered["recovered"][0]["summary"] == "no row was rejected (3 sent)"
    assert runs.run() is OutcomeKind.SUCCEEDED
    assert kinds(receiver) == ["warning", "recovered"]


def test_row_count_drop_warns_and_recovers(
    harness: Harness, emulator: InProcessEmulator, receiver: Receiver
) -> None:
    harness.factory.notifications = webhook_notifications(receiver)
    harness.factory.add_sync(warnings="{row_count_drop_percent: 50, notify: [hook]}")
    make_people(harness.factory.warehouse, 10)
    runs = Runs(harness, emulator)
    runs.run()
    make_people(harness.factory.warehouse, 4)  # the upstream table lost most of its rows
    runs.run()
    runs.run()  # still small: no second warning
    make_people(harness.factory.warehouse, 10)
    runs.run()
    assert kinds(receiver) == ["warning", "recovered"]
    first, second = (r.body for r in receiver.posts("/hook"))
    assert first["entered"][0]["summary"].startswith("the model went from 10 to 4 rows since run 1 (-60.0%")
    assert second["recovered"][0]["rule"] == "row_count_drop_percent"


@pytest.mark.slow
def test_a_failure_warns_once_and_recovers_on_the_next_success(
    harness: Harness, emulator: InProcessEmulator, receiver: Receiver
) -> None:
    harness.factory.notifications = webhook_notifications(receiver)
    harness.factory.add_sync(warnings="{on_failure: true, notify: [hook]}", api="bulk")
    runs = Runs(harness, emulator)
    assert runs.run() is OutcomeKind.SUCCEEDED
    # a failure that is not a broken part (Salesforce fails the Bulk job): warns, does not pause
    emulator.set_faults(bulk_fail=True)
    make_people(harness.factory.warehouse, 8)
    assert runs.run() is OutcomeKind.FAILED
    make_people(harness.factory.warehouse, 9)
    assert runs.run() is OutcomeKind.FAILED
    assert not harness.store.sync_status("contacts").paused
    emulator.set_faults(bulk_fail=False)
    assert runs.run() is OutcomeKind.SUCCEEDED
    assert kinds(receiver) == ["warning", "recovered"]
    warning = receiver.posts("/hook")[0].body
    assert warning["entered"][0]["rule"] == "on_failure" and warning["paused"] is None
    assert warning["run"]["status"] == "failed" and warning["run"]["error"]


def test_follow_run_after_a_run_of_the_engine(
    harness: Harness, emulator: InProcessEmulator, receiver: Receiver
) -> None:
    """What the facade calls after every run: same pause and warning whoever started the run."""
    harness.factory.notifications = webhook_notifications(receiver)
    harness.factory.add_sync(warnings="{notify: [hook]}")
    project = harness.factory.load()
    tracker = WarningTracker(project, harness.store)
    drop_table(harness.factory.warehouse)
    session = SyncSession(project, harness.store, transport=emulator.transport)
    try:
        with pytest.raises(SfsyncError) as caught:
            session.run("contacts")
    finally:
        session.close()
    run = harness.store.last_run("contacts")
    assert run is not None and caught.value.run_id == run.id
    outcome = follow_run(harness.store, tracker, "contacts", None, caught.value)
    assert outcome.kind is OutcomeKind.FAILED and outcome.paused_cause is not None
    assert harness.store.sync_status("contacts").paused
    [warning] = receiver.posts("/hook")
    assert {e["rule"] for e in warning.body["entered"]} == {"on_failure", "paused"}
    assert warning.body["paused"].startswith("the source or model cannot be read")
