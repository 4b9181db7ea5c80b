"""Who is calling and what they may spend: access tokens, the daily API quota and the fault dice.

- Access tokens look like Salesforce's: the org id's first 15 characters, ``!``, then random word
  characters (the ``sf`` CLI checks ``00D\\w{12,15}![.\\w]*``). A session expires
  ``faults.session_seconds`` after it was issued; the lifetime is read at check time, so changing the
  fault at run time affects sessions already issued.
- Refresh tokens: only those listed in the org config (``refresh_tokens``) exist. Like a real org,
  no grant the emulator serves issues a new one (password, client-credentials and JWT-bearer grants
  never return ``refresh_token``), so the refresh-token grant is tested with configured tokens.
- :class:`Runtime` is everything the HTTP layer shares: config, record engine, sessions, usage,
  fault dice, Bulk jobs and query cursors.
"""

from __future__ import annotations

import random
import secrets
import string
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sfsync.emulator.metadata.model import OrgConfig, UserDef

if TYPE_CHECKING:
    from sfsync.emulator.endpoints.bulk import IngestJobs
    from sfsync.emulator.endpoints.bulk_query import QueryJobs
    from sfsync.emulator.endpoints.rest import QueryCursors
    from sfsync.emulator.records.org import Org

TOKEN_RANDOM_CHARS = 96
"""Length of the random part of an access token (after the ``!``)."""

_TOKEN_ALPHABET = string.ascii_letters + string.digits + "._"


@dataclass
class Session:
    token: str
    user: UserDef
    client_id: str | None
    issued_at: float  # epoch seconds

    def __repr__(self) -> str:  # never show the token
        return f"Session(user={self.user.username!r}, client_id={self.client_id!r})"


def new_access_token(org_id: str) -> str:
    tail = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(TOKEN_RANDOM_CHARS))
    return f"{org_id[:15]}!{tail}"


class SessionStore:
    """Issued access tokens. Thread-safe."""

    def __init__(self, config: OrgConfig) -> None:
        self._config = config
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def issue(self, user: UserDef, client_id: str | None = None) -> Session:
        session = Session(new_access_token(self._config.org_id), user, client_id, time.time())
        with self._lock:
            self._sessions[session.token] = session
        return session

    def lookup(self, token: str) -> Session | None:
        """The live session of a token; None when unknown, expired, or its user was deactivated."""
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if time.time() - session.issued_at >= self._config.faults.session_seconds:
                del self._sessions[token]
                return None
        return session if session.user.active else None

    def revoke(self, token: str) -> bool:
        with self._lock:
            return self._sessions.pop(token, None) is not None

    def expire_all(self) -> None:
        with self._lock:
            self._sessions.clear()


class Usage:
    """API calls spent today (one counter per emulator; reset by the admin endpoint). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.used = 0
        self.refused = 0

    def spend(self, quota: int) -> tuple[int, bool]:
        """Count one call. Returns (calls used, allowed); a refused call does not count as used."""
        with self._lock:
            if self.used >= quota:
                self.refused += 1
                return self.used, False
            self.used += 1
            return self.used, True

    def reset(self) -> None:
        with self._lock:
            self.used = 0
            self.refused = 0


class FaultDice:
    """Random draws for rate faults; reproducible when ``faults.seed`` is set. Thread-safe."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        with self._lock:
            return self._rng.random() < rate

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._rng.seed(seed)


class Runtime:
    """Everything the HTTP layer shares, kept on ``app.state.runtime``."""

    ingest: IngestJobs
    query_jobs: QueryJobs
    cursors: QueryCursors

    def __init__(self, config: OrgConfig, org: Org, *, allow_remote_admin: bool = False) -> None:
        self.config = config
        self.org = org
        self.allow_remote_admin = allow_remote_admin
        self.sessions = SessionStore(config)
        self.usage = Usage()
        self.dice = FaultDice(config.faults.seed)
        self.started_at = time.time()
