"""Per-sync run locks that work across processes: one run of a sync at a time.

A lock is an exclusive ``flock`` on ``<state>/locks/<sync>.lock``. The kernel drops it when the owning
process exits for any reason (including SIGKILL), so a lock left by a dead process is simply taken over
by the next run; there is no heartbeat to tune and no stale-lock cleanup. While held, the file holds the
owner (pid, host, run id, since) so a second process can say who has it.

Limits: ``flock`` is per machine; on network filesystems (NFS) it may not exclude other hosts. Keep the
state directory on a local disk, or give each host its own.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from sfsync.errors import SyncBusyError

#: How often ``RunLock.acquire(wait=...)`` retries a held lock, in seconds.
LOCK_POLL_INTERVAL_S = 0.1

_HELD_HERE: set[Path] = set()  # lock files this process holds right now


@dataclass(frozen=True)
class LockOwner:
    """Who holds a sync's run lock."""

    pid: int
    host: str
    since: datetime
    run_id: int | None

    def describe(self) -> str:
        run = f", run {self.run_id}" if self.run_id is not None else ""
        return f"pid {self.pid} on {self.host} since {self.since.isoformat(timespec='seconds')}{run}"


class RunLock:
    """An exclusive, cross-process lock on one sync. Use as a context manager or acquire/release."""

    #: A file lock is held until released or its process dies: unlike a lease it cannot be lost.
    lost = False

    def __init__(self, path: Path, sync: str, *, run_id: int | None = None) -> None:
        self.path = path
        self.sync = sync
        self.run_id = run_id
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait: float = 0.0) -> RunLock:
        """Take the lock, waiting up to ``wait`` seconds; raise :class:`SyncBusyError` if it stays held."""
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    owner = read_owner(self.path)
                    who = owner.describe() if owner else "another process"
                    raise SyncBusyError(
                        f"sync `{self.sync}` is already running ({who})",
                        sync=self.sync,
                        owner=who,
                        owner_run_id=owner.run_id if owner else None,
                        hint="wait for that run to finish; a lock held by a process that died is taken over "
                        "automatically",
                    ) from None
                time.sleep(LOCK_POLL_INTERVAL_S)
        self._fd = fd
        _HELD_HERE.add(self.path)
        self._write_owner()
        return self

    def set_run_id(self, run_id: int) -> None:
        """Record the run id in the lock file once the run exists (for ``SyncBusyError`` messages)."""
        self.run_id = run_id
        if self._fd is not None:
            self._write_owner()

    def check(self) -> None:
        """Nothing to check (see :meth:`sfsync.state.lease.LeaseLock.check`): the lock cannot be lost."""

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _HELD_HERE.discard(self.path)
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _write_owner(self) -> None:
        assert self._fd is not None
        body = json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(),
                "run_id": self.run_id,
            }
        ).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, body, 0)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"RunLock(sync={self.sync!r}, held={self.held})"


def read_owner(path: Path) -> LockOwner | None:
    """The owner recorded in a lock file, or None when it is free or unreadable."""
    try:
        data = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return LockOwner(
            pid=int(data["pid"]),
            host=str(data["host"]),
            since=datetime.fromisoformat(str(data["since"])),
            run_id=int(data["run_id"]) if data.get("run_id") is not None else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def held_here(path: Path) -> bool:
    """True when this process holds the lock at ``path``."""
    return path in _HELD_HERE


def is_locked(path: Path) -> bool:
    """True when some process holds the lock at ``path`` right now."""
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


__all__ = [
    "LOCK_POLL_INTERVAL_S",
    "LockOwner",
    "RunLock",
    "SyncBusyError",
    "held_here",
    "is_locked",
    "read_owner",
]
