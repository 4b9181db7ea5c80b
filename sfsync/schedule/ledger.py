"""What the scheduler remembers between restarts, and the lock that keeps it to one per project.

``.sfsync/schedule.json`` holds, per sync, the last slot the scheduler has dealt with (ran, or skipped
because the sync was paused or already running) and a fingerprint of the schedule it was computed for::

    {"version": 1, "syncs": {"vip_contacts": {"last_fire": "2026-01-05T07:00:00+00:00",
                                              "schedule": "{\\"every\\":\\"15m\\"}"}}}

A slot is written only once its run has ended, so a scheduler killed in the middle of a run runs that
slot again when it comes back (once, however many slots it missed). The file is replaced atomically
(write a temporary file, then rename), so a crash never leaves it half written.

``.sfsync/scheduler.lock`` is an exclusive ``flock`` held by the running scheduler: a second scheduler on
the same project refuses to start (the kernel drops the lock when the process dies, whatever the cause).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from sfsync.config.schedule import Schedule
from sfsync.errors import SchedulerRunningError
from sfsync.schedule.times import next_fire, schedule_fingerprint
from sfsync.state import StateStore, slots

log = logging.getLogger(__name__)

LEDGER_FILE = "schedule.json"
SCHEDULER_LOCK_FILE = "scheduler.lock"
_VERSION = 1


@dataclass(frozen=True)
class FireRecord:
    """The last slot dealt with for one sync, and the schedule (fingerprint) it belongs to."""

    last_fire: datetime
    fingerprint: str


class FireLedger:
    """Per-sync last slots, kept in a small JSON file; safe to use from several threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._records = self._load()

    @classmethod
    def in_dir(cls, state_dir: Path) -> FireLedger:
        return cls(state_dir / LEDGER_FILE)

    def _load(self) -> dict[str, FireRecord]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("cannot read %s (%s): starting without remembered slots", self.path, exc)
            return {}
        try:
            data = json.loads(text)
            return {
                str(name): FireRecord(
                    last_fire=datetime.fromisoformat(str(entry["last_fire"])).astimezone(UTC),
                    fingerprint=str(entry["schedule"]),
                )
                for name, entry in data["syncs"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning(
                "%s is not a valid schedule ledger (%s): starting without remembered slots "
                "(no missed run will be caught up this time)",
                self.path,
                exc,
            )
            return {}

    def get(self, sync: str) -> FireRecord | None:
        with self._mutex:
            return self._records.get(sync)

    def records(self) -> dict[str, FireRecord]:
        with self._mutex:
            return dict(self._records)

    def record(self, sync: str, last_fire: datetime, fingerprint: str) -> None:
        """Remember ``last_fire`` for ``sync`` (never moves an entry of the same schedule backwards)."""
        with self._mutex:
            current = self._records.get(sync)
            if current is not None and current.fingerprint == fingerprint and current.last_fire >= last_fire:
                return
            self._records[sync] = FireRecord(last_fire.astimezone(UTC), fingerprint)
            self._save()

    def forget(self, sync: str) -> None:
        with self._mutex:
            if self._records.pop(sync, None) is not None:
                self._save()

    def settled(self, sync: str, slot: datetime) -> None:
        """The run of ``slot`` ended (nothing to keep: the slot is recorded by :meth:`record`)."""

    def claim(self, sync: str, slot: datetime, fingerprint: str) -> bool:
        """One scheduler per project: every due slot is its own (written once its run ends)."""
        return True

    def give_back(self, sync: str, slot: datetime) -> bool:
        """One scheduler per project: a slot whose run found the sync busy is skipped, as always."""
        return False

    def _save(self) -> None:
        body = {
            "version": _VERSION,
            "syncs": {
                name: {"last_fire": rec.last_fire.isoformat(), "schedule": rec.fingerprint}
                for name, rec in sorted(self._records.items())
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


class SharedLedger:
    """The slots of every scheduler sharing a PostgreSQL state store (``sfsync.state.slots``).

    A due slot is *claimed* before its run starts, and only one scheduler gets each claim; so the slot
    is written when the run starts, not when it ends: a worker killed mid-run leaves its slot done,
    and the sync's next slot (run by whichever worker claims it once the dead worker's lease expired)
    recovers what the run left, as one catch-up run.
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.path = f"schedule_slots in {store.db.where}"
        self._claimed: dict[tuple[str, datetime], datetime] = {}  # (sync, slot) → the slot before it
        self._mutex = threading.Lock()

    def get(self, sync: str) -> FireRecord | None:
        found = slots.read_slot(self.store.db, sync)
        return FireRecord(found.last_fire, found.fingerprint) if found else None

    def records(self) -> dict[str, FireRecord]:
        return {n: FireRecord(r.last_fire, r.fingerprint) for n, r in slots.read_slots(self.store.db).items()}

    def record(self, sync: str, last_fire: datetime, fingerprint: str) -> None:
        slots.record_slot(self.store.db, sync, last_fire, fingerprint)

    def forget(self, sync: str) -> None:
        slots.forget_slot(self.store.db, sync)

    def claim(self, sync: str, slot: datetime, fingerprint: str) -> bool:
        previous = slots.claim_slot(self.store.db, sync, slot, fingerprint)
        if previous is None:
            return False
        with self._mutex:
            self._claimed[(sync, slot)] = previous
        return True

    def give_back(self, sync: str, slot: datetime) -> bool:
        """The run of a claimed slot found the sync busy (another worker's run had just taken it): the
        slot is due again (it runs once that run ends), unless another worker has moved on since."""
        with self._mutex:
            previous = self._claimed.pop((sync, slot), None)
        return previous is not None and slots.give_back_slot(self.store.db, sync, slot, previous)

    def settled(self, sync: str, slot: datetime) -> None:
        with self._mutex:
            self._claimed.pop((sync, slot), None)


def ledger_for(store: StateStore) -> FireLedger | SharedLedger:
    """The shared ledger of a PostgreSQL store, else ``schedule.json`` in the state directory."""
    return SharedLedger(store) if store.shared else FireLedger.in_dir(store.paths.root)


def next_run_at(
    state: Path | StateStore, sync: str, schedule: Schedule, now: datetime | None = None
) -> datetime | None:
    """When the scheduler will run ``sync`` next, as far as its ledger says (a store: the shared one
    when it is PostgreSQL) (for ``runs``, ``check``, the UI).

    A time in the past means the slot is owed (the sync is paused, running, or the scheduler is down).
    None for a manual schedule.
    """
    now = now or datetime.now(UTC)
    ledger = ledger_for(state) if isinstance(state, StateStore) else FireLedger.in_dir(state)
    record = ledger.get(sync)
    if record is None or record.fingerprint != schedule_fingerprint(schedule):
        return next_fire(schedule, now)
    return next_fire(schedule, record.last_fire)


class SchedulerLock:
    """The exclusive lock of the one scheduler of a project (``with SchedulerLock(dir): ...``)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / SCHEDULER_LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> SchedulerLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            finally:
                os.close(fd)
            raise SchedulerRunningError(
                f"a scheduler is already running for this project ({owner})",
                hint=f"stop it first (SIGTERM), or use another state directory than {self.path.parent}",
            ) from None
        body = f"pid {os.getpid()} since {datetime.now(UTC).isoformat(timespec='seconds')}".encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, body, 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> SchedulerLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


__all__ = [
    "LEDGER_FILE",
    "SCHEDULER_LOCK_FILE",
    "FireLedger",
    "FireRecord",
    "SchedulerLock",
    "SchedulerRunningError",
    "SharedLedger",
    "ledger_for",
    "next_run_at",
]
