"""The scheduler with controlled time, running real syncs (DuckDB → in-process emulator)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from sfsync.api import OutcomeKind
from sfsync.config import load_project
from sfsync.errors import SchedulerRunningError
from sfsync.schedule import (
    Action,
    Decision,
    FireLedger,
    ProjectWatcher,
    Scheduler,
    SchedulerLock,
    SchedulerSettings,
    next_run_at,
    schedule_fingerprint,
)
from sfsync.state import RunStatus, Trigger
from tests.plugins.emulator import InProcessEmulator
from tests.schedule.conftest import FAST, Harness
from tests.schedule.helpers import GatedTransport


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def actions(decisions: list[Decision], sync: str = "contacts") -> list[Action]:
    return [d.action for d in decisions if d.sync == sync]


def contacts_in_org(emulator: InProcessEmulator) -> int:
    with emulator.client() as c:
        r = c.get("/services/data/v62.0/query", params={"q": "SELECT COUNT() FROM Contact"})
        return int(r.json()["totalSize"])


# (schedule, first tick, a moment before the first slot, the first slot, the second slot)
KINDS = {
    "every": (
        "{every: 15m}",
        "2026-01-05 10:07",
        "2026-01-05 10:14:59",
        "2026-01-05 10:15",
        "2026-01-05 10:30",
    ),
    "daily": (
        '{daily: "07:00"}',
        "2026-01-05 06:00",
        "2026-01-05 06:59",
        "2026-01-05 07:00",
        "2026-01-06 07:00",
    ),
    # Friday 08:00 → Monday 07:00 (Saturday 07:00 is no slot), then Tuesday
    "cron": (
        '{cron: "0 7 * * 1-5"}',
        "2026-01-09 08:00",
        "2026-01-10 07:00",
        "2026-01-12 07:00",
        "2026-01-13 07:00",
    ),
    "any": (
        '{any: [{daily: "07:00"}, {every: 4h}]}',
        "2026-01-05 05:00",
        "2026-01-05 06:59",
        "2026-01-05 07:00",
        "2026-01-05 08:00",
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_schedule_kind_runs_at_its_slots(
    harness: Harness, emulator: InProcessEmulator, kind: str
) -> None:
    schedule, start, before, first, second = KINDS[kind]
    harness.factory.add_sync(schedule=schedule)
    sched = harness.scheduler()

    assert actions(sched.tick(t(start))) == [Action.FIRST_SEEN]  # counts from now: no run at start
    assert actions(sched.tick(t(before))) == [Action.NOT_DUE]
    assert actions(sched.tick(t(first))) == [Action.RUN]
    [outcome] = sched.wait_idle(30)
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert actions(sched.tick(t(first) + timedelta(seconds=30))) == [Action.NOT_DUE]
    assert actions(sched.tick(t(second))) == [Action.RUN]
    sched.wait_idle(30)

    runs = harness.store.runs("contacts")
    assert [r.trigger for r in runs] == [Trigger.SCHEDULE, Trigger.SCHEDULE]
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    assert runs[-1].counts.created == 6 and runs[0].counts.unchanged == 6
    assert contacts_in_org(emulator) == 6


def test_manual_schedule_never_runs(harness: Harness) -> None:
    harness.factory.add_sync(schedule="{manual: true}")
    sched = harness.scheduler()
    for moment in ("2026-01-05 10:00", "2026-03-01 00:00", "2027-01-01 07:00"):
        assert actions(sched.tick(t(moment))) == [Action.MANUAL]
    assert sched.wait_idle(5) == []
    assert harness.store.runs("contacts") == []


def test_catches_up_once_after_being_down_and_remembers_across_restarts(harness: Harness) -> None:
    harness.factory.add_sync(schedule="{every: 15m}")
    first = harness.scheduler()
    first.tick(t("2026-01-05 10:07"))
    first.close()

    # down for three hours: 12 slots missed, one run
    restarted = harness.scheduler()
    decisions = restarted.tick(t("2026-01-05 13:08"))
    assert actions(decisions) == [Action.RUN]
    assert decisions[0].slot == t("2026-01-05 13:00")
    assert "catching up once" in decisions[0].detail
    restarted.wait_idle(30)
    assert actions(restarted.tick(t("2026-01-05 13:09"))) == [Action.NOT_DUE]
    restarted.close()

    root, schedule = harness.store.paths.root, restarted.config.syncs["contacts"].schedule
    assert next_run_at(root, "contacts", schedule, t("2026-01-05 13:09")) == t("2026-01-05 13:15")
    again = harness.scheduler()  # the ledger on disk says 13:00 was dealt with
    assert actions(again.tick(t("2026-01-05 13:10"))) == [Action.NOT_DUE]
    assert actions(again.tick(t("2026-01-05 13:15"))) == [Action.RUN]
    again.wait_idle(30)
    assert len(harness.store.runs("contacts")) == 2


def test_a_changed_schedule_starts_counting_afresh(harness: Harness) -> None:
    harness.factory.add_sync(schedule="{every: 15m}")
    harness.scheduler().tick(t("2026-01-05 10:07"))
    harness.factory.add_sync(schedule='{daily: "07:00"}')
    sched = harness.scheduler()
    decisions = sched.tick(t("2026-01-05 12:00"))  # no catch-up of the old schedule's slots
    assert actions(decisions) == [Action.FIRST_SEEN]
    assert decisions[0].slot == t("2026-01-06 07:00")


def test_a_run_in_flight_is_not_started_twice_and_the_slot_runs_once_after(
    harness: Harness, emulator: InProcessEmulator
) -> None:
    harness.factory.add_sync(schedule="{every: 15m}")
    gated = GatedTransport(emulator.transport)
    sched = harness.scheduler(transport=gated)
    sched.tick(t("2026-01-05 10:07"))
    assert actions(sched.tick(t("2026-01-05 10:15"))) == [Action.RUN]
    gated.wait_blocked()
    assert actions(sched.tick(t("2026-01-05 10:30"))) == [Action.SKIP_RUNNING]
    assert actions(sched.tick(t("2026-01-05 10:45"))) == [Action.SKIP_RUNNING]
    assert harness.store.lock_owner("contacts") is not None
    gated.gate.set()
    sched.wait_idle(30)
    assert actions(sched.tick(t("2026-01-05 10:46"))) == [Action.RUN]  # the owed slot, once
    sched.wait_idle(30)
    assert actions(sched.tick(t("2026-01-05 10:47"))) == [Action.NOT_DUE]
    assert len(harness.store.runs("contacts")) == 2


_HOLDER = textwrap.dedent(
    """
    import sys
    from sfsync.state import StateStore
    store = StateStore.open(sys.argv[1])
    with store.lock("contacts"):
        print("locked", flush=True)
        sys.stdin.readline()
    print("released", flush=True)
    """
)


def test_a_run_held_by_another_process_is_skipped_not_failed(harness: Harness) -> None:
    harness.factory.add_sync(schedule="{every: 15m}")
    sched = harness.scheduler()
    sched.tick(t("2026-01-05 10:07"))
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(harness.store.paths.root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert actions(sched.tick(t("2026-01-05 10:15"))) == [Action.RUN]
        [outcome] = sched.wait_idle(30)
        assert outcome.kind is OutcomeKind.BUSY
        assert f"pid {holder.pid}" in (outcome.error or "")
        assert harness.store.runs("contacts") == []  # nothing recorded, nothing failed
        assert not harness.store.sync_status("contacts").paused
        assert actions(sched.tick(t("2026-01-05 10:20"))) == [Action.NOT_DUE]  # that slot was served
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(30)
    assert actions(sched.tick(t("2026-01-05 10:30"))) == [Action.RUN]
    [outcome] = sched.wait_idle(30)
    assert outcome.kind is OutcomeKind.SUCCEEDED


def test_different_syncs_run_in_parallel_up_to_the_setting(
    harness: Harness, emulator: InProcessEmulator
) -> None:
    harness.factory.add_sync("evens", schedule="{every: 15m}", source="evens")
    harness.factory.add_sync("odds", schedule="{every: 15m}", source="odds")
    harness.factory.add_sync("all", schedule="{every: 15m}", source="people")
    gated = GatedTransport(emulator.transport)
    sched = harness.scheduler(SchedulerSettings(max_parallel=2, poll_seconds=0.05), transport=gated)
    sched.tick(t("2026-01-05 10:07"))
    decisions = {d.sync: d.action for d in sched.tick(t("2026-01-05 10:15"))}
    assert decisions == {"all": Action.RUN, "evens": Action.RUN, "odds": Action.SKIP_FULL}
    gated.wait_blocked(2)  # both reached Salesforce: two runs at once
    assert sched.running == ["all", "evens"]
    gated.gate.set()
    sched.wait_idle(30)
    assert {d.sync: d.action for d in sched.tick(t("2026-01-05 10:16"))}["odds"] is Action.RUN
    sched.wait_idle(30)
    assert {r.sync for r in harness.store.runs()} == {"all", "evens", "odds"}
    assert all(r.status is RunStatus.SUCCEEDED for r in harness.store.runs())


def test_parents_run_before_children_in_one_tick(harness: Harness, emulator: InProcessEmulator) -> None:
    """Contacts look their Account up: due at the same slot, the Account sync runs first (whatever the
    names' order), in the same job, and every Contact is linked."""
    harness.factory.add_sync("a_contacts", mappings="{last: LastName, id: Account.External_Id__c}")
    harness.factory.add_sync("z_accounts", source="companies", object="Account", mappings="{last: Name}")
    sched = harness.scheduler()
    sched.tick(t("2026-01-05 10:07"))
    decisions = {d.sync: d.action for d in sched.tick(t("2026-01-05 10:15"))}
    assert decisions == {"a_contacts": Action.RUN, "z_accounts": Action.RUN}
    outcomes = {o.sync: o for o in sched.wait_idle(30)}
    assert all(o.kind is OutcomeKind.SUCCEEDED for o in outcomes.values()), outcomes
    runs = {r.sync: r for r in harness.store.runs()}
    assert runs["z_accounts"].id < runs["a_contacts"].id
    assert runs["a_contacts"].counts.created == 6 and runs["a_contacts"].counts.rejected == 0
    with emulator.client() as c:
        soql = "SELECT COUNT() FROM Contact WHERE Account.External_Id__c != null"
        assert c.get("/services/data/v62.0/query", params={"q": soql}).json()["totalSize"] == 6


def test_one_broken_sync_does_not_stop_the_others(harness: Harness) -> None:
    harness.factory.add_sync("good", schedule="{every: 15m}")
    harness.factory.add_sync("broken", schedule="{every: 15m}", mappings="{email: No_Such_Field__c}")
    sched = harness.scheduler()
    sched.tick(t("2026-01-05 10:07"))
    sched.tick(t("2026-01-05 10:15"))
    outcomes = {o.sync: o for o in sched.wait_idle(30)}
    assert outcomes["good"].kind is OutcomeKind.SUCCEEDED
    assert outcomes["broken"].kind is OutcomeKind.FAILED
    status = harness.store.sync_status("broken")
    assert status.pause_automatic and (status.pause_cause or "").startswith("the sync's configuration")
    assert "No_Such_Field__c" in (status.pause_cause or "")
    decisions = {d.sync: d.action for d in sched.tick(t("2026-01-05 10:30"))}
    assert decisions["good"] is Action.RUN
    assert decisions["broken"] is Action.RECHECK  # still broken: it stays paused
    sched.wait_idle(30)
    assert harness.store.sync_status("broken").paused


def test_only_one_scheduler_per_project(harness: Harness) -> None:
    root = harness.store.paths.root
    with SchedulerLock(root), pytest.raises(SchedulerRunningError, match="already running"):
        SchedulerLock(root).acquire()
    SchedulerLock(harness.store.paths.root).acquire().release()


def test_the_loop_runs_due_syncs_and_stops_cleanly(harness: Harness) -> None:
    """run_forever with a clock that moves five minutes per sleep: two slots run, then stop drains."""

    class FastClock:
        def __init__(self) -> None:
            self.moment = t("2026-01-05 10:07")

        def now(self) -> datetime:
            return self.moment

        def wait(self, wake: threading.Event, seconds: float) -> None:
            wake.wait(0.01)
            self.moment += timedelta(minutes=5)

    harness.factory.add_sync(schedule="{every: 15m}")
    harness.project = harness.factory.load()
    sched = harness.scheduler(SchedulerSettings(max_parallel=1, poll_seconds=300))
    sched.clock = FastClock()
    done = threading.Event()
    result: list[list[str]] = []

    def loop() -> None:
        result.append(sched.run_forever())
        done.set()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while len([r for r in harness.store.runs("contacts") if r.finished]) < 2:
            assert datetime.now(UTC) < deadline, "the loop did not run two slots"
            done.wait(0.02)
    finally:
        sched.stop()
        thread.join(30)
    assert result == [[]]  # nothing left running
    assert all(r.status is RunStatus.SUCCEEDED for r in harness.store.runs("contacts"))
    record = FireLedger.in_dir(harness.store.paths.root).get("contacts")
    assert record is not None and record.fingerprint == schedule_fingerprint(
        harness.project.syncs["contacts"].schedule
    )


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_parallel"):
        SchedulerSettings(max_parallel=0)
    assert FAST.recheck_seconds == 0


def test_edits_of_the_project_file_are_picked_up(
    harness: Harness, emulator: InProcessEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    harness.factory.add_sync(schedule="{every: 15m}")
    path = harness.factory.write()
    project = harness.factory.load()
    watcher = ProjectWatcher(path, load=lambda p: load_project(p, environ={}))
    sched = Scheduler(harness.facade(project, transport=emulator.transport), settings=FAST, watcher=watcher)
    try:
        assert actions(sched.tick(t("2026-01-05 10:07"))) == [Action.FIRST_SEEN]

        harness.factory.add_sync(schedule='{daily: "07:00"}')
        harness.factory.add_sync("evens", schedule="{every: 5m}", source="evens")
        harness.factory.write()
        os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
        decisions = {d.sync: d for d in sched.tick(t("2026-01-05 10:08"))}
        assert decisions["contacts"].action is Action.FIRST_SEEN  # its schedule changed
        assert decisions["contacts"].slot == t("2026-01-06 07:00")
        assert decisions["evens"].action is Action.FIRST_SEEN
        assert {d.sync: d.action for d in sched.tick(t("2026-01-05 10:10"))}["evens"] is Action.RUN
        [outcome] = sched.wait_idle(30)
        assert outcome.sync == "evens" and outcome.kind is OutcomeKind.SUCCEEDED

        path.write_text("version: 1\nsyncs: [not, a, mapping\n")
        os.utime(path, ns=(time.time_ns() + 2 * 10**9, time.time_ns() + 2 * 10**9))
        caplog.set_level(logging.ERROR)
        decisions = {d.sync: d for d in sched.tick(t("2026-01-05 10:11"))}
        assert set(decisions) == {"contacts", "evens"}  # the previous version keeps running
        assert "changed but does not load; keeping the previous version" in caplog.text
    finally:
        sched.close()
