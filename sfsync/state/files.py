"""Where snapshots and row results are kept: a local directory, or a prefix on object storage.

The snapshot store and the row results speak to one small interface, :class:`StateFiles`, with keys
written as relative ``/``-separated names (``snapshots/contacts/CURRENT``). Two implementations:

- :class:`LocalFiles`: a directory (``.sfsync/``, or a ``state: files:`` directory every worker mounts).
  Publishing is ``fsync`` + ``rename`` (atomic on POSIX); a new name that must not overwrite is a hard
  link; the publish lock is ``flock``.
- ``ObjectFiles`` (``sfsync.state.objectfiles``): a bucket prefix reached through ``pyarrow.fs``
  (``s3://…``). Publishing uploads to a temporary key, checks its size, then copies it to its final key;
  reads go through a local cache of the files, which are never changed once published.

Writers always produce a finished local file first (DuckDB and Arrow write Parquet locally, under
:meth:`StateFiles.staging`), then :meth:`StateFiles.publish` it: a reader never sees half a file, and a
writer killed at any point leaves only ``.tmp-*`` names, which no reader lists and the next writer removes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"
"""Names of files (and keys) still being written start with this: no reader lists them."""

_LOCK_FILE = ".publish.lock"


@dataclass(frozen=True)
class FileEntry:
    """One published file under a directory: its name, size and modification time (nanoseconds)."""

    name: str
    size: int
    mtime_ns: int | None = None


def join(*parts: str) -> str:
    """A key from parts (empty parts left out)."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def tmp_name(name: str) -> str:
    """A fresh temporary name for a file that will be published as ``name``."""
    return f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{name}"


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StateFiles(ABC):
    """Files of the state: read, list, publish atomically, delete (see the module docstring)."""

    #: True when the files are not on a local filesystem (reads go through a local cache)
    remote: bool = False

    @abstractmethod
    def where(self, key: str = "") -> str:
        """Where ``key`` is, for messages: a path or a URL (never a secret)."""

    @abstractmethod
    def local_dir(self, directory: str) -> Path:
        """The local directory that mirrors ``directory`` (itself, or its cache); not created."""

    def staging(self, directory: str) -> Path:
        """A local directory (created) where a writer puts files it will :meth:`publish` under
        ``directory``; give them :func:`tmp_name` names."""
        path = self.local_dir(directory)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @abstractmethod
    def read_text(self, key: str) -> str | None:
        """The text of ``key``, or None if there is no such file."""

    @abstractmethod
    def write_text(self, key: str, text: str) -> None:
        """Replace ``key`` with ``text`` atomically (readers see the old text or the new, whole)."""

    @abstractmethod
    def publish(self, tmp: Path, key: str, *, overwrite: bool = True, durable: bool = True) -> bool:
        """Make the finished local file ``tmp`` the content of ``key``, atomically; ``tmp`` is consumed
        (also when this raises).

        ``overwrite=False``: when ``key`` exists already, nothing is published, False is returned and
        ``tmp`` is left in place (to publish under another name).
        ``durable``: the bytes reach stable storage before the file gets its name.
        """

    @abstractmethod
    def info(self, key: str) -> FileEntry | None:
        """The published file ``key``, or None."""

    @abstractmethod
    def local(self, key: str, entry: FileEntry | None = None) -> Path:
        """A local path holding ``key``'s content, to read (with DuckDB or Arrow). ``entry`` (from
        :meth:`listdir` or :meth:`info`) lets a cache tell a file it holds is current."""

    @abstractmethod
    def open_input(self, key: str) -> Any:
        """A random-access binary file of ``key`` (for reading a Parquet footer without the whole file)."""

    @abstractmethod
    def listdir(self, directory: str) -> list[FileEntry]:
        """The published files directly under ``directory`` (no temporary ones), in name order."""

    @abstractmethod
    def subdirs(self, directory: str) -> list[str]:
        """Names of the directories directly under ``directory``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` if it exists."""

    @abstractmethod
    def delete_tree(self, directory: str) -> None:
        """Remove ``directory`` and everything under it, if it exists."""

    def forget(self, directory: str) -> None:  # noqa: B027 (a local directory caches nothing)
        """Drop this worker's cached copies of ``directory`` (the files stay where they are)."""

    @abstractmethod
    def clean_tmp(self, directory: str) -> None:
        """Remove the temporary files a killed writer left under ``directory``."""

    @abstractmethod
    def lock(self, directory: str) -> AbstractContextManager[None]:
        """Serialise publishers of ``directory`` (see each implementation for how far that reaches)."""

    def check(self) -> None:  # noqa: B027 (a local directory needs no check beyond creating it)
        """Fail with a clear error, before anything is written, when the files cannot be used."""


class LocalFiles(StateFiles):
    """Files under a local (or mounted) directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"LocalFiles({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / key if key else self.root

    def where(self, key: str = "") -> str:
        return str(self.path(key))

    def local_dir(self, directory: str) -> Path:
        return self.path(directory)

    def read_text(self, key: str) -> str | None:
        try:
            return self.path(key).read_text()
        except FileNotFoundError:
            return None

    def write_text(self, key: str, text: str) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / tmp_name(target.name)
        try:
            with open(tmp, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(target.parent)

    def publish(self, tmp: Path, key: str, *, overwrite: bool = True, durable: bool = True) -> bool:
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if durable:
                fsync_file(tmp)
            if overwrite:
                os.replace(tmp, target)
            else:
                try:
                    os.link(tmp, target)  # a link never overwrites: two writers cannot take one name
                except FileExistsError:
                    return False
                tmp.unlink()
            if durable:
                fsync_dir(target.parent)
            return True
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def info(self, key: str) -> FileEntry | None:
        try:
            st = self.path(key).stat()
        except FileNotFoundError:
            return None
        return FileEntry(self.path(key).name, st.st_size, st.st_mtime_ns)

    def local(self, key: str, entry: FileEntry | None = None) -> Path:
        return self.path(key)

    def open_input(self, key: str) -> Any:
        return open(self.path(key), "rb")

    def listdir(self, directory: str) -> list[FileEntry]:
        d = self.path(directory)
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            if name.startswith(TMP_PREFIX) or name == _LOCK_FILE:
                continue
            try:
                st = (d / name).stat()
            except FileNotFoundError:  # removed between listing and stat
                continue
            if (d / name).is_file():
                out.append(FileEntry(name, st.st_size, st.st_mtime_ns))
        return out

    def subdirs(self, directory: str) -> list[str]:
        d = self.path(directory)
        try:
            return sorted(n for n in os.listdir(d) if (d / n).is_dir())
        except FileNotFoundError:
            return []

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_tree(self, directory: str) -> None:
        shutil.rmtree(self.path(directory), ignore_errors=True)

    def clean_tmp(self, directory: str) -> None:
        for stale in self.path(directory).glob(f"{TMP_PREFIX}*"):
            stale.unlink(missing_ok=True)

    @contextmanager
    def _flock(self, d: Path) -> Iterator[None]:
        d.mkdir(parents=True, exist_ok=True)
        fd = os.open(d / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def lock(self, directory: str) -> AbstractContextManager[None]:
        """An exclusive ``flock`` on ``directory/.publish.lock``: every process on every machine that
        mounts the directory (where the filesystem honours ``flock``)."""
        return self._flock(self.path(directory))


__all__ = [
    "TMP_PREFIX",
    "FileEntry",
    "LocalFiles",
    "StateFiles",
    "fsync_dir",
    "fsync_file",
    "join",
    "tmp_name",
]
