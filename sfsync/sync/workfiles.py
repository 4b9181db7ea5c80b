"""A run's work files on object storage, so that another worker can settle a run whose worker is gone.

With ``state: files:`` on object storage, snapshots and row results live in the bucket, but a run writes
its work files (the diff, the rows of each REST batch, each Bulk job's CSV and key file) under the
worker's own ``.sfsync/work``. Crash recovery reads them; when the worker never comes back, the worker
that takes the sync over fetches them from the bucket instead:

- **publish** (:func:`publish_work`): before a journal entry names a batch file or a Bulk key file, that
  file, the files recovery reads beside it (``target.json``, the job's CSV) and the diff's own files
  (``manifest.json``, ``changes.parquet``, ``gone.parquet``, ``removals.parquet``, the claim ``run.json``,
  ``warehouse.json``) are published under ``work/<sync>/<diff id>/`` in the bucket, each through
  :meth:`StateFiles.publish` (atomic, size checked). A file already published unchanged is not sent
  again. A run that journals nothing (nothing to send) uploads nothing.
- **fetch** (:func:`local_work_file`, :func:`fetch_remote_diffs`): recovery looks for a file on local
  disk first, then in the bucket (through the files' local cache).
- **clean** (:func:`forget_run`, :func:`forget_settled`): once the run's snapshot advanced, its prefix is
  deleted, like its local work directory.

With a local ``files`` directory (shared or not) nothing here does anything: the work directory is
already where every worker that can take the sync over looks.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

from sfsync.state import StateStore
from sfsync.state.failures import unwritable
from sfsync.state.files import TMP_PREFIX, StateFiles, join, tmp_name
from sfsync.state.snapshots import check_sync_name

log = logging.getLogger(__name__)

WORK_PREFIX = "work"
"""Directory of the bucket prefix (``state.files``) that holds runs' work files."""

DIFF_FILES = (
    "manifest.json",
    "run.json",
    "changes.parquet",
    "gone.parquet",
    "removals.parquet",
    "warehouse.json",
)
"""The files of a diff's work directory that recovery reads to advance the snapshot (not the plan's
``send.parquet`` / ``refused.parquet``, nor DuckDB spill)."""

_published: dict[str, tuple[int, int]] = {}
"""Size and modification time of each work file this process published, by its URL."""
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _remote(store: StateStore) -> StateFiles | None:
    files = store.files
    return files if files.remote else None


def _key(store: StateStore, path: Path) -> str | None:
    """The bucket key of a file under this worker's work directory (None if it is not under it)."""
    try:
        rel = path.relative_to(store.paths.work)
    except ValueError:
        return None
    return join(WORK_PREFIX, rel.as_posix())


def _publish_one(files: StateFiles, path: Path, key: str) -> None:
    where = files.where(key)
    with _guard:
        lock = _locks.setdefault(where, threading.Lock())
    with lock:  # Bulk jobs journal from several threads: one upload of a shared diff file
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        if _published.get(where) == stamp:
            return
        tmp = files.staging(key.rpartition("/")[0]) / tmp_name(path.name)
        # a copy, not a link: the published copy goes to the cache, which must not change with the
        # work file if that is rewritten in place
        try:
            shutil.copyfile(path, tmp)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise unwritable(exc, tmp.parent, f"a copy of {path.name} to publish (nothing was sent)") from exc
        files.publish(tmp, key)
        _published[where] = stamp


def publish_work(store: StateStore, paths: Iterable[Path]) -> None:
    """Publish ``paths`` (files under the work directory) and their diff's files to the bucket, when
    ``state.files`` is object storage; raises :class:`~sfsync.errors.StateError` if the store refuses.

    Call it before the journal entry that names these files is written."""
    files = _remote(store)
    if files is None:
        return
    work = store.paths.work
    wanted: list[Path] = []
    diff_dirs: list[Path] = []
    for path in paths:
        wanted.append(path)
        try:
            rel = path.relative_to(work)
        except ValueError:
            continue
        if len(rel.parts) >= 2:
            diff_dir = work / rel.parts[0] / rel.parts[1]
            if diff_dir not in diff_dirs:
                diff_dirs.append(diff_dir)
    # the diff first: a journal entry must never exist without what advances the snapshot past it
    for diff_dir in diff_dirs:
        wanted[:0] = [diff_dir / name for name in DIFF_FILES if (diff_dir / name).exists()]
    for path in wanted:
        key = _key(store, path)
        if key is not None:
            _publish_one(files, path, key)


