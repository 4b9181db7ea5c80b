"""Per-sync run leases in PostgreSQL: one run of a sync at a time across every worker of a project.

A lease is a row of ``leases`` (sync, a random token, pid, host, run id, since, expiry). Taking it is one
statement that inserts the row, or takes over one whose expiry has passed::

    INSERT … ON CONFLICT (sync) DO UPDATE SET … WHERE leases.expires_at < clock_timestamp() RETURNING token

so two workers can never both get it. While held, a heartbeat thread (its own connection, so a busy run
never delays it) pushes the expiry ``lease_seconds`` ahead every ``lease_heartbeat_seconds``. Releasing
deletes the row (only if the token is still ours). A worker that dies (SIGKILL, lost host) stops beating:
its lease expires ``lease_seconds`` later at the latest and the next worker takes the sync over, reaps the
dead run and recovers its journal. Every time is the server's clock, so the workers' clocks do not matter.

A run must not send once its lease may have passed to another worker. The lock keeps a local deadline:
the monotonic time just before its last successful take or renewal, plus ``lease_seconds``. The server's
expiry is never earlier (it counts from the moment the statement ran, later), so while the local deadline
has not passed, no other worker can have taken the sync over. :meth:`LeaseLock.check` compares the clock
with that deadline (no database round trip), and the sync engine calls it before every Salesforce call of
the run (``SalesforceClient.guarded``) and before it advances the snapshot: a worker that stalled (paused
process, long GC, suspended VM), was cut off from the server, or whose lease was taken over raises
:class:`~sfsync.errors.LeaseLostError` at its next call instead of sending. Once lost, a lease stays lost
(the heartbeat stops): the run ends as interrupted and whoever runs the sync next settles its journal.
A call already on the wire when the deadline passes is not recalled: keep ``lease_seconds`` well above the
destination's ``timeout_seconds`` (docs/state.md).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from datetime import datetime
from types import TracebackType
from typing import Any

import psycopg

from sfsync.errors import LeaseLostError, StateError, SyncBusyError
from sfsync.state.db import PostgresDatabase
from sfsync.state.lock import LOCK_POLL_INTERVAL_S, LockOwner

log = logging.getLogger(__name__)

_HELD_HERE: dict[tuple[str, str, str], str] = {}  # (url, schema, sync) → token of leases held here
_HELD_MUTEX = threading.Lock()

_TAKE = (
    "INSERT INTO leases (sync, token, pid, host, run_id, since, expires_at)"
    " VALUES (?, ?, ?, ?, ?, clock_timestamp(), clock_timestamp() + make_interval(secs => ?))"
    " ON CONFLICT (sync) DO UPDATE SET token = excluded.token, pid = excluded.pid, host = excluded.host,"
    " run_id = excluded.run_id, since = excluded.since, expires_at = excluded.expires_at"
    " WHERE leases.expires_at < clock_timestamp() RETURNING token"
)


class LeaseLock:
    """A sync's run lease (not yet taken). Same use as :class:`~sfsync.state.lock.RunLock`."""

    def __init__(
        self,
        db: PostgresDatabase,
        sync: str,
        *,
        run_id: int | None = None,
        lease_seconds: float,
        heartbeat_seconds: float,
    ) -> None:
        self.db = db
        self.sync = sync
        self.run_id = run_id
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._lost = False
        self.taken_over = False  # the heartbeat found the lease in another worker's hands
        self._valid_until = 0.0  # monotonic: until then no other worker can hold the lease
        self._token: str | None = None
        self._beat: threading.Thread | None = None
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._conn_mutex = threading.Lock()
        self._lost_mutex = threading.Lock()

    @property
    def held(self) -> bool:
        return self._token is not None

    @property
    def lost(self) -> bool:
        """True once the lease may be another worker's (see :meth:`check`); it stays lost."""
        return self._lost or (self._token is not None and self._expired())

    @property
    def _key(self) -> tuple[str, str, str]:
        return (self.db.url, self.db.schema, self.sync)

    def _execute(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._conn_mutex:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = self.db.connect()
            cur = self._conn.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []

    def acquire(self, *, wait: float = 0.0) -> LeaseLock:
        """Take the lease, waiting up to ``wait`` seconds; raise :class:`SyncBusyError` if it stays held."""
        if self._token is not None:
            return self
        token = secrets.token_hex(16)
        deadline = time.monotonic() + wait
        while True:
            asked = time.monotonic()
            try:
                got = self._execute(
                    _TAKE,
                    (self.sync, token, os.getpid(), socket.gethostname(), self.run_id, self.lease_seconds),
                )
            except psycopg.Error as exc:
                self._close()
                raise self.db.error(exc, "cannot take a run lease in") from None
            if got:
                break
            if time.monotonic() >= deadline:
                self._close()
                owner = lease_owner(self.db, self.sync)
                who = owner.describe() if owner else "another worker"
                raise SyncBusyError(
                    f"sync `{self.sync}` is already running ({who})",
                    sync=self.sync,
                    owner=who,
                    owner_run_id=owner.run_id if owner else None,
                    hint="wait for that run to finish; the lease of a worker that died expires within "
                    f"{self.lease_seconds:g} s and is then taken over",
                )
            time.sleep(LOCK_POLL_INTERVAL_S)
        self._token = token
        self._lost = self.taken_over = False
        self._valid_until = asked + self.lease_seconds
        with _HELD_MUTEX:
            _HELD_HERE[self._key] = token
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name=f"sfsync-lease-{self.sync}", daemon=True)
        self._beat.start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            token = self._token
            if token is None or self._expired():
                return
            asked = time.monotonic()
            try:
                kept = self._execute(
                    "UPDATE leases SET expires_at = clock_timestamp() + make_interval(secs => ?)"
                    " WHERE sync = ? AND token = ? RETURNING 1",
                    (self.lease_seconds, self.sync, token),
                )
            except (psycopg.Error, StateError, OSError) as exc:  # try again at the next beat
                log.warning("sync %s: cannot renew its run lease (%s); retrying", self.sync, exc)
                continue
            if not kept:
                self.taken_over = True
                self._lose()
                return
            if self._token == token and not self._lost:
                self._valid_until = asked + self.lease_seconds

    def _expired(self) -> bool:
        """True (and the lease lost for good) once the local deadline has passed."""
        if not self._lost and time.monotonic() >= self._valid_until:
            self._lose()
        return self._lost

    def _lose(self) -> None:
        with self._lost_mutex:
            if self._lost:
                return
            self._lost = True
        log.error(
            "sync %s: lost its run lease (%s); the run sends nothing more",
            self.sync,
            "another worker took it over" if self.taken_over else self._not_renewed(),
        )

    def _not_renewed(self) -> str:
        return f"this worker could not renew it for {self.lease_seconds:g} s"

    def check(self) -> None:
        """Raise :class:`LeaseLostError` unless the lease is certainly still this worker's (cheap: no
        database round trip). Call it before anything that must happen under the lease."""
        if self._token is None or not self._expired():
            return
        raise self.lost_error()

    def lost_error(self) -> LeaseLostError:
        """The error that says this lease was lost, and what happens to the run."""
        why = (
            "another worker took it over"
            if self.taken_over
            else f"{self._not_renewed()} (the worker stalled, or PostgreSQL was unreachable)"
        )
        return LeaseLostError(
            f"sync `{self.sync}` lost its run lease: {why}; the run stopped sending",
            sync=self.sync,
            taken_over=self.taken_over,
            hint="nothing is lost or sent twice: the worker that runs the sync next settles what this run "
            "sent (run journal). If it happens often, raise state: lease_seconds or check the link to "
            "PostgreSQL",
        )

    def set_run_id(self, run_id: int) -> None:
        """Record the run id in the lease once the run exists (for ``SyncBusyError`` messages)."""
        self.run_id = run_id
        if self._token is not None:
            try:
                self._execute(
                    "UPDATE leases SET run_id = ? WHERE sync = ? AND token = ?",
                    (run_id, self.sync, self._token),
                )
            except psycopg.Error as exc:
                raise self.db.error(exc, "cannot update a run lease in") from None

    def release(self) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        with _HELD_MUTEX:
            if _HELD_HERE.get(self._key) == token:
                del _HELD_HERE[self._key]
        self._stop.set()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join()
        try:
            self._execute("DELETE FROM leases WHERE sync = ? AND token = ?", (self.sync, token))
        except psycopg.Error as exc:  # it expires by itself
            log.warning("sync %s: cannot release its run lease (%s); it expires by itself", self.sync, exc)
        finally:
            self._close()

    def _close(self) -> None:
        with self._conn_mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> LeaseLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"LeaseLock(sync={self.sync!r}, held={self.held})"


def lease_owner(db: PostgresDatabase, sync: str) -> LockOwner | None:
    """Who holds ``sync``'s live (unexpired) lease, or None."""
    with db.read() as conn:
        row = conn.execute(
            "SELECT pid, host, since, run_id FROM leases WHERE sync = ? AND expires_at >= clock_timestamp()",
            (sync,),
        ).fetchone()
    if row is None:
        return None
    pid, host, since, run_id = row
    assert isinstance(since, datetime)
    return LockOwner(pid=int(pid), host=str(host), since=since, run_id=int(run_id) if run_id else None)


def lease_held_here(db: PostgresDatabase, sync: str) -> bool:
    """True when this process holds ``sync``'s lease."""
    with _HELD_MUTEX:
        return (db.url, db.schema, sync) in _HELD_HERE


__all__ = ["LeaseLock", "lease_held_here", "lease_owner"]
