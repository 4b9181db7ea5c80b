"""The database under the state store: SQLite (the default, one file) or PostgreSQL (shared by workers).

The store speaks one SQL to both (``?`` placeholders, ``INSERT … ON CONFLICT … DO UPDATE``,
``RETURNING``, window functions): this module is the small dialect layer under it.
:class:`SqliteDatabase` hands out the ``sqlite3`` connection itself (no wrapper on the hot path, so SQLite
is exactly as fast as before); :class:`PostgresDatabase` hands out a :class:`PgConn`, a psycopg 3
connection whose ``execute`` turns ``?`` into ``%s``.

Both give one write transaction at a time per store object (:meth:`Database.write`) and reads that see
committed data (:meth:`Database.read`); a store object may be shared by threads (a mutex serialises use of
its connection). Schemas and their migrations: ``schema.py`` (SQLite) and ``pgschema.py`` (PostgreSQL).
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql as pgsql

from sfsync.config.env import redact_url
from sfsync.errors import StateError
from sfsync.state.failures import unwritable, write_failure


class Cursor(Protocol):
    """What the store reads from a statement's result."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """What the store runs statements on: a ``sqlite3.Connection`` or a :class:`PgConn`."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


#: Errors a duplicate key (or a missing referenced row) raises, whichever the database.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)


class Database(ABC):
    """A connection to the state database: write transactions and reads."""

    #: ``sqlite`` or ``postgresql``
    dialect: str = ""

    @property
    @abstractmethod
    def where(self) -> str:
        """Where the database is, for messages (a path, or a URL without its password)."""

    @abstractmethod
    def write(self) -> AbstractContextManager[Conn]:
        """One write transaction: committed when the block ends, rolled back if it raises."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Conn]:
        """A connection to read with; each statement sees what is committed."""

    @abstractmethod
    def close(self) -> None: ...


class SqliteDatabase(Database):
    """``state.db`` in WAL mode: every write is one short ``BEGIN IMMEDIATE`` transaction."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, path: Path, root: Path, busy_timeout_ms: int) -> None:
        self.conn = conn
        self.path = path
        self.root = root
        self.busy_timeout_ms = busy_timeout_ms
        self._mutex = threading.RLock()

    @property
    def where(self) -> str:
        return str(self.path)

    @contextmanager
    def write(self) -> Iterator[Conn]:
        """One write transaction, taken up front so concurrent writers queue on busy_timeout."""
        with self._mutex:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if write_failure(exc) is not None:
                    raise unwritable(exc, self.root, "the state database") from exc
                raise StateError(
                    f"the state store {self.path} stayed locked for {self.busy_timeout_ms} ms: {exc}",
                    hint="another sfsync process holds a long write; retry, or raise busy_timeout_ms",
                ) from exc
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):  # a failed COMMIT may have ended the transaction already
                    self.conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    # a full disk, a file or directory this user may not write: say so in plain words
                    raise unwritable(exc, self.root, "the state database") from exc
                raise

    @contextmanager
    def read(self) -> Iterator[Conn]:
        with self._mutex:
            yield self.conn

    def close(self) -> None:
        with self._mutex:
            self.conn.close()


class PgConn:
    """A psycopg connection that takes the store's ``?`` placeholders."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        if not parameters:
            return self.conn.execute(sql.encode())  # taken as is: no placeholders to turn
        return self.conn.execute(_placeholders(sql), tuple(parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        cur = self.conn.cursor()
        cur.executemany(_placeholders(sql), [tuple(p) for p in parameters])
        return cur


def _placeholders(sql: str) -> str:
    """``?`` → ``%s`` (the store's statements hold no ``?`` or ``%`` inside literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase(Database):
    """A PostgreSQL schema (``public`` unless named) shared by every worker of a project.

    One connection per store object, autocommit for reads, a transaction per write. A connection lost
    between two uses (server restart, idle timeout) is opened again on the next use.
    """

    dialect = "postgresql"

    def __init__(self, url: str, *, schema: str, connect_timeout_s: int) -> None:
        self.url = url
        self.schema = schema
        self.connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection[Any] | None = None
        self._mutex = threading.RLock()

    @property
    def where(self) -> str:
        return f"{redact_url(self.url)} (schema {self.schema})"

    def connect(self) -> psycopg.Connection[Any]:
        """A new autocommit connection with ``search_path`` set to the store's schema."""
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout_s)
        except psycopg.Error as exc:
            raise self.error(exc, "cannot connect to") from None
        try:
            conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(self.schema)))
        except psycopg.errors.InsufficientPrivilege:
            pass  # made by the DBA beforehand: fine, as long as we may use it
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateSchema):
            pass  # another worker made it at the same moment
        except psycopg.Error as exc:
            conn.close()
            raise self.error(exc, "cannot prepare") from None
        conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema)))
        return conn

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                with suppress(psycopg.Error):
                    self._conn.close()
            self._conn = self.connect()
        return self._conn

    def error(self, exc: BaseException, doing: str) -> StateError:
        """A StateError for a PostgreSQL failure; the URL's password never appears in it."""
        text = str(exc).replace(self.url, redact_url(self.url)).strip().splitlines()
        return StateError(
            f"{doing} the PostgreSQL state store {self.where}: {text[0] if text else type(exc).__name__}",
            hint="check the server is up, the state url (user, password, database) and the user's rights",
        )

    @contextmanager
    def write(self) -> Iterator[Conn]:
        with self._mutex:
            conn = self._connection()
            try:
                with conn.transaction():
                    yield PgConn(conn)
            except psycopg.IntegrityError:
                raise  # the caller explains it
            except psycopg.Error as exc:
                raise self.error(exc, "cannot write to") from exc

    @contextmanager
    def read(self) -> Iterator[Conn]:
        with self._mutex:
            conn = self._connection()
            try:
                yield PgConn(conn)
            except psycopg.Error as exc:
                raise self.error(exc, "cannot read") from exc

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


__all__ = [
    "INTEGRITY_ERRORS",
    "Conn",
    "Cursor",
    "Database",
    "PgConn",
    "PostgresDatabase",
    "SqliteDatabase",
]
