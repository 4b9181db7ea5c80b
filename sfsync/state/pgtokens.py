"""The newest refresh token of each destination in the shared PostgreSQL state, for connected apps that
rotate refresh tokens and projects served by several workers.

With rotation each refresh answer carries a new refresh token and the one used stops working; presenting
a rotated-out token again revokes the whole chain (``sfsync.salesforce.tokens``). Workers that each kept
the newest token in their own ``.sfsync/tokens/`` file would break one another's chain at the first
refresh. With ``state: url`` the token lives in one row per destination of ``refresh_tokens``::

    destination    the project's destination name (primary key)
    origin         SHA-256 of the configured token the chain began with (the configured one is never stored)
    refresh_token  the newest token of that chain
    saved_at       when it was stored (server time)

:class:`TokenRow` implements ``sfsync.salesforce.RefreshTokenStore`` like ``TokenFile`` does for one
machine. :meth:`TokenRow.locked` opens its own connection and transaction and locks the destination's row
(``SELECT … FOR UPDATE``, the row created first if need be): a worker that wants to refresh waits there
while another refreshes, then reads the token that one stored. The new token is written in the same
transaction, committed when the refresh is done, and the lock goes with the commit (or with the connection,
if the worker dies). Like the file, the token is stored as is: whoever may read the state schema may read
it, so the schema must be readable only by the role sfsync uses (docs/state.md). Nothing here logs a token,
and no repr or error shows one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from sfsync.errors import StateError
from sfsync.state.db import PostgresDatabase
from sfsync.state.store import StateStore
from sfsync.state.tokens import TokenFile, fingerprint


class TokenRow:
    """The stored refresh token of one destination (a row of ``refresh_tokens``)."""

    def __init__(self, db: PostgresDatabase, destination: str) -> None:
        self.db = db
        self.destination = destination
        self._mutex = threading.Lock()  # one refresh at a time within this process, too
        self._conn: psycopg.Connection[Any] | None = None  # while locked: the locking transaction's
        self._row: tuple[str | None, str | None] = (None, None)

    def __repr__(self) -> str:
        return f"TokenRow(destination={self.destination!r}, where={self.db.where!r})"

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._mutex:
            conn = self.db.connect()
            try:
                with conn.transaction():
                    try:
                        conn.execute(
                            "INSERT INTO refresh_tokens (destination) VALUES (%s) ON CONFLICT DO NOTHING",
                            (self.destination,),
                        )
                        row = conn.execute(
                            "SELECT origin, refresh_token FROM refresh_tokens WHERE destination = %s"
                            " FOR UPDATE",
                            (self.destination,),
                        ).fetchone()
                    except psycopg.Error as exc:
                        raise self.db.error(exc, "cannot lock the stored refresh token in") from None
                    self._conn, self._row = conn, (row[0], row[1]) if row else (None, None)
                    try:
                        yield
                    finally:
                        self._conn = None
            except psycopg.Error as exc:  # the commit of a new token failed
                raise StateError(
                    f"cannot store the new refresh token of destination {self.destination!r} in the "
                    f"PostgreSQL state store {self.db.where}: {type(exc).__name__}",
                    hint="the old token no longer works (rotation): once the server is back, authorize the "
                    "connected app again and configure the new refresh token",
                ) from None
            finally:
                conn.close()

    def load(self, origin: str) -> str | None:
        if self._conn is None:  # not locked: a plain read
            with self.db.read() as conn:
                got = conn.execute(
                    "SELECT origin, refresh_token FROM refresh_tokens WHERE destination = ?",
                    (self.destination,),
                ).fetchone()
            stored, token = (got[0], got[1]) if got else (None, None)
        else:
            stored, token = self._row
        if stored != fingerprint(origin) or not token:
            return None
        return str(token)

    def save(self, origin: str, token: str) -> None:
        conn = self._conn
        if conn is None:
            raise StateError("a refresh token is stored only while its row is locked (TokenRow.locked)")
        try:
            conn.execute(
                "UPDATE refresh_tokens SET origin = %s, refresh_token = %s, saved_at = clock_timestamp()"
                " WHERE destination = %s",
                (fingerprint(origin), token, self.destination),
            )
        except psycopg.Error as exc:
            raise StateError(
                f"cannot store the new refresh token of destination {self.destination!r} in the "
                f"PostgreSQL state store {self.db.where}: {type(exc).__name__}",
                hint="the old token no longer works (rotation): authorize the connected app again and "
                "configure the new refresh token",
            ) from None
        self._row = (fingerprint(origin), token)

    def forget(self) -> None:
        """Remove the stored token (the configured one is used again)."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM refresh_tokens WHERE destination = ?", (self.destination,))


def refresh_token_store(
    store: StateStore, destination: str, state_dir: Path | None = None
) -> TokenRow | TokenFile:
    """Where the refresh_token flow of ``destination`` keeps its newest token: the shared PostgreSQL state
    when the store has one, else a file under ``state_dir`` (default: the store's directory)."""
    if isinstance(store.db, PostgresDatabase):
        return TokenRow(store.db, destination)
    return TokenFile(state_dir or store.paths.root, destination)


__all__ = ["TokenRow", "refresh_token_store"]
