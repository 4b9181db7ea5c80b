"""Opening state files on the test server's bucket (in this process, or as a worker project's
``state.files``: ``s3_files``), and a filesystem wrapper that fails or kills the process at one step of an
upload (the object store's fault knob: sfsync's own code runs unchanged). For the workers of the
``s3_workers`` fixture: their insert sync (``contacts_insert``), a run that waits for a dead worker's lease
(``run_when_free``), a run killed at one upload step (``run_killed_at``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pyarrow.fs as pafs

from sfsync.config.state import FilesConfig
from sfsync.state.objectfiles import ObjectFiles
from tests.objectstore.server import REGION, Key, S3Server
from tests.plugins.projects import run_cli, run_python
from tests.plugins.workers import S3Files, Workers


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


#: People in the warehouse the two workers of the ``s3_workers`` fixture read.
ROWS = 25
#: Where the workers' runs publish their work files in the bucket (``state.files`` under ``prod/``).
WORK_KEYS = "prod/work/"
#: How long :func:`run_when_free` retries while another worker's run lease holds the sync.
BUSY_WAIT_SECONDS = 60


class S3WorkersFactory(Protocol):
    """The ``s3_workers`` fixture (``conftest.py``)."""

    def __call__(self, key: Key | None = None, syncs: str = ...) -> Workers: ...


def contacts_insert(api: str) -> str:
    """The workers' sync as an ``insert`` through ``api`` (no external id to upsert on: each run that
    sends a row again would create a second Contact); the model's id goes to ``External_Id__c``."""
    return (
        "  contacts:\n"
        "    from: people\n"
        "    to: org\n"
        "    object: Contact\n"
        "    mode: insert\n"
        f"    api: {api}\n"
        "    mappings: {id: External_Id__c, first: FirstName, last: LastName, email: Email}\n"
    )


def s3_files(server: S3Server, bucket: str, key: Key, prefix: str = "prod") -> S3Files:
    """A worker project's ``state.files`` on ``bucket`` under ``prefix``, signed with ``key``."""
    return S3Files(
        f"s3://{bucket}/{prefix}", server.endpoint, REGION, key.access_key_id, key.secret_access_key
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


def run_when_free(project: Path, sync: str = "contacts") -> dict[str, Any]:
    """``sfsync run SYNC --json`` on a worker's ``project``, retried while the sync is already running
    (the lease of a killed worker, until it runs out); asserts it succeeded and returns its result."""
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    while True:
        done = run_cli(project, "run", sync, "--json")
        busy = "already running" in done.stdout + done.stderr
        if done.returncode == 0 or not busy or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)
    return dict(result)


def run_killed_at(
    project: Path, step: str, needle: str, sync: str = "contacts"
) -> subprocess.CompletedProcess[str]:
    """``sfsync run SYNC`` on a worker's ``project`` in a process that kills itself right before the upload
    ``step`` whose key contains ``needle`` (``kill_child.py``); its exit status and output."""
    return run_python(
        ["-m", "tests.objectstore.kill_child", str(project), sync, step, needle], project.parent
    )


__all__ = [
    "ROWS",
    "WORK_KEYS",
    "FaultyFS",
    "S3WorkersFactory",
    "contacts_insert",
    "files_config",
    "kill_now",
    "object_files",
    "run_killed_at",
    "run_when_free",
    "s3_files",
]
