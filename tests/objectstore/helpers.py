"""Opening state files on the test server's bucket, and a filesystem wrapper that fails or kills the
process at one step of an upload (the object store's fault knob: sfsync's own code runs unchanged)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from sfsync.config.state import FilesConfig
from sfsync.state.objectfiles import ObjectFiles
from tests.objectstore.server import REGION, Key, S3Server


def files_config(server: S3Server, bucket: str, key: Key | None = None, prefix: str = "prod") -> FilesConfig:
    k = key or server.admin
    return FilesConfig.model_validate(
        {
            "url": f"s3://{bucket}/{prefix}",
            "endpoint_url": server.endpoint,
            "region": REGION,
            "access_key_id": k.access_key_id,
            "secret_access_key": k.secret_access_key,
        }
    )


def object_files(server: S3Server, bucket: str, cache: Path, key: Key | None = None) -> ObjectFiles:
    return ObjectFiles.open(files_config(server, bucket, key), cache)


class FaultyFS:
    """Delegates to a real ``pyarrow.fs`` filesystem; ``fault(step, path)`` runs before each
    ``open_output_stream`` / ``copy_file`` / ``delete_file`` and may raise or kill the process."""

    def __init__(self, fs: pafs.FileSystem, fault: Callable[[str, str], None]) -> None:
        self._fs = fs
        self._fault = fault

    def open_output_stream(self, path: str, *args: Any, **kwargs: Any) -> Any:
        self._fault("upload", path)
        return self._fs.open_output_stream(path, *args, **kwargs)

    def copy_file(self, src: str, dest: str) -> None:
        self._fault("copy", dest)
        self._fs.copy_file(src, dest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fs, name)


def kill_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["FaultyFS", "files_config", "kill_now", "object_files"]
