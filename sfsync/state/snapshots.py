"""Per-sync snapshots: the last values Salesforce accepted, as Parquet files swapped in atomically.

Layout of one sync's directory ``snapshots/<sync>/``::

    CURRENT                     JSON pointer: generation, file names, columns, types, counts
    snapshot-000007.parquet     primary key + mapped columns + row hash of every synced row
    rejected-000007.parquet     primary keys rejected (or not attempted) on the last run: resent next time

A new generation is written to temporary files, each fsynced, renamed to its final name, and only then
``CURRENT`` is replaced the same way (write temp, fsync, rename, fsync the directory). A reader therefore
sees either the old generation or the new one, never half a file; a crash at any point leaves the old
snapshot in place and at worst some ``.tmp-*`` files that the next writer removes. The previous
generation's files are kept so a reader that read ``CURRENT`` just before a swap still finds its files.

Publishing checks the generation the writer started from, so an outdated diff can never move a snapshot
backwards.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sfsync.errors import ConfigError, StateError

_SYNC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
CURRENT = "CURRENT"
_TMP_PREFIX = ".tmp-"


def check_sync_name(sync: str) -> str:
    """Sync names become file names: letters, digits, ``_ . -``, starting with a letter or digit."""
    if not _SYNC_NAME.match(sync):
        raise ConfigError(
            f"sync name {sync!r} cannot be used as a file name for its state",
            hint="use letters, digits, '_', '.', '-' (start with a letter or digit, at most 128 characters)",
        )
    return sync


@dataclass(frozen=True)
class SnapshotInfo:
    """One published snapshot generation of a sync."""

    sync: str
    generation: int
    directory: Path
    snapshot_file: str
    rejected_file: str
    primary_key: str
    #: mapped columns in hash order (sorted by name)
    columns: tuple[str, ...]
    #: DuckDB type of the primary key and each mapped column, by column name
    types: dict[str, str]
    #: identifies the row-hash function (DuckDB version); a different one means hashes are not comparable
    hash_version: str
    rows: int
    rejected: int
    created_at: datetime
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def snapshot_path(self) -> Path:
        return self.directory / self.snapshot_file

    @property
    def rejected_path(self) -> Path:
        return self.directory / self.rejected_file

    def to_json(self) -> str:
        return json.dumps(
            {
                "generation": self.generation,
                "snapshot_file": self.snapshot_file,
                "rejected_file": self.rejected_file,
                "primary_key": self.primary_key,
                "columns": list(self.columns),
                "types": self.types,
                "hash_version": self.hash_version,
                "rows": self.rows,
                "rejected": self.rejected,
                "created_at": self.created_at.isoformat(),
                "extra": self.extra,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, sync: str, directory: Path, text: str) -> SnapshotInfo:
        d = json.loads(text)
        return cls(
            sync=sync,
            directory=directory,
            generation=int(d["generation"]),
            snapshot_file=str(d["snapshot_file"]),
            rejected_file=str(d["rejected_file"]),
            primary_key=str(d["primary_key"]),
            columns=tuple(str(c) for c in d["columns"]),
            types={str(k): str(v) for k, v in d["types"].items()},
            hash_version=str(d["hash_version"]),
            rows=int(d["rows"]),
            rejected=int(d["rejected"]),
            created_at=datetime.fromisoformat(str(d["created_at"])),
            extra={str(k): str(v) for k, v in d.get("extra", {}).items()},
        )


@dataclass(frozen=True)
class PendingSnapshot:
    """Temporary files a writer fills before :meth:`SnapshotStore.publish` swaps them in."""

    sync: str
    directory: Path
    base_generation: int
    generation: int
    snapshot_tmp: Path
    rejected_tmp: Path


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SnapshotStore:
    """Reads and atomically replaces the snapshots under one ``snapshots/`` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, sync: str) -> Path:
        return self.root / check_sync_name(sync)

    def current(self, sync: str) -> SnapshotInfo | None:
        """The published snapshot of a sync, or None before its first successful run."""
        d = self.directory(sync)
        for _attempt in range(3):  # a swap between reading CURRENT and checking its files: read again
            try:
                text = (d / CURRENT).read_text()
            except FileNotFoundError:
                return None
            try:
                info = SnapshotInfo.from_json(sync, d, text)
            except (ValueError, KeyError, TypeError) as exc:
                raise StateError(
                    f"snapshot pointer {d / CURRENT} is unreadable: {exc}",
                    hint="delete the sync's snapshot directory and run it with --full-resync",
                ) from exc
            if info.snapshot_path.exists():
                return info
        raise StateError(
            f"snapshot file {info.snapshot_path} named by {d / CURRENT} is missing",
            hint="delete the sync's snapshot directory and run it with --full-resync",
        )

    @contextmanager
    def _publish_lock(self, d: Path) -> Iterator[None]:
        fd = os.open(d / ".publish.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def begin(self, sync: str, base: SnapshotInfo | None) -> PendingSnapshot:
        """Reserve temporary files for the generation after ``base`` (None: the first snapshot)."""
        d = self.directory(sync)
        d.mkdir(parents=True, exist_ok=True)
        with self._publish_lock(d):
            for stale in d.glob(f"{_TMP_PREFIX}*"):
                stale.unlink(missing_ok=True)
        base_gen = base.generation if base else 0
        gen = base_gen + 1
        tag = f"{_TMP_PREFIX}{gen:06d}-{os.getpid()}"
        return PendingSnapshot(
            sync=sync,
            directory=d,
            base_generation=base_gen,
            generation=gen,
            snapshot_tmp=d / f"{tag}-snapshot.parquet",
            rejected_tmp=d / f"{tag}-rejected.parquet",
        )

    def publish(
        self,
        pending: PendingSnapshot,
        *,
        primary_key: str,
        columns: tuple[str, ...],
        types: dict[str, str],
        hash_version: str,
        rows: int,
        rejected: int,
        extra: dict[str, str] | None = None,
    ) -> SnapshotInfo:
        """Make the pending files the sync's current snapshot, atomically; drop older generations."""
        d = pending.directory
        for tmp in (pending.snapshot_tmp, pending.rejected_tmp):
            if not tmp.exists():
                raise StateError(f"snapshot temp file {tmp} was not written", hint="this is a bug in sfsync")
            _fsync_file(tmp)
        with self._publish_lock(d):
            now = self.current(pending.sync)
            now_gen = now.generation if now else 0
            if now_gen != pending.base_generation:
                raise StateError(
                    f"snapshot of sync `{pending.sync}` moved to generation {now_gen} while this run "
                    f"prepared generation {pending.generation} from {pending.base_generation}; "
                    "not overwriting it",
                    hint="another run of this sync advanced it; run the sync again to diff against it",
                )
            info = SnapshotInfo(
                sync=pending.sync,
                generation=pending.generation,
                directory=d,
                snapshot_file=f"snapshot-{pending.generation:06d}.parquet",
                rejected_file=f"rejected-{pending.generation:06d}.parquet",
                primary_key=primary_key,
                columns=columns,
                types=dict(types),
                hash_version=hash_version,
                rows=rows,
                rejected=rejected,
                created_at=datetime.now(UTC),
                extra=dict(extra or {}),
            )
            os.replace(pending.snapshot_tmp, info.snapshot_path)
            os.replace(pending.rejected_tmp, info.rejected_path)
            pointer_tmp = d / f"{_TMP_PREFIX}{pending.generation:06d}-{os.getpid()}-CURRENT"
            with open(pointer_tmp, "w") as fh:
                fh.write(info.to_json())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(pointer_tmp, d / CURRENT)
            _fsync_dir(d)
            self._drop_old(d, keep_from=pending.generation - 1)
        return info

    def discard(self, pending: PendingSnapshot) -> None:
        """Remove a pending generation's temporary files (after a failed write)."""
        pending.snapshot_tmp.unlink(missing_ok=True)
        pending.rejected_tmp.unlink(missing_ok=True)

    def reset(self, sync: str) -> None:
        """Forget a sync's snapshot (its next run sends every row as new)."""
        d = self.directory(sync)
        with self._publish_lock(d) if d.exists() else _nothing():
            (d / CURRENT).unlink(missing_ok=True)
            if d.exists():
                self._drop_old(d, keep_from=1 << 62)

    @staticmethod
    def _drop_old(d: Path, *, keep_from: int) -> None:
        for f in d.glob("*-*.parquet"):
            if f.name.startswith(_TMP_PREFIX):
                continue
            try:
                gen = int(f.stem.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                continue
            if gen < keep_from:
                f.unlink(missing_ok=True)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


__all__ = ["CURRENT", "PendingSnapshot", "SnapshotInfo", "SnapshotStore", "check_sync_name"]
