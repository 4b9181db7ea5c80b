"""Picking up edits of the project file while the scheduler runs.

The scheduler polls the modification stamps of ``sfsync.yml`` and the ``.env`` beside it at each tick.
When either changed, the project is loaded again: a valid file replaces the running project (new syncs
start counting slots, removed ones stop, a changed schedule starts afresh, runs in flight finish on the
old version); an invalid one is logged and the previous version keeps running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sfsync.config import Project, load_project
from sfsync.errors import SfsyncError

log = logging.getLogger(__name__)

_Stamp = tuple[tuple[int, int] | None, ...]


def _stamp_of(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class ProjectWatcher:
    """Reloads a project file when it or its ``.env`` changes on disk."""

    def __init__(self, path: Path, *, load: Callable[[Path], Project] = load_project) -> None:
        self.path = path
        self._load = load
        self._stamp = self._read()

    def _read(self) -> _Stamp:
        return (_stamp_of(self.path), _stamp_of(self.path.parent / ".env"))

    def poll(self) -> Project | None:
        """The project loaded again if its files changed since the last poll, else None."""
        stamp = self._read()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            project = self._load(self.path)
        except SfsyncError as exc:
            log.error("%s changed but does not load; keeping the previous version: %s", self.path, exc)
            return None
        log.info("%s changed: reloaded (%d sync(s))", self.path, len(project.syncs))
        return project


__all__ = ["ProjectWatcher"]