def remote_key(sync: str, recorded: str) -> str | None:
    """The bucket key of a work file whose path another worker recorded (``…/work/<sync>/<diff>/…``)."""
    marker = f"/{WORK_PREFIX}/{check_sync_name(sync)}/"
    at = recorded.replace(os.sep, "/").rfind(marker)
    if at < 0:
        return None
    return join(WORK_PREFIX, recorded.replace(os.sep, "/")[at + len(WORK_PREFIX) + 2 :])


def local_work_file(store: StateStore, sync: str, recorded: str, beside: Iterable[str] = ()) -> Path:
    """A local path holding the work file a journal entry names (``recorded``): itself when it is on this
    worker's disk, else a copy fetched from the bucket with the files ``beside`` it (by name) that exist
    there. Returns ``recorded`` unchanged when there is nothing to fetch (the caller reports it missing)."""
    path = Path(recorded)
    files = _remote(store)
    if path.exists() or files is None:
        return path
    key = remote_key(sync, recorded)
    if key is None or files.info(key) is None:
        return path
    local = files.local(key)
    parent = key.rpartition("/")[0]
    for name in beside:
        other = join(parent, name)
        if files.info(other) is not None:
            files.local(other)
    log.info("fetched work file %s from %s", path.name, files.where(key))
    return local


def fetch_remote_diffs(store: StateStore, sync: str) -> list[str]:
    """Copy into this worker's work directory the diffs of ``sync`` published in the bucket that it does
    not hold (their worker is gone): the pending diffs recovery advances. Returns the ids of every diff
    published for ``sync`` (one listing request)."""
    files = _remote(store)
    if files is None:
        return []
    name = check_sync_name(sync)
    ids = files.subdirs(join(WORK_PREFIX, name))
    for diff_id in ids:
        local_dir = store.paths.work / name / diff_id
        if local_dir.exists():
            continue
        entries = {e.name: e for e in files.listdir(join(WORK_PREFIX, name, diff_id))}
        if "manifest.json" not in entries:
            continue
        tmp_dir = store.paths.work / f"{TMP_PREFIX}{name}-{diff_id}"  # not where pending diffs are found
        try:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            tmp_dir.mkdir(parents=True)
            for file_name in DIFF_FILES:
                if file_name in entries:
                    key = join(WORK_PREFIX, name, diff_id, file_name)
                    shutil.copyfile(files.local(key, entries[file_name]), tmp_dir / file_name)
            local_dir.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_dir, local_dir)
        except OSError as exc:
            raise unwritable(exc, store.paths.work, f"the diff {diff_id} of a run of `{sync}`") from exc
        log.info("fetched diff %s of sync `%s` from %s", diff_id, sync, files.where(WORK_PREFIX))
    return ids


def forget_run(store: StateStore, work_dir: Path) -> None:
    """Delete the bucket copy of a diff's work files once its run settled (nothing when none was
    published by this process)."""
    files = _remote(store)
    if files is None:
        return
    prefix = _key(store, work_dir)
    if prefix is None:
        return
    where = files.where(prefix) + "/"
    with _guard:
        mine = [k for k in _published if k.startswith(where)]
        for k in mine:
            _published.pop(k, None)
            _locks.pop(k, None)
    if mine:
        files.delete_tree(prefix)


def forget_settled(store: StateStore, sync: str, ids: Iterable[str]) -> None:
    """Delete the bucket copies of the diffs ``ids`` of ``sync`` whose local work directory is gone
    (recovery advanced and discarded them). Call it holding the sync's lease."""
    files = _remote(store)
    if files is None:
        return
    name = check_sync_name(sync)
    for diff_id in ids:
        if not (store.paths.work / name / diff_id).exists():
            files.delete_tree(join(WORK_PREFIX, name, diff_id))


__all__ = [
    "DIFF_FILES",
    "WORK_PREFIX",
    "fetch_remote_diffs",
    "forget_run",
    "forget_settled",
    "local_work_file",
    "publish_work",
    "remote_key",
]
