"""Pausing: a sync that breaks pauses itself and resumes when fixed; manual pauses wait for a person."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from sfsync.api import OutcomeKind, manual_cause, pause_cause_for, status_view
from sfsync.api.pausing import pause_sync
from sfsync.config import load_project
from sfsync.errors import AuthError, ConfigError, LimitError, SourceError, TransientError, UnreachableError
from sfsync.schedule import Action, Decision, Scheduler, SchedulerSettings
from sfsync.state import StateStore
from tests.plugins.emulator import InProcessEmulator
from tests.schedule.conftest import FAST, Harness
from tests.schedule.helpers import (
    SECRETS,
    Receiver,
    assert_no_secret,
    drop_table,
    make_people,
    receiving,
    webhook_notifications,
)


def describe_status(store: StateStore, sync: str) -> str:
    return status_view(store, sync).describe()


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def actions(decisions: list[Decision], sync: str = "contacts") -> list[Action]:
    return [d.action for d in decisions if d.sync == sync]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def test_the_table_disappears_then_comes_back(harness: Harness, receiver: Receiver) -> None:
    harness.factory.notifications = webhook_notifications(receiver)
    harness.factory.add_sync(warnings="{on_failure: true, paused: true, notify: [hook, slack]}")
    sched = harness.scheduler()
    store = harness.store
    sched.tick(t("2026-01-05 10:07"))
    sched.tick(t("2026-01-05 10:15"))
    [ok] = sched.wait_idle(30)
    assert ok.kind is OutcomeKind.SUCCEEDED and receiver.posts() == []

    drop_table(harness.factory.warehouse)
    assert actions(sched.tick(t("2026-01-05 10:30"))) == [Action.RUN]
    [failed] = sched.wait_idle(30)
    assert failed.kind is OutcomeKind.FAILED
    status = store.sync_status("contacts")
    assert status.pause_automatic and (status.pause_cause or "").startswith(
        "the source or model cannot be read"
    )
    assert "people" in (status.pause_cause or "")
    assert describe_status(store, "contacts").startswith(
        "paused automatically (resumes when its check passes)"
    )

    # one warning, to each notifier
    [hook] = receiver.posts("/hook")
    [slack] = receiver.posts("/services/")
    assert hook.body["kind"] == "warning" and hook.body["sync"] == "contacts"
    assert hook.body["run"]["id"] == failed.run_id and hook.body["run"]["status"] == "failed"
    assert {e["rule"] for e in hook.body["entered"]} == {"on_failure", "paused"}
    assert "people" in hook.body["text"] and "paused itself" in hook.body["text"]
    assert hook.headers["Authorization"] == "Bearer hdr-b81d40aa7e93"  # sent as a header only
    assert slack.body["text"].startswith(":warning: [sfsync] warning: sync contacts")
    assert f"Run: {failed.run_id} (schedule, failed)" in slack.body["blocks"][1]["text"]["text"]
    for request in (hook, slack):
        assert_no_secret(json.dumps(request.body))

    # still broken: re-checked each tick, stays paused, nothing more is sent, no run is attempted
    for moment in ("2026-01-05 10:31", "2026-01-05 10:45", "2026-01-05 11:00"):
        assert actions(sched.tick(t(moment))) == [Action.RECHECK]
        sched.wait_idle(30)
    assert store.sync_status("contacts").paused
    assert len(receiver.posts()) == 2 and len(store.runs("contacts")) == 2

    # the table is back: the check passes and the sync resumes; its owed slot runs at the next tick and,
    # as it succeeds, one recovery message goes out
    make_people(harness.factory.warehouse, 6)
    assert actions(sched.tick(t("2026-01-05 11:05"))) == [Action.RECHECK]
    sched.wait_idle(30)
    assert not store.sync_status("contacts").paused
    assert len(receiver.posts()) == 2
    assert actions(sched.tick(t("2026-01-05 11:06"))) == [Action.RUN]
    [again] = sched.wait_idle(30)
    assert again.kind is OutcomeKind.SUCCEEDED
    hooks = receiver.posts("/hook")
    assert [h.body["kind"] for h in hooks] == ["warning", "recovered"]
    assert {e["rule"] for e in hooks[1].body["recovered"]} == {"on_failure", "paused"}
    assert f"the sync resumed by itself and run {again.run_id} succeeded" in hooks[1].body["text"]
    assert len(receiver.posts("/services/")) == 2
    assert_no_secret(json.dumps(hooks[1].body))

    assert actions(sched.tick(t("2026-01-05 11:07"))) == [Action.NOT_DUE]
    assert actions(sched.tick(t("2026-01-05 11:15"))) == [Action.RUN]
    sched.wait_idle(30)
    assert len(receiver.posts()) == 4
    assert describe_status(store, "contacts") == "active"


def test_a_check_that_passes_while_runs_still_fail_does_not_flap(
    harness: Harness, receiver: Receiver
) -> None:
    """Duplicate keys pass the check (columns, describe, mapping) but fail every run: one warning only."""
    harness.factory.notifications = webhook_notifications(receiver)
    harness.factory.add_sync(warnings="{on_failure: true, notify: [hook]}")
    sched = harness.scheduler()
    sched.tick(t("2026-01-05 10:07"))
    con = duckdb.connect(str(harness.factory.warehouse))
    con.execute("insert into people select * from people where id = '1'")
    con.close()
    start = t("2026-01-05 10:15")
    for k in range(3):  # each slot: the run fails → paused; a minute later the check passes → resumed
        for offset in (0, 1):
            sched.tick(start + timedelta(minutes=15 * k + offset))
            sched.wait_idle(30)
    failed = [r for r in harness.store.runs("contacts") if r.status.value == "failed"]
    assert "is not unique" in (failed[0].error or "")
    assert [h.body["kind"] for h in receiver.posts("/hook")] == ["warning"]

    assert len(failed) == 3
    make_people(harness.factory.warehouse, 6)
    sched.tick(t("2026-01-05 11:00"))
    sched.wait_idle(30)
    assert not harness.store.sync_status("contacts").paused
    assert [h.body["kind"] for h in receiver.posts("/hook")] == ["warning", "recovered"]


def test_a_manual_pause_waits_for_a_person(harness: Harness, receiver: Receiver) -> None:
    harness.factory.notifications = webhook_notifications(receiver)
    harness.factory.add_sync(warnings="{on_failure: true, paused: true, notify: [hook]}")
    sched = harness.scheduler()
    store = harness.store
    sched.tick(t("2026-01-05 10:07"))
    pause_sync(store, "contacts", manual_cause("warehouse maintenance", user="alice"))
    assert describe_status(store, "contacts").endswith("paused by alice: warehouse maintenance")

    assert actions(sched.tick(t("2026-01-05 10:15"))) == [Action.SKIP_PAUSED]
    assert actions(sched.tick(t("2026-01-05 10:30"))) == [Action.SKIP_PAUSED]
    [warning] = receiver.posts("/hook")  # the paused warning fires once, not per skipped slot
    assert warning.body["entered"][0]["rule"] == "paused"
    assert "warehouse maintenance" in warning.body["text"]
    assert store.runs("contacts") == []
    assert describe_status(store, "contacts").endswith("; warnings firing: paused")

    sched.project.resume("contacts")
    assert [p.body["kind"] for p in receiver.posts("/hook")] == ["warning", "recovered"]
    assert actions(sched.tick(t("2026-01-05 10:31"))) == [Action.RUN]  # the skipped slots, once
    sched.wait_idle(30)
    assert actions(sched.tick(t("2026-01-05 10:32"))) == [Action.NOT_DUE]

    # resumed elsewhere (web UI writing the store): the scheduler sends the recovery itself
    pause_sync(store, "contacts", manual_cause(user="bob"))
    sched.tick(t("2026-01-05 10:45"))
    store.set_paused("contacts", False)
    sched.tick(t("2026-01-05 10:46"))
    sched.wait_idle(30)
    assert [p.body["kind"] for p in receiver.posts("/hook")] == ["warning", "recovered"] * 2


def test_a_manual_pause_over_an_automatic_one_stops_the_automatic_resume(harness: Harness) -> None:
    harness.factory.add_sync()
    sched = harness.scheduler()
    sched.tick(t("2026-01-05 10:07"))
    drop_table(harness.factory.warehouse)
    sched.tick(t("2026-01-05 10:15"))
    sched.wait_idle(30)
    assert status_view(harness.store, "contacts").automatic
    pause_sync(harness.store, "contacts", manual_cause("investigating", user="carol"))
    make_people(harness.factory.warehouse, 3)
    assert actions(sched.tick(t("2026-01-05 10:20"))) == [Action.NOT_DUE]  # no re-check
    assert actions(sched.tick(t("2026-01-05 10:30"))) == [Action.SKIP_PAUSED]
    sched.wait_idle(30)
    view = status_view(harness.store, "contacts")
    assert view.paused and not view.automatic
    assert view.to_dict()["cause"] == "paused by carol: investigating"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (SourceError("model 'people' failed: Table people does not exist"), "the source or model"),
        (ConfigError("sync cannot run", problems=["column x missing"]), "the sync's configuration"),
        (AuthError("authentication failure"), "Salesforce refuses the login"),
        (UnreachableError("GET describe: ConnectError", code="CONNECTION_ERROR"), "Salesforce cannot be"),
        (TransientError("503 SERVER_UNAVAILABLE", code="SERVER_UNAVAILABLE"), None),
        (LimitError("daily API quota exhausted"), None),
    ],
)
def test_which_failures_pause_a_sync(error: Exception, expected: str | None) -> None:
    cause = pause_cause_for(error)
    if expected is None:
        assert cause is None
    else:
        assert cause is not None and cause.startswith(expected)
    if isinstance(error, ConfigError):
        assert cause is not None and cause.endswith("sync cannot run: column x missing")


@pytest.mark.slow
def test_pause_and_resume_commands(harness: Harness) -> None:
    harness.factory.add_sync()
    path = harness.factory.write()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sfsync", *args, "--project", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    paused = cli("pause", "contacts", "--reason", "quarter close")
    assert paused.returncode == 0, paused.stderr
    assert "sync contacts: paused since" in paused.stdout
    assert "quarter close" in paused.stdout
    assert harness.store.sync_status("contacts").paused

    as_json = cli("resume", "contacts", "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["was_paused"] is True and data["paused"] is False and data["text"] == "active"

    again = cli("resume", "contacts")
    assert again.returncode == 0 and "was not paused" in again.stdout

    unknown = cli("pause", "nope")
    assert unknown.returncode == 2
    assert "there is no sync 'nope'" in unknown.stderr and "contacts" in unknown.stderr


def test_a_refused_login_pauses_without_leaking_the_password(
    harness: Harness, receiver: Receiver, emulator: InProcessEmulator
) -> None:
    harness.factory.notifications = webhook_notifications(receiver)
    harness.factory.add_sync(warnings="{on_failure: true, notify: [hook, slack]}")
    harness.factory.write()
    wrong = "Wr0ng-Passw0rd-77"
    env = harness.factory.root / ".env"
    env.write_text(env.read_text().replace(f"SF_PASSWORD={SECRETS['SF_PASSWORD']}", f"SF_PASSWORD={wrong}"))
    project = load_project(harness.factory.root / "sfsync.yml", environ={})
    sched = Scheduler(harness.facade(project, transport=emulator.transport), settings=FAST)
    try:
        sched.tick(t("2026-01-05 10:07"))
        sched.tick(t("2026-01-05 10:15"))
        [outcome] = sched.wait_idle(30)
        assert outcome.kind is OutcomeKind.FAILED
        status = harness.store.sync_status("contacts")
        assert (status.pause_cause or "").startswith("Salesforce refuses the login")
        sched.tick(t("2026-01-05 10:16"))  # the check fails the same way: still paused, nothing sent
        sched.wait_idle(30)
        assert harness.store.sync_status("contacts").paused
        posts = receiver.posts()
        assert len(posts) == 2
        for text in [json.dumps(p.body) for p in posts] + [status.pause_cause or ""]:
            assert wrong not in text
            assert_no_secret(text)
    finally:
        sched.close()


def test_a_sync_that_resumes_by_itself_runs_at_once(harness: Harness, receiver: Receiver) -> None:
    """Daily sync broken at its 07:00 run and fixed at 09:00: it runs at 09:00, not tomorrow."""
    harness.factory.notifications = webhook_notifications(receiver)
    harness.factory.add_sync(schedule='{daily: "07:00"}', warnings="{notify: [hook]}")
    sched = harness.scheduler(SchedulerSettings(max_parallel=2, poll_seconds=1, recheck_seconds=600))
    sched.tick(t("2026-01-05 06:00"))
    drop_table(harness.factory.warehouse)
    sched.tick(t("2026-01-05 07:00"))
    sched.wait_idle(30)
    assert harness.store.sync_status("contacts").paused
    assert actions(sched.tick(t("2026-01-05 07:01"))) == [Action.RECHECK]
    sched.wait_idle(30)
    assert actions(sched.tick(t("2026-01-05 07:05"))) == [Action.NOT_DUE]  # next check in 10 minutes
    make_people(harness.factory.warehouse, 6)
    assert actions(sched.tick(t("2026-01-05 09:00"))) == [Action.RECHECK]
    sched.wait_idle(30)
    decisions = sched.tick(t("2026-01-05 09:01"))
    assert actions(decisions) == [Action.RUN] and "resumed by itself" in decisions[0].detail
    [outcome] = sched.wait_idle(30)
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert [p.body["kind"] for p in receiver.posts("/hook")] == ["warning", "recovered"]
    assert actions(sched.tick(t("2026-01-05 09:02"))) == [Action.NOT_DUE]
    assert actions(sched.tick(t("2026-01-06 07:00"))) == [Action.RUN]
    sched.wait_idle(30)
