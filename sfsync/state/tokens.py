"""The newest refresh token of each destination, for connected apps that rotate refresh tokens.

One file per destination, owner-only, under the state directory::

    .sfsync/                        0700
      tokens/                       0700
        <destination>.json          0600  {"origin": <sha256 of the configured token>, "refresh_token": …}
        <destination>.lock                flock: one refresh of the token at a time, across processes

:class:`TokenFile` implements ``sfsync.salesforce.RefreshTokenStore``. The configured token itself is
never written, only a SHA-256 fingerprint of it, so the file says which configured token its chain began
with: after the user configures a new token (the old chain was revoked), the stored chain is ignored and
overwritten. Files are replaced atomically (write, fsync, rename). Nothing here logs a token, and no
repr shows one. The lock is an ``flock`` (released by the kernel when a process dies) plus a thread
lock per file, because flock does not exclude threads sharing one open file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sfsync.errors import StateError

TOKENS_DIR_NAME = "tokens"
#: Mode of the token files and of the directories above them (owner only).
TOKEN_FILE_MODE = 0o600
TOKEN_DIR_MODE = 0o700

_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def fingerprint(token: str) -> str:
    """A stable, one-way name for a configured token (never stored itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenFile:
    """The stored refresh token of one destination (``state_dir/tokens/<destination>.json``)."""

    def __init__(self, state_dir: Path, destination: str) -> None:
        self.state_dir = Path(state_dir)
        self.destination = destination
        self.directory = self.state_dir / TOKENS_DIR_NAME
        self.path = self.directory / f"{destination}.json"
        self.lock_path = self.directory / f"{destination}.lock"

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def _ensure_dir(self) -> None:
        try:
            for d in (self.state_dir, self.directory):
                d.mkdir(mode=TOKEN_DIR_MODE, parents=True, exist_ok=True)
                d.chmod(TOKEN_DIR_MODE)
        except OSError as exc:
            raise StateError(
                f"cannot create {self.directory} for the stored refresh token: {exc.strerror}",
                hint="check that the state directory is writable by this user",
            ) from None

    def load(self, origin: str) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable or torn: start again from the configured token
        if not isinstance(data, dict) or data.get("origin") != fingerprint(origin):
            return None
        token = data.get("refresh_token")
        return token if isinstance(token, str) and token else None

    def save(self, origin: str, token: str) -> None:
        self._ensure_dir()
        body = json.dumps(
            {
                "origin": fingerprint(origin),
                "refresh_token": token,
                "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        ).encode()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, TOKEN_FILE_MODE)
            try:
                os.fchmod(fd, TOKEN_FILE_MODE)
                os.write(fd, body)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StateError(
                f"cannot store the new refresh token in {self.path}: {exc.strerror}",
                hint="the old token no longer works (rotation): free disk space or fix permissions, then "
                "authorize the connected app again and configure the new refresh token",
            ) from None

    @contextmanager
    def locked(self) -> Iterator[None]:
        self._ensure_dir()
        with _THREAD_LOCKS_GUARD:
            thread_lock = _THREAD_LOCKS.setdefault(self.lock_path.resolve(), threading.Lock())
        with thread_lock:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, TOKEN_FILE_MODE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def forget(self) -> None:
        """Remove the stored token (the configured one is used again)."""
        self.path.unlink(missing_ok=True)


__all__ = ["TOKENS_DIR_NAME", "TokenFile", "fingerprint"]
