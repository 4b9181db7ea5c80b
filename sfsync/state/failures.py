"""State that cannot be written, said in plain words: a full disk, a permission refused, a read-only file
system. Every write path of the state store (SQLite, result parts, snapshots, a run's work files) turns
its low-level error into one :class:`~sfsync.errors.StateError` built here, so the user reads the cause
and the fix ("the disk holding .sfsync is full: free space") instead of a traceback or a hint about
corrupt files.
"""

from __future__ import annotations

import errno
import getpass
from enum import StrEnum
from pathlib import Path

from sfsync.errors import StateError


class WriteFailure(StrEnum):
    DISK_FULL = "disk full"
    PERMISSION = "permission denied"
    READ_ONLY = "read-only"


_ERRNOS = {
    errno.ENOSPC: WriteFailure.DISK_FULL,
    errno.EDQUOT: WriteFailure.DISK_FULL,
    errno.EACCES: WriteFailure.PERMISSION,
    errno.EPERM: WriteFailure.PERMISSION,
    errno.EROFS: WriteFailure.READ_ONLY,
}
# what SQLite, DuckDB and Arrow say when they do not carry an errno
_TEXTS = (
    ("no space left", WriteFailure.DISK_FULL),
    ("disk is full", WriteFailure.DISK_FULL),
    ("disk quota", WriteFailure.DISK_FULL),
    ("permission denied", WriteFailure.PERMISSION),
    ("operation not permitted", WriteFailure.PERMISSION),
    ("read-only file system", WriteFailure.READ_ONLY),
    ("readonly database", WriteFailure.READ_ONLY),
)


def write_failure(exc: BaseException) -> WriteFailure | None:
    """Why a write failed, when it is one of the causes users can fix (else None)."""
    code = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and code in _ERRNOS:
        return _ERRNOS[code]
    text = str(exc).lower()
    return next((kind for needle, kind in _TEXTS if needle in text), None)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "this user"


def unwritable(exc: BaseException, where: Path, what: str) -> StateError:
    """The StateError for ``exc``, raised while writing ``what`` under ``where``.

    The message says what could not be written and why; the hint how to fix it, and that the next run
    settles what this one sent (nothing is lost or sent twice).
    """
    kind = write_failure(exc)
    after = "then run again: the next run settles what this run sent, nothing is lost or sent twice"
    if kind is WriteFailure.DISK_FULL:
        cause = f"the disk holding {where} is full"
        hint = f"free space on that disk (or move the state directory to another one), {after}"
    elif kind is WriteFailure.PERMISSION:
        cause = f"permission denied: {_user()} may not write in {where}"
        hint = f"give {_user()} write permission on {where} (and everything under it), {after}"
    elif kind is WriteFailure.READ_ONLY:
        cause = f"{where} is read-only (a read-only file system, or a database file this user cannot write)"
        hint = f"make it writable (remount, or fix the file's owner and mode), {after}"
    else:
        cause = str(exc) or type(exc).__name__
        hint = f"check that {where} is writable and its disk has space, {after}"
    return StateError(f"cannot write {what}: {cause}; sfsync stopped sending", hint=hint)


__all__ = ["WriteFailure", "unwritable", "write_failure"]
