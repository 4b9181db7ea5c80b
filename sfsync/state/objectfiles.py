"""State files on object storage (``state: files: s3://bucket/prefix``), through ``pyarrow.fs``.

:class:`ObjectFiles` implements :class:`~sfsync.state.files.StateFiles` on a bucket prefix:

- **publish**: the finished local file is uploaded to a temporary key (``.tmp-<random>-<name>`` beside
  its final key), its size checked against the local file, then copied server-side to its final key and
  the temporary key deleted. A worker killed mid-upload leaves an unfinished multipart upload (invisible;
  a bucket lifecycle rule clears it) or a ``.tmp-`` object, which no reader lists and the next writer of
  that directory deletes: nothing half-written is ever read under a final name.
- **read**: files are published once under names that are never reused for other content (snapshot
  generations carry a random tag; a Bulk job's part is only rewritten before it is live), so each worker
  keeps a local cache (``.sfsync/cache/`` mirroring the keys) and downloads a file at most once, streamed
  in blocks; a cached copy is also checked against the size and modification time the listing gives.
  The writer's own file goes into its cache when published, so a worker reading back what it just wrote
  downloads nothing.
- **lock**: object storage has no lock; publishers of one sync are serialised by its run lease in
  PostgreSQL (``state: url`` is required with ``files`` on object storage), and a process's threads by
  a mutex.

Errors (no bucket, no or wrong credentials, access denied) become one :class:`StateError` naming
``state.files`` and the fix; :meth:`ObjectFiles.check` raises it when the store opens, before anything is
written. No message carries a credential.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from sfsync.config.state import FilesConfig
from sfsync.errors import StateError
from sfsync.state.files import TMP_PREFIX, FileEntry, StateFiles, join, tmp_name

DOWNLOAD_BLOCK_BYTES = 8 * 1024 * 1024
"""Bytes read per request-stream chunk when a file is copied to or from object storage (memory bound)."""

CONNECT_TIMEOUT_S = 10.0
"""Seconds to wait for a connection to the object store."""

REQUEST_TIMEOUT_S = 60.0
"""Seconds a single request to the object store may take."""

_AWS_CODE = re.compile(r"AWS Error ([A-Z_]+)")
_DENIED = ("ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "EXPIRED_TOKEN", "FORBIDDEN")
_CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def _credentials_seen(config: FilesConfig) -> str:
    """Where credentials seem to come from, for the hint (names only, never values)."""
    if config.access_key_id is not None:
        return "state.files access_key_id / secret_access_key"
    found = [name for name in _CREDENTIAL_ENV if os.environ.get(name)]
    if found:
        return "the AWS chain (" + ", ".join(found) + " set)"
    if (Path.home() / ".aws" / "credentials").exists():
        return "the AWS chain (~/.aws/credentials)"
    return "the AWS chain, which found none in the environment or ~/.aws (only an instance role is left)"


def open_filesystem(config: FilesConfig) -> tuple[pafs.FileSystem, str]:
    """The ``pyarrow.fs`` filesystem of ``config`` and the base path (``bucket/prefix``) in it."""
    scheme = config.scheme
    if scheme == "s3":
        rest = config.url.split("://", 1)[1].strip("/")
        kwargs: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "request_timeout": REQUEST_TIMEOUT_S,
        }
        if config.region:
            kwargs["region"] = config.region
        if config.endpoint_url:
            scheme_part, _, host = config.endpoint_url.partition("://")
            kwargs["endpoint_override"] = host.rstrip("/")
            kwargs["scheme"] = scheme_part
        if config.access_key_id is not None and config.secret_access_key is not None:
            kwargs["access_key"] = config.access_key_id.get_secret_value()
            kwargs["secret_key"] = config.secret_access_key.get_secret_value()
            if config.session_token is not None:
                kwargs["session_token"] = config.session_token.get_secret_value()
        return pafs.S3FileSystem(**kwargs), rest
    try:
        fs, path = pafs.FileSystem.from_uri(config.url)
    except (OSError, ValueError) as exc:
        raise StateError(
            f"state.files {config.url} cannot be opened: {exc}",
            hint="check the URL in state: files: (s3://bucket/prefix, gs://bucket/prefix, hdfs://host/path)",
        ) from exc
    return fs, path.strip("/")


class ObjectFiles(StateFiles):
    """State files under ``base`` (``bucket/prefix``) of a ``pyarrow.fs`` filesystem, cached in ``cache``."""

    remote = True

    def __init__(
        self, fs: pafs.FileSystem, base: str, cache: Path, *, url: str, config: FilesConfig | None = None
    ) -> None:
        self.fs = fs
        self.base = base.strip("/")
        self.cache = cache
        self.url = url.rstrip("/")
        self.config = config or FilesConfig(url=url)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def open(cls, config: FilesConfig, cache: Path) -> ObjectFiles:
        fs, base = open_filesystem(config)
        return cls(fs, base, cache, url=config.url, config=config)

    def __repr__(self) -> str:
        return f"ObjectFiles({self.url!r})"

    # -- names --------------------------------------------------------------------------------------
    def _full(self, key: str) -> str:
        return join(self.base, key)

    def where(self, key: str = "") -> str:
        return f"{self.url}/{key}" if key else self.url

    def local_dir(self, directory: str) -> Path:
        return self.cache / directory if directory else self.cache

    @property
    def bucket(self) -> str:
        return self.base.split("/", 1)[0]

    # -- errors -------------------------------------------------------------------------------------
    def error(self, exc: BaseException, doing: str, key: str = "") -> StateError:
        """A :class:`StateError` for a failed request: names ``state.files``, says how to fix it."""
        text = str(exc)
        m = _AWS_CODE.search(text)
        code = m.group(1) if m else ""
        where = self.where(key)
        if code == "NO_SUCH_BUCKET" or ("does not exist" in text and "bucket" in text.lower()):
            return StateError(
                f"cannot {doing} {where}: the bucket `{self.bucket}` named by state.files does not exist",
                hint=f"create the bucket, or fix the bucket name in state: files: ({self.url})",
            )
        if code in _DENIED or "AccessDenied" in text:
            return StateError(
                f"cannot {doing} {where}: access denied ({code or 'forbidden'}); credentials come from "
                f"{_credentials_seen(self.config)}",
                hint="give state.files credentials that may list, read, write and delete under the prefix "
                "(s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject): set access_key_id and "
                'secret_access_key through "${NAME}", or the AWS_* environment / ~/.aws / an instance '
                "role (docs/deployment.md#object-storage)",
            )
        detail = (text.splitlines() or [type(exc).__name__])[0]
        return StateError(
            f"cannot {doing} {where} (state.files): {detail}; credentials come from "
            f"{_credentials_seen(self.config)}",
            hint="check that the object store is reachable (state.files endpoint_url, region) and "
            "retry; the next run settles what this one sent",
        )

    def check(self) -> None:
        """The bucket exists and the credentials may list, write and delete under the prefix: one
        listing, one small object written, listed and deleted (about 6 requests)."""
        try:
            self.fs.get_file_info(pafs.FileSelector(self.base, allow_not_found=False))
        except OSError as exc:
            if not isinstance(exc, FileNotFoundError) or "NO_SUCH_BUCKET" in str(exc):
                raise self.error(exc, "list") from exc
            # the bucket exists; nothing is under the prefix yet
        probe = join(".sfsync-probe", uuid.uuid4().hex)
        try:
            with self.fs.open_output_stream(self._full(probe)) as out:
                out.write(b"sfsync can write here\n")
            self.fs.get_file_info(pafs.FileSelector(self._full(".sfsync-probe"), allow_not_found=True))
            self.fs.delete_file(self._full(probe))
        except OSError as exc:
            raise self.error(exc, "write a test object under", probe) from exc

    # -- reading ------------------------------------------------------------------------------------
    def read_text(self, key: str) -> str | None:
        try:
            with self.fs.open_input_stream(self._full(key)) as f:
                return bytes(f.read()).decode()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self.error(exc, "read", key) from exc

    def info(self, key: str) -> FileEntry | None:
        try:
            found = self.fs.get_file_info(self._full(key))
        except OSError as exc:
            raise self.error(exc, "look up", key) from exc
        if found.type != pafs.FileType.File:
            return None
        return FileEntry(found.base_name, int(found.size), found.mtime_ns)

    def local(self, key: str, entry: FileEntry | None = None) -> Path:
        path = self.cache / key
        try:
            st = path.stat()
        except FileNotFoundError:
            st = None
        if st is not None and (entry is None or _same(st, entry)):
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / tmp_name(path.name)
        try:
            with self.fs.open_input_stream(self._full(key)) as src, open(tmp, "wb") as dst:
                while True:
                    block = src.read(DOWNLOAD_BLOCK_BYTES)
                    if not block:
                        break
                    dst.write(block)
            if entry is not None and entry.mtime_ns is not None:
                os.utime(tmp, ns=(entry.mtime_ns, entry.mtime_ns))
            os.replace(tmp, path)
        except FileNotFoundError as exc:
            raise StateError(
                f"{self.where(key)} is missing (state.files)",
                hint="another worker may have pruned it; run again, or with --full-resync if it persists",
            ) from exc
        except OSError as exc:
            raise self.error(exc, "download", key) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def open_input(self, key: str) -> Any:
        try:
            return self.fs.open_input_file(self._full(key))
        except OSError as exc:
            raise self.error(exc, "read", key) from exc

    def _listing(self, directory: str) -> list[pafs.FileInfo]:
        try:
            return list(self.fs.get_file_info(pafs.FileSelector(self._full(directory), allow_not_found=True)))
        except OSError as exc:
            raise self.error(exc, "list", directory) from exc

    def listdir(self, directory: str) -> list[FileEntry]:
        return sorted(
            (
                FileEntry(i.base_name, int(i.size), i.mtime_ns)
                for i in self._listing(directory)
                if i.type == pafs.FileType.File and not i.base_name.startswith(TMP_PREFIX)
            ),
            key=lambda e: e.name,
        )

    def subdirs(self, directory: str) -> list[str]:
        return sorted(i.base_name for i in self._listing(directory) if i.type == pafs.FileType.Directory)

    # -- writing ------------------------------------------------------------------------------------
    def _upload(self, tmp: Path, key: str) -> None:
        """``tmp`` to a temporary key beside ``key``, size checked, then copied to ``key``."""
        parent, _, name = key.rpartition("/")
        staged = join(parent, tmp_name(name))
        size = tmp.stat().st_size
        try:
            with open(tmp, "rb") as src, self.fs.open_output_stream(self._full(staged)) as dst:
                while True:
                    block = src.read(DOWNLOAD_BLOCK_BYTES)
                    if not block:
                        break
                    dst.write(block)
            uploaded = self.fs.get_file_info(self._full(staged))
            if uploaded.type != pafs.FileType.File or uploaded.size != size:
                raise StateError(
                    f"upload of {self.where(key)} came out at {uploaded.size} bytes instead of {size}",
                    hint="the object store lost part of the upload; run again",
                )
            self.fs.copy_file(self._full(staged), self._full(key))
        except OSError as exc:
            raise self.error(exc, "upload", key) from exc
        finally:
            with suppress(OSError):
                self.fs.delete_file(self._full(staged))

    def _twin(self, tmp: Path, key: str) -> str | None:
        """The key of a published file whose cached copy ``tmp`` is a hard link of (a snapshot that did
        not change is linked, not rewritten): it is copied inside the store instead of uploaded again."""
        st = tmp.stat()
        if st.st_nlink < 2:
            return None
        directory = key.rpartition("/")[0]
        for cached in self.local_dir(directory).iterdir():
            if cached != tmp and not cached.name.startswith(TMP_PREFIX):
                with suppress(FileNotFoundError):
                    if os.path.samestat(cached.stat(), st):
                        return join(directory, cached.name)
        return None

    def publish(self, tmp: Path, key: str, *, overwrite: bool = True, durable: bool = True) -> bool:
        if not overwrite and self.info(key) is not None:
            return False
        try:
            twin = self._twin(tmp, key)
            if twin is not None and self.info(twin) is not None:
                try:
                    self.fs.copy_file(self._full(twin), self._full(key))  # atomic, no bytes through here
                except OSError as exc:
                    raise self.error(exc, "copy", key) from exc
            else:
                self._upload(tmp, key)
            cached = self.cache / key
            cached.parent.mkdir(parents=True, exist_ok=True)
            done = self.info(key)
            if done is not None and done.mtime_ns is not None:
                os.utime(tmp, ns=(done.mtime_ns, done.mtime_ns))
            os.replace(tmp, cached)  # this worker reads back what it wrote without downloading it
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def write_text(self, key: str, text: str) -> None:
        staging = self.staging(key.rpartition("/")[0])
        tmp = staging / tmp_name(key.rpartition("/")[2])
        tmp.write_text(text)
        self.publish(tmp, key)

    def delete(self, key: str) -> None:
        try:
            self.fs.delete_file(self._full(key))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self.error(exc, "delete", key) from exc
        (self.cache / key).unlink(missing_ok=True)

    def delete_tree(self, directory: str) -> None:
        try:
            self.fs.delete_dir(self._full(directory))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self.error(exc, "delete", directory) from exc
        shutil.rmtree(self.cache / directory, ignore_errors=True)

    def forget(self, directory: str) -> None:
        shutil.rmtree(self.cache / directory, ignore_errors=True)

    def clean_tmp(self, directory: str) -> None:
        for found in self._listing(directory):
            if found.base_name.startswith(TMP_PREFIX):
                with suppress(FileNotFoundError):
                    self.fs.delete_file(found.path)
        for stale in self.local_dir(directory).glob(f"{TMP_PREFIX}*"):
            stale.unlink(missing_ok=True)

    def lock(self, directory: str) -> AbstractContextManager[None]:
        """A mutex of this process only: across workers, the sync's run lease serialises publishers."""
        with self._locks_guard:
            mutex = self._locks.setdefault(directory, threading.Lock())
        return _held(mutex)


@contextmanager
def _held(mutex: threading.Lock) -> Iterator[None]:
    with mutex:
        yield


def _same(st: os.stat_result, entry: FileEntry) -> bool:
    return st.st_size == entry.size and (entry.mtime_ns is None or st.st_mtime_ns == entry.mtime_ns)


__all__ = ["CONNECT_TIMEOUT_S", "DOWNLOAD_BLOCK_BYTES", "REQUEST_TIMEOUT_S", "ObjectFiles", "open_filesystem"]
