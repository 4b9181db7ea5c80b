"""Who is calling and what they may spend: access tokens, the daily API quota and the fault dice.

- Access tokens look like Salesforce's: the org id's first 15 characters, ``!``, then random word
  characters (the ``sf`` CLI checks ``00D\\w{12,15}![.\\w]*``). A session expires
  ``faults.session_seconds`` after it was issued; the lifetime is read at check time, so changing the
  fault at run time affects sessions already issued.
- Refresh tokens: those listed in the org config (``refresh_tokens``), and, for connected apps with
  ``rotate_refresh_tokens``, the ones each refresh answer carries instead of the token it used
  (:class:`RefreshTokens`). Like a real org, password, client-credentials and JWT-bearer grants never
  return a ``refresh_token``.
- :class:`Runtime` is everything the HTTP layer shares: config, record engine, sessions, usage,
  fault dice, Bulk jobs and query cursors.
"""

from __future__ import annotations

import random
import secrets
import string
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
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
    family: str | None = None  # the refresh-token chain that issued it (revoked together on reuse)
    refresh_token: str | None = field(default=None, repr=False)  # issued with it by rotation

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

    def issue(self, user: UserDef, client_id: str | None = None, family: str | None = None) -> Session:
        session = Session(new_access_token(self._config.org_id), user, client_id, time.time(), family)
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

    def revoke_family(self, family: str) -> None:
        """Revoke every access token a refresh-token chain issued."""
        with self._lock:
            for token in [t for t, s in self._sessions.items() if s.family == family]:
                del self._sessions[token]


class RefreshTokenError(Exception):
    """The token endpoint refuses a refresh token: ``invalid_grant`` with this description."""


#: Description of a refresh refused because the same token is being refreshed already. Recorded from
#: the real endpoint (segmentio/action-destinations PR #2300, load-tested against Salesforce) and
#: announced in Salesforce's Winter '25 release notes ("Simultaneous Token Requests Are Blocked During
#: the Refresh Token Flow"): HTTP 400 ``{"error": "invalid_grant", "error_description": ...}``.
CONCURRENT_REFRESH = "token request is already being processed"
UNKNOWN_REFRESH = "expired access/refresh token"


@dataclass
class _Chain:
    """One refresh-token family (named after the org-file token it began as) and its live token."""

    username: str
    client_id: str
    current: str | None  # None once the chain was revoked


class RefreshTokens:
    """Refresh tokens: the org file's, plus those rotation issued. Thread-safe.

    With rotation on (the app's ``rotate_refresh_tokens``), every refresh issues a new token and the
    previous one stops working; presenting a rotated-out token again revokes the chain's current token
    and its access tokens ("If someone tries to use a refresh token that's been rotated out, Salesforce
    invalidates the current refresh token and any associated access tokens": Salesforce Help, "OAuth 2.0
    Refresh Token Flow for Renewed Sessions"). Whatever the app, while one request uses a token a second
    request with the same token is refused with :data:`CONCURRENT_REFRESH`.

    :attr:`presented` counts how often each refresh token was presented (whatever the answer), so a test
    can check that a client never used one twice.
    """

    def __init__(self, config: OrgConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._chains: dict[str, _Chain] = {}
        self._family_of: dict[str, str] = {}  # every token a chain ever had → its family
        self._busy: set[str] = set()
        self.presented: Counter[str] = Counter()

    def begin(self, token: str) -> tuple[str, _Chain]:
        """Claim ``token`` for one refresh: its family and chain. Raises :class:`RefreshTokenError`;
        a rotated-out token revokes its chain (the caller revokes the chain's sessions)."""
        with self._lock:
            self.presented[token] += 1
            if token in self._busy:
                raise RefreshTokenError(CONCURRENT_REFRESH)
            family = self._family_of.get(token)
            if family is None:
                known = next(
                    (
                        t
                        for t in self._config.refresh_tokens
                        if secrets.compare_digest(t.token.encode(), token.encode())
                    ),
                    None,
                )
                if known is None:
                    raise RefreshTokenError(UNKNOWN_REFRESH)
                family = known.token
                self._family_of[token] = family
                self._chains[family] = _Chain(known.username, known.client_id, token)
            chain = self._chains[family]
            if chain.current != token:
                chain.current = None  # reuse of a rotated-out token: the whole chain dies
                raise RefreshTokenReused(family)
            self._busy.add(token)
            return family, chain

    def end(self, token: str, family: str, *, rotate: bool) -> str | None:
        """Release ``token``; with ``rotate``, issue the chain's next token (returned) and retire this one."""
        with self._lock:
            self._busy.discard(token)
            chain = self._chains[family]
            if not rotate or chain.current != token:
                return None
            new = secrets.token_urlsafe(48)
            self._family_of[new] = family
            chain.current = new
            return new


class RefreshTokenReused(RefreshTokenError):
    """A rotated-out token came back: its chain is revoked (``family`` names it)."""

    def __init__(self, family: str) -> None:
        super().__init__(UNKNOWN_REFRESH)
        self.family = family


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
        self.refresh_tokens = RefreshTokens(config)
        self.usage = Usage()
        self.dice = FaultDice(config.faults.seed)
        self.started_at = time.time()
