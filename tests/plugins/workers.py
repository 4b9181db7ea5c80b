"""Projects of several workers: working directories of one project that share only a PostgreSQL state
store (the project's ``state:`` block) and the state's files (a directory standing for a bucket, or an S3
bucket), as the machines of one deployment do. Each worker has its own ``sfsync.yml``, ``.env`` and
``.sfsync/``; the test decides what else they share (one warehouse, or one each).

- :class:`SharedState` (with :class:`S3Files` for ``state.files`` on S3): the ``state:`` block, and the
  variables it names (``STATE_URL``, ``S3_KEY``, ``S3_SECRET``) for each worker's ``.env``.
- :func:`worker_project`: the project file's text, the ``people`` project of ``tests/plugins/projects.py``
  with that block.
- :func:`write_worker`: one worker's directory; :func:`shared_workers`: workers reading one warehouse of
  numbered people, the most common set-up.
- :func:`start_python`: a worker process (a test's child script) that imports this repository;
  :func:`wait_for`: poll until a condition holds, failing by name after a timeout.

The fresh PostgreSQL schema a test's state goes into is the ``pg_schema`` fixture
(``tests/plugins/postgres.py``); the real command line on a worker's project is
:func:`tests.plugins.projects.run_cli`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.plugins.projects import DEMO_AUTH, DEMO_ENV, people_project, people_query, write_people_table

#: The repository's root, put on a worker process's ``PYTHONPATH`` so its child script imports ``tests``.
ROOT = Path(__file__).resolve().parents[2]

#: How long :func:`wait_for` waits by default, and how often it looks.
WAIT_SECONDS = 60.0
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class S3Files:
    """``state.files`` on an S3 API: the project file names the key only by the variables ``S3_KEY`` and
    ``S3_SECRET``, whose values go into each worker's ``.env`` (:meth:`env`)."""

    url: str  # s3://bucket/prefix
    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)

    def yaml(self) -> str:
        """The ``files:`` entry of the ``state:`` block (indented by two spaces)."""
        return (
            "  files:\n"
            f"    url: {self.url}\n"
            f"    endpoint_url: {self.endpoint_url}\n"
            f"    region: {self.region}\n"
            '    access_key_id: "${S3_KEY}"\n'
            '    secret_access_key: "${S3_SECRET}"\n'
        )

    def env(self) -> dict[str, str]:
        return {"S3_KEY": self.access_key_id, "S3_SECRET": self.secret_access_key}


@dataclass(frozen=True)
class SharedState:
    """The state every worker shares: the PostgreSQL database ``url`` (named in the project file as
    ``${STATE_URL}``, its value in each worker's ``.env``), the ``schema`` in it, the state's ``files`` (a
    directory, or a bucket: :class:`S3Files`), and the run lease's timings when a test shortens them (so
    that a dead worker's lease runs out within the test)."""

    url: str
    schema: str
    files: Path | S3Files
    lease_seconds: float | None = None
    lease_heartbeat_seconds: float | None = None

    def yaml(self) -> str:
        """The project file's ``state:`` block."""
        files = self.files.yaml() if isinstance(self.files, S3Files) else f"  files: {self.files}\n"
        lease = "".join(
            f"  {key}: {value}\n"
            for key, value in (
                ("lease_seconds", self.lease_seconds),
                ("lease_heartbeat_seconds", self.lease_heartbeat_seconds),
            )
            if value is not None
        )
        return f'state:\n  url: "${{STATE_URL}}"\n  schema: {self.schema}\n{files}{lease}'

    def env(self) -> dict[str, str]:
        """The values of the variables :meth:`yaml` names, for a worker's ``.env``."""
        s3 = self.files.env() if isinstance(self.files, S3Files) else {}
        return {"STATE_URL": self.url, **s3}


def worker_project(
    login_url: str,
    syncs: str,
    state: SharedState | None,
    *,
    warehouse: str | Path = "wh.duckdb",
    models: str = "",
    settings: str = "",
    auth: str = DEMO_AUTH,
) -> str:
    """A worker's project file: :func:`tests.plugins.projects.people_project` (the DuckDB source ``wh`` at
    ``warehouse``, the ``people`` model or ``models``, the emulator's org with ``auth`` and ``settings``,
    ``syncs``) with ``state``'s ``state:`` block; without ``state``, the worker keeps its state to itself
    (SQLite in its ``.sfsync/``)."""
    tail = state.yaml() if state is not None else ""
    return people_project(
        login_url, syncs, settings=settings, tail=tail, warehouse=warehouse, models=models, auth=auth
    )


def write_worker(home: Path, text: str, env: Mapping[str, str]) -> Path:
    """Worker directory ``home`` (created; it must not exist yet): the project file ``text`` as
    ``sfsync.yml`` and a ``.env`` with the emulator's demo secrets and ``env`` (e.g.
    :meth:`SharedState.env`). Returns the project file's path."""
    home.mkdir(parents=True)
    path = home / "sfsync.yml"
    path.write_text(text)
    (home / ".env").write_text(DEMO_ENV + "".join(f"{k}={v}\n" for k, v in env.items()))
    return path


@dataclass(frozen=True)
class Workers:
    """What :func:`shared_workers` wrote: each worker's project file, in the order of their names, the
    warehouse they all read and the state they share."""

    projects: list[Path]
    warehouse: Path
    state: SharedState


def shared_workers(
    root: Path,
    login_url: str,
    syncs: str,
    state: SharedState,
    *,
    rows: int,
    names: Sequence[str] = ("a", "b"),
) -> Workers:
    """Workers ``root/NAME`` of one project that read one warehouse, ``root/shared/wh.duckdb``, whose
    ``people`` table holds ``rows`` numbered people (:func:`tests.plugins.projects.people_query`)."""
    shared = root / "shared"
    shared.mkdir(parents=True)
    warehouse = shared / "wh.duckdb"
    write_people_table(warehouse, people_query(rows))
    text = worker_project(login_url, syncs, state, warehouse=warehouse)
    return Workers([write_worker(root / name, text, state.env()) for name in names], warehouse, state)


def start_python(
    argv: Iterable[str],
    *,
    cwd: Path | None = None,
    stdout: int | IO[Any] | None = subprocess.PIPE,
    stderr: int | IO[Any] | None = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """``python ARGV`` as a separate process (a worker: a test's child script and its arguments) with
    this repository on its ``PYTHONPATH``, text output to ``stdout``/``stderr`` (pipes by default)."""
    return subprocess.Popen(
        [sys.executable, *argv],
        cwd=cwd,
        stdout=stdout,
        stderr=stderr,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def wait_for(predicate: Callable[[], object], what: str, timeout_s: float = WAIT_SECONDS) -> None:
    """Poll ``predicate`` until it is true; after ``timeout_s`` fail with ``timed out waiting for WHAT``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)


__all__ = [
    "ROOT",
    "S3Files",
    "SharedState",
    "Workers",
    "shared_workers",
    "start_python",
    "wait_for",
    "worker_project",
    "write_worker",
]
