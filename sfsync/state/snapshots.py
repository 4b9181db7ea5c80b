"""Per-sync snapshots: the last values Salesforce accepted, as Parquet files swapped in atomically.

Layout of one sync's directory ``snapshots/<sync>/`` (in the state directory, the shared ``state: files``
directory, or under its object storage prefix; ``sfsync.state.files``)::

    CURRENT                            JSON pointer: generation, file names, columns, types, counts
    snapshot-000007-<tag>.parquet      primary key + mapped columns + row hash of every synced row
    rejected-000007-<tag>.parquet      primary keys rejected (or not attempted) on the last run

A new generation is written to local temporary files (:meth:`SnapshotStore.begin`), each published under
its final name (fsync + rename, or on object storage an upload to a temporary key then a copy), and only
then ``CURRENT`` is replaced the same way. A reader therefore sees either the old generation or the new
one, never half a file; a crash at any point leaves the old snapshot in place and at worst some
``.tmp-*`` files that the next writer removes. The previous generation's files are kept so a reader that
read ``CURRENT`` just before a swap still finds its files. ``<tag>`` is random: a name is never reused
for other content (after a reset, say), so a worker's cache of object storage files stays right.

Publishing checks the generation the writer started from, so an outdated diff can never move a snapshot
backwards.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sfsync.errors import ConfigError, StateError
from sfsync.state.files import TMP_PREFIX, LocalFiles, StateFiles, join

_SYNC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
CURRENT = "CURRENT"
_GENERATION_FILE = re.compile(r"^(?:snapshot|rejected)-(\d+)(?:-[0-9a-f]+)?\.parquet$")


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
    #: where the files are (None: in ``directory``); on object storage they are fetched on first use
    files: StateFiles | None = field(default=None, compare=False, repr=False)
    #: the sync's directory key in ``files``
    key_dir: str = ""

    def _local(self, name: str) -> Path:
        if self.files is None:
            return self.directory / name
        return self.files.local(join(self.key_dir, name))

    @property
    def snapshot_path(self) -> Path:
        """A local path of the snapshot file (from object storage: downloaded once, cached)."""
        return self._local(self.snapshot_file)

    @property
    def rejected_path(self) -> Path:
        return self._local(self.rejected_file)

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
    def from_json(
        cls, sync: str, directory: Path, text: str, files: StateFiles | None = None, key_dir: str = ""
    ) -> SnapshotInfo:
        d = json.loads(text)
        return cls(
            sync=sync,
            directory=directory,
            files=files,
            key_dir=key_dir,
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


class SnapshotStore:
    """Reads and atomically replaces the snapshots under one ``snapshots/`` directory: a local
    directory, or ``prefix`` of :class:`~sfsync.state.files.StateFiles` (local or object storage)."""

    def __init__(self, root: Path | StateFiles, prefix: str = "") -> None:
        self.files = LocalFiles(root) if isinstance(root, Path) else root
        self.prefix = prefix

    @property
    def root(self) -> Path:
        return self.files.local_dir(self.prefix)

    def _key(self, sync: str) -> str:
        return join(self.prefix, check_sync_name(sync))

    def directory(self, sync: str) -> Path:
        """The sync's local directory (its files, or on object storage their cache and temp files)."""
        return self.files.local_dir(self._key(sync))

    def where(self, sync: str) -> str:
        """Where the sync's snapshot is, for messages (a path or a URL)."""
        return self.files.where(self._key(sync))

    def current(self, sync: str) -> SnapshotInfo | None:
        """The published snapshot of a sync, or None before its first successful run."""
        key = self._key(sync)
        pointer = self.files.where(join(key, CURRENT))
        for _attempt in range(3):  # a swap between reading CURRENT and checking its files: read again
            text = self.files.read_text(join(key, CURRENT))
            if text is None:
                return None
            try:
                info = SnapshotInfo.from_json(sync, self.directory(sync), text, self.files, key)
            except (ValueError, KeyError, TypeError) as exc:
                raise StateError(
                    f"snapshot pointer {pointer} is unreadable: {exc}",
                    hint="delete the sync's snapshot directory and run it with --full-resync",
                ) from exc
            if self.files.info(join(key, info.snapshot_file)) is not None:
                return info
        raise StateError(
            f"snapshot file {self.files.where(join(key, info.snapshot_file))} named by {pointer} is missing",
            hint="delete the sync's snapshot directory and run it with --full-resync",
        )

    def begin(self, sync: str, base: SnapshotInfo | None) -> PendingSnapshot:
        """Reserve local temporary files for the generation after ``base`` (None: the first snapshot)."""
        key = self._key(sync)
        d = self.files.staging(key)
        with self.files.lock(key):
            self.files.clean_tmp(key)
        base_gen = base.generation if base else 0
        gen = base_gen + 1
        tag = f"{TMP_PREFIX}{gen:06d}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
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
        key = self._key(pending.sync)
        for tmp in (pending.snapshot_tmp, pending.rejected_tmp):
            if not tmp.exists():
                raise StateError(f"snapshot temp file {tmp} was not written", hint="this is a bug in sfsync")
        with self.files.lock(key):
            now = self.current(pending.sync)
            now_gen = now.generation if now else 0
            if now_gen != pending.base_generation:
                raise StateError(
                    f"snapshot of sync `{pending.sync}` moved to generation {now_gen} while this run "
                    f"prepared generation {pending.generation} from {pending.base_generation}; "
                    "not overwriting it",
                    hint="another run of this sync advanced it; run the sync again to diff against it",
                )
            tag = uuid.uuid4().hex[:8]
            info = SnapshotInfo(
                sync=pending.sync,
                generation=pending.generation,
                directory=pending.directory,
                snapshot_file=f"snapshot-{pending.generation:06d}-{tag}.parquet",
                rejected_file=f"rejected-{pending.generation:06d}-{tag}.parquet",
                primary_key=primary_key,
                columns=columns,
                types=dict(types),
                hash_version=hash_version,
                rows=rows,
                rejected=rejected,
                created_at=datetime.now(UTC),
                extra=dict(extra or {}),
                files=self.files,
                key_dir=key,
            )
            self.files.publish(pending.snapshot_tmp, join(key, info.snapshot_file))
            self.files.publish(pending.rejected_tmp, join(key, info.rejected_file))
            self.files.write_text(join(key, CURRENT), info.to_json())
            self._drop_old(key, keep_from=pending.generation - 1)
        return info

    def discard(self, pending: PendingSnapshot) -> None:
        """Remove a pending generation's temporary files (after a failed write)."""
        pending.snapshot_tmp.unlink(missing_ok=True)
        pending.rejected_tmp.unlink(missing_ok=True)

    def reset(self, sync: str) -> None:
        """Forget a sync's snapshot (its next run sends every row as new)."""
        key = self._key(sync)
        with self.files.lock(key):
            self.files.delete(join(key, CURRENT))
            self._drop_old(key, keep_from=1 << 62)

    def _drop_old(self, key: str, *, keep_from: int) -> None:
        for entry in self.files.listdir(key):
            m = _GENERATION_FILE.match(entry.name)
            if m and int(m.group(1)) < keep_from:
                self.files.delete(join(key, entry.name))
        local = self.files.local_dir(key)
        if self.files.remote and local.exists():  # the worker's cached copies of dropped generations
            for f in local.iterdir():
                m = _GENERATION_FILE.match(f.name)
                if m and int(m.group(1)) < keep_from:
                    f.unlink(missing_ok=True)


__all__ = ["CURRENT", "PendingSnapshot", "SnapshotInfo", "SnapshotStore", "check_sync_name"]
