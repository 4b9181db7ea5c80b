"""The scheduler: runs every due sync of a project, one run per sync at a time, several syncs at once.

Each *tick* looks at every sync (at a moment given by the clock, injectable so tests control time):

1. A sync seen for the first time (or whose schedule changed) starts counting from its latest slot: it
   first runs at its next slot, not at once.
2. A due sync (its next slot after the last slot dealt with is not in the future) is handed to the thread
   pool, unless it is already running here (it is then due again right after, once) or paused (skipped;
   the ``paused`` warning fires once if configured; it runs once when resumed). The slot is written to the
   ledger when the run ends, so however many slots passed while the scheduler was down, the sync runs
   once on restart.
3. A sync paused by itself is re-checked (``Project.recheck``) every ``recheck_seconds`` and
   resumes when the check passes; a scheduled one then runs once at the next tick (its data is stale and
   that run confirms the recovery).

Runs go through the facade (``sfsync.api.Project.attempt``), which decides what follows each run. A sync
being run by another process (``sfsync run``) ends as ``busy``: the slot is skipped, not failed. A failed
run is recorded, may pause the sync (``sfsync.api.pausing``) and raises its warnings; the scheduler
carries on. :meth:`Scheduler.stop` (SIGTERM/SIGINT in the CLI) ends the loop: no
new runs start, runs in flight finish (up to ``stop_grace_seconds``; a run cut short is left to the
engine's recovery by the next run). Every decision is logged (``sfsync.schedule``).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sfsync.alerts import FIRING, Rule
from sfsync.api import OutcomeKind, Project, RunOutcome
from sfsync.config import Project as ProjectConfig
from sfsync.errors import SfsyncError
from sfsync.schedule.ledger import SchedulerLock, ledger_for
from sfsync.schedule.reload import ProjectWatcher
from sfsync.schedule.times import describe_schedule, is_scheduled, last_fire, next_fire, schedule_fingerprint
from sfsync.state import Trigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerSettings:
    """Tuning of the scheduler."""

    #: Runs (of different syncs) in flight at once; one sync never runs twice at once.
    max_parallel: int = 4
    #: Longest sleep between two ticks, in seconds (the loop also wakes at the next slot and when a run ends).
    poll_seconds: float = 30.0
    #: How often a sync that paused itself is re-checked against its source and org, in seconds.
    recheck_seconds: float = 300.0
    #: On stop, how long to wait for runs in flight, in seconds (None: until they finish).
    stop_grace_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        if self.poll_seconds <= 0 or self.recheck_seconds < 0:
            raise ValueError("poll_seconds must be positive and recheck_seconds not negative")


class Clock(Protocol):
    """Where the scheduler gets the time and how it sleeps (tests substitute a controllable one)."""

    def now(self) -> datetime: ...

    def wait(self, wake: threading.Event, seconds: float) -> None:
        """Sleep up to ``seconds``, returning early when ``wake`` is set."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, wake: threading.Event, seconds: float) -> None:
        wake.wait(seconds)


class Action(StrEnum):
    RUN = "run"  # handed to the pool
    NOT_DUE = "not_due"
    FIRST_SEEN = "first_seen"  # started counting slots from now
    MANUAL = "manual"  # schedule manual: never run by the scheduler
    SKIP_RUNNING = "skip_running"  # due, but its previous run is still in flight here
    SKIP_PAUSED = "skip_paused"
    SKIP_FULL = "skip_full"  # due, but max_parallel runs are in flight
    RECHECK = "recheck"  # a self-paused sync is being checked
    ERROR = "error"  # deciding failed (logged); retried next tick


@dataclass(frozen=True)
class Decision:
    sync: str
    action: Action
    slot: datetime | None = None
    detail: str = ""


@dataclass
class _Job:
    kind: str  # "run" | "recheck"
    slot: datetime | None
    future: Future[RunOutcome | bool | dict[str, RunOutcome]]


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "-"


