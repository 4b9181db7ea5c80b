"""Where a project's state lives (``.sfsync/`` beside its project file) and how the store is tuned."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sfsync.config.state import STATE_DIR_NAME, STATE_TMP_NAME
from sfsync.errors import StateError
from sfsync.state.failures import unwritable, write_failure
from sfsync.state.snapshots import check_sync_name

DEFAULT_PG_SCHEMA = "public"
"""The PostgreSQL schema the state tables live in unless the project file names one."""

PRIVATE_DIR_MODE = 0o700
"""Mode of the state directory and its folders: the owner alone may list or enter them."""

PRIVATE_FILE_MODE = 0o600
"""Mode of the state database files: the owner alone may read or write them."""


@dataclass(frozen=True)
class StateSettings:
    """Tuning of the state store; the defaults suit a laptop and a small server alike."""

    #: How long a writer waits for another process's write transaction before failing (milliseconds).
    busy_timeout_ms: int = 30_000
    #: Parquet compression of row result part files (``zstd``, ``snappy``, ``none``…).
    results_compression: str = "zstd"
    #: SQLite ``synchronous`` level. NORMAL is durable against process crashes in WAL mode; FULL also
    #: against power loss, at the cost of an fsync per commit.
    synchronous: str = "NORMAL"
    #: Keep the rows each run sent (``results/<run id>/sent.parquet``) for the row debugger; pruned with
    #: the run's row results.
    keep_sent_values: bool = True
    #: PostgreSQL state: how long a run lease outlives its last heartbeat (seconds). A dead worker's sync
    #: is taken over at most this long after it died; a worker cut off from the server this long loses it.
    lease_seconds: float = 30.0
    #: PostgreSQL state: how often a held run lease is renewed (seconds); well under ``lease_seconds``.
    lease_heartbeat_seconds: float = 5.0
    #: PostgreSQL state: seconds to wait for a connection to the server.
    connect_timeout_s: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.lease_heartbeat_seconds < self.lease_seconds:
            raise ValueError("lease_heartbeat_seconds must be positive and below lease_seconds")


@dataclass(frozen=True)
class StatePaths:
    """Where each part of the state lives: all under ``root``, except scratch files (DuckDB spill) under
    ``scratch`` when the root is shared by several workers."""

    root: Path
    scratch: Path | None = None
    #: with snapshots and row results on object storage: this worker's cache of them (under ``root``)
    cache: Path | None = None

    @property
    def database(self) -> Path:
        return self.root / "state.db"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def snapshots(self) -> Path:
        return (self.cache or self.root) / "snapshots"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def results(self) -> Path:
        return (self.cache or self.root) / "results"

    @property
    def tmp(self) -> Path:
        return (self.scratch or self.root) / STATE_TMP_NAME

    def lock_file(self, sync: str) -> Path:
        return self.locks / f"{check_sync_name(sync)}.lock"


def prepare_dirs(paths: StatePaths) -> None:
    """Create the state directory and its folders, owner only, with a ``.gitignore``."""
    try:
        # Owner only: the state holds synced names and e-mails (and stored tokens). A 0700 root keeps
        # every file below it private whatever its own mode; an older, looser root is tightened.
        for d in (paths.root, paths.locks, paths.snapshots, paths.results, paths.work, paths.tmp):
            d.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        paths.root.chmod(PRIVATE_DIR_MODE)
        ignore = paths.root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# sfsync state: run history, snapshots, locks. Not for git.\n*\n")
    except OSError as exc:
        if write_failure(exc) is not None:
            raise unwritable(exc, paths.root, "the state store") from exc
        raise StateError(
            f"cannot open the state store in {paths.root}: {exc}",
            hint="check that the directory is writable, or choose another state directory",
        ) from exc


def default_state_dir(project_file: str | os.PathLike[str]) -> Path:
    """The state directory of a project: ``.sfsync/`` beside its ``sfsync.yml``."""
    return Path(project_file).resolve().parent / STATE_DIR_NAME


__all__ = [
    "DEFAULT_PG_SCHEMA",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "STATE_DIR_NAME",
    "StatePaths",
    "StateSettings",
    "default_state_dir",
    "prepare_dirs",
]