class Scheduler:
    """Runs a project's due syncs. Drive it with :meth:`run_forever`, or tick by tick with :meth:`tick`."""

    def __init__(
        self,
        project: Project,
        *,
        settings: SchedulerSettings | None = None,
        clock: Clock | None = None,
        watcher: ProjectWatcher | None = None,
    ) -> None:
        """``project`` is the facade runs go through; with a ``watcher`` the project file is reloaded when
        it changes (see ``reload.py``) and served through ``project.with_config``."""
        self.store = project.store
        self.settings = settings or SchedulerSettings()
        self.clock: Clock = clock or SystemClock()
        self.watcher = watcher
        self.project = project
        self.ledger = ledger_for(self.store)  # shared by every worker when the state is PostgreSQL
        self._pool = ThreadPoolExecutor(self.settings.max_parallel, thread_name_prefix="sfsync-sync")
        self._jobs: dict[str, _Job] = {}
        self._last_check: dict[str, datetime] = {}
        self._owed: set[str] = set()  # resumed by themselves: run once at the next tick
        self._said: dict[str, tuple[Action, datetime | None]] = {}
        self._mutex = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self.outcomes: list[RunOutcome] = []  # finished runs, oldest first (bounded: see _collect)

    @property
    def config(self) -> ProjectConfig:
        return self.project.config

    def use_project(self, config: ProjectConfig) -> None:
        """Serve ``config`` from the next tick on (runs in flight finish with the version they started)."""
        self.project = self.project.with_config(config)

    # -- one tick --------------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> list[Decision]:
        """Decide, for every sync, at ``now`` (default: the clock), and start what is due."""
        now = (now or self.clock.now()).astimezone(UTC)
        if self.watcher is not None:
            reloaded = self.watcher.poll()
            if reloaded is not None:
                self.use_project(reloaded)
        self._collect()
        decisions = []
        self._due: list[tuple[str, datetime]] = []
        for name in sorted(self.config.syncs):
            try:
                decision = self._consider(name, now)
            except Exception as exc:  # a broken state row must not stop the other syncs
                log.exception("sync %s: could not decide what to do", name)
                decision = Decision(name, Action.ERROR, detail=f"{type(exc).__name__}: {exc}")
            self._say(decision)
            decisions.append(decision)
        self._submit_runs(self._due)
        return decisions

    def _consider(self, name: str, now: datetime) -> Decision:
        sync = self.config.syncs[name]
        status = self.store.sync_status(name)
        busy = name in self._jobs
        if not status.paused and status.warning_state.get(Rule.PAUSED) == FIRING and not busy:
            self.project.notice_resumed_elsewhere(name)  # resumed elsewhere: send its recovery
        if status.pause_automatic and not busy and not self._stopping:
            last = self._last_check.get(name)
            if last is None or now - last >= timedelta(seconds=self.settings.recheck_seconds):
                self._last_check[name] = now
                self._submit(name, "recheck", None)
                return Decision(name, Action.RECHECK, detail=status.pause_cause or "")
        if not is_scheduled(sync.schedule):
            return Decision(name, Action.MANUAL)
        fingerprint = schedule_fingerprint(sync.schedule)
        record = self.ledger.get(name)
        if record is None or record.fingerprint != fingerprint:
            latest = last_fire(sync.schedule, now) or now
            self.ledger.record(name, latest, fingerprint)
            upcoming = next_fire(sync.schedule, latest)
            return Decision(
                name,
                Action.FIRST_SEEN,
                upcoming,
                f"{describe_schedule(sync.schedule)}; next {_iso(upcoming)}",
            )
        due = next_fire(sync.schedule, record.last_fire)
        owed = name in self._owed  # resumed by itself: run once now, to confirm and catch up
        if not owed and (due is None or due > now):
            return Decision(name, Action.NOT_DUE, due)
        slot = last_fire(sync.schedule, now) or now
        if owed:
            missed = " (resumed by itself: running once now)"
        else:
            missed = "" if due == slot else f" (catching up once; missed slots since {_iso(due)})"
        if busy:
            return Decision(name, Action.SKIP_RUNNING, slot, "its previous run is still in flight")
        if status.paused:
            self.project.notice_paused_skip(name)
            return Decision(name, Action.SKIP_PAUSED, slot, status.pause_cause or "paused")
        held_back = self._held_back(name, slot, fingerprint)
        if held_back is not None:
            return held_back
        self._due.append((name, slot))  # submitted after the tick, parents before children
        self._owed.discard(name)
        return Decision(name, Action.RUN, slot, f"slot {_iso(slot)}{missed}")

    def _held_back(self, name: str, slot: datetime, fingerprint: str) -> Decision | None:
        """Why a due sync does not start now (stopping, pool full, run or slot taken by another worker), or
        None. Several schedulers on one PostgreSQL store: while another worker runs the sync its slot
        stays due; otherwise this scheduler claims the slot, and only one of them gets it."""
        if self._stopping:
            return Decision(name, Action.NOT_DUE, slot, "stopping")
        if len(self._jobs) + len(self._due) >= self.settings.max_parallel:
            return Decision(name, Action.SKIP_FULL, slot, f"{len(self._jobs)} runs in flight")
        if not self.store.shared:
            return None
        owner = self.store.lock_owner(name)
        if owner is not None:
            elsewhere = f"running on another worker ({owner.describe()})"
            return Decision(name, Action.SKIP_RUNNING, slot, elsewhere)
        if not self.ledger.claim(name, slot, fingerprint):
            return Decision(name, Action.NOT_DUE, slot, "another worker took this slot")
        return None

    def _submit_runs(self, due: list[tuple[str, datetime]]) -> None:
        """Start the runs due this tick: syncs whose lookups name each other's objects run one after the
        other in one job, parents first, sharing the parent rows rejected so far; unrelated ones at once."""
        if not due:
            return
        slots = dict(due)
        try:
            groups = self.project.run_groups([n for n, _ in due])
        except SfsyncError as exc:  # a cycle: `sfsync check` names it; run them apart meanwhile
            log.error("syncs %s cannot be ordered: %s", ", ".join(slots), exc.message)
            groups = [[n] for n in slots]
        for group in groups:
            self._submit_group(group, slots)

    def _submit_group(self, group: list[str], slots: dict[str, datetime]) -> None:
        project = self.project  # the version this job started with

        def work() -> dict[str, RunOutcome]:
            rejected = project.new_pass()
            out: dict[str, RunOutcome] = {}
            for name in group:
                try:
                    out[name] = project.attempt(name, trigger=Trigger.SCHEDULE, rejected_parents=rejected)
                except Exception as exc:  # a bug: the next run recovers what this one left
                    log.exception("sync %s: the run crashed; the next run recovers what it left", name)
                    out[name] = RunOutcome(name, OutcomeKind.CRASHED, error=f"{type(exc).__name__}: {exc}")
            return out

        future: Future[RunOutcome | bool | dict[str, RunOutcome]] = self._pool.submit(work)
        with self._mutex:
            for name in group:
                self._jobs[name] = _Job("run", slots[name], future)
        future.add_done_callback(lambda _f: self._wake.set())

    def _submit(self, name: str, kind: str, slot: datetime | None) -> None:
        """Start the check of a paused sync (runs go through :meth:`_submit_runs`)."""
        project = self.project  # the version this job started with
        confirm = is_scheduled(self.config.syncs[name].schedule)  # its owed slot runs next

        def work() -> bool:
            try:
                return project.recheck(name, confirm_by_run=confirm)
            except Exception:
                log.exception("sync %s: the check of a paused sync crashed; it stays paused", name)
                return False

        future: Future[RunOutcome | bool | dict[str, RunOutcome]] = self._pool.submit(work)
        with self._mutex:
            self._jobs[name] = _Job(kind, slot, future)
        future.add_done_callback(lambda _f: self._wake.set())

    def _collect(self) -> list[RunOutcome]:
        """Settle finished jobs: write their slot to the ledger, keep their outcome."""
        finished: list[RunOutcome] = []
        with self._mutex:
            done = [(n, j) for n, j in self._jobs.items() if j.future.done()]
            for name, _ in done:
                del self._jobs[name]
        for name, job in done:
            try:
                result = job.future.result()
            except Exception:  # the jobs catch everything; this is a bug: log it and go on
                log.exception("sync %s: the %s job crashed", name, job.kind)
                result = RunOutcome(name, OutcomeKind.CRASHED)
            if job.kind == "recheck":
                if result is True:
                    log.info("sync %s: resumed by itself (its check passes)", name)
                    self._owed.add(name)
                continue
            if isinstance(result, dict):  # a group's job: this sync's outcome
                result = result.get(name) or RunOutcome(name, OutcomeKind.CRASHED)
            assert isinstance(result, RunOutcome)
            finished.append(result)
            sync = self.config.syncs.get(name)
            if (
                job.slot is not None
                and result.kind is OutcomeKind.BUSY
                and self.ledger.give_back(name, job.slot)
            ):
                log.info(
                    "sync %s: slot %s is due again (another worker was running it)", name, _iso(job.slot)
                )
                continue
            if job.slot is not None and result.kind is OutcomeKind.BUSY:
                # another process ran the sync (with shared state: a later slot is claimed already)
                log.info(
                    "sync %s: slot %s not run here (another process was running it)", name, _iso(job.slot)
                )
            if job.slot is not None:
                self.ledger.settled(name, job.slot)
            if sync is not None and job.slot is not None:
                try:
                    self.ledger.record(name, job.slot, schedule_fingerprint(sync.schedule))
                except (OSError, SfsyncError) as exc:  # the run happened; a restart may repeat it
                    log.error("cannot write %s: %s", self.ledger.path, exc)
        self.outcomes.extend(finished)
        del self.outcomes[:-1000]
        return finished

    def _say(self, decision: Decision) -> None:
        """Log a decision; repeated identical decisions (same action and slot) are logged once."""
        key = (decision.action, decision.slot)
        if decision.action is Action.NOT_DUE:
            log.debug("sync %s: next slot %s", decision.sync, _iso(decision.slot))
            return
        if self._said.get(decision.sync) == key and decision.action is not Action.RUN:
            return
        self._said[decision.sync] = key
        level = logging.ERROR if decision.action is Action.ERROR else logging.INFO
        detail = f": {decision.detail}" if decision.detail else ""
        log.log(level, "sync %s: %s%s", decision.sync, decision.action.value.replace("_", " "), detail)

    # -- waiting ---------------------------------------------------------------------------------------
    @property
    def running(self) -> list[str]:
        """Syncs with a run or a check in flight."""
        with self._mutex:
            return sorted(self._jobs)

    def wait_idle(self, timeout: float | None = None) -> list[RunOutcome]:
        """Wait for every job in flight (up to ``timeout`` seconds), settle them, return the new outcomes."""
        with self._mutex:
            futures = [j.future for j in self._jobs.values()]
        wait_futures(futures, timeout=timeout)
        return self._collect()

    def next_wakeup(self, now: datetime) -> float:
        """Seconds until the loop should tick again (at most ``poll_seconds``)."""
        soonest = self.settings.poll_seconds
        for name, sync in self.config.syncs.items():
            record = self.ledger.get(name)
            if record is None or name in self._jobs:
                continue
            due = next_fire(sync.schedule, record.last_fire)
            if due is not None and due > now:
                soonest = min(soonest, (due - now).total_seconds())
        return max(soonest, 0.0)

    # -- the loop --------------------------------------------------------------------------------------
    def run_forever(self) -> list[str]:
        """Tick until :meth:`stop`; then wait for runs in flight. Returns syncs still running at the end
        (left to the next run's recovery), empty when everything finished."""
        # one scheduler per state directory; with a shared (PostgreSQL) store, as many as there are workers
        with nullcontext() if self.store.shared else SchedulerLock(self.store.paths.root):
            names = ", ".join(
                f"{n} ({describe_schedule(s.schedule)})" for n, s in sorted(self.config.syncs.items())
            )
            log.info(
                "scheduler started: %d sync(s): %s; up to %d at once",
                len(self.config.syncs),
                names or "none",
                self.settings.max_parallel,
            )
            while not self._stopping:
                self._wake.clear()
                now = self.clock.now()
                try:
                    self.tick(now)
                except Exception:  # e.g. the state directory became unwritable: log, keep going
                    log.exception("scheduler tick failed; trying again in %g s", self.settings.poll_seconds)
                if self._stopping:
                    break
                self.clock.wait(self._wake, self.next_wakeup(now))
            return self._drain()

    def _drain(self) -> list[str]:
        in_flight = self.running
        if in_flight:
            grace = self.settings.stop_grace_seconds
            limit = "until they finish" if grace is None else f"up to {grace:g} s"
            log.info("scheduler stopping: waiting %s for %s", limit, ", ".join(in_flight))
        started = time.monotonic()
        with self._mutex:
            futures = [j.future for j in self._jobs.values()]
        wait_futures(futures, timeout=self.settings.stop_grace_seconds)
        self._collect()
        left = self.running
        if left:
            log.warning(
                "scheduler stopping after %.0f s with %s still running: the next run of each recovers it",
                time.monotonic() - started,
                ", ".join(left),
            )
        self._pool.shutdown(wait=not left, cancel_futures=True)
        log.info("scheduler stopped")
        return left

    def stop(self) -> None:
        """Ask the loop to stop: no new runs start. Safe to call from a signal handler."""
        self._stopping = True
        # Event.set takes a lock the interrupted main thread may hold: set it from a helper thread.
        threading.Thread(target=self._wake.set, name="sfsync-stop", daemon=True).start()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def close(self) -> None:
        """Release the thread pool (waits for jobs in flight)."""
        self._pool.shutdown(wait=True)


__all__ = ["Action", "Clock", "Decision", "Scheduler", "SchedulerSettings", "SystemClock"]
