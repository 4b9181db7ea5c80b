"""Writing the small project most tests need: a DuckDB warehouse ``wh.duckdb`` whose ``people`` table
is a ``user`` model, and the emulator's org as destination ``org`` (the demo password login, its secrets
in ``.env``). Each test gives its syncs and whatever else it needs; ``run_cli`` runs the real command line
on the project file (``run_python``: any module or script, in the same environment). Projects of several
workers sharing one state store: ``tests/plugins/workers.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import duckdb

#: What the emulator's demo login needs, written to ``.env`` beside the project file.
DEMO_ENV = "SF_SECRET=sfsync-demo-secret\nSF_PASSWORD=sfsync-demo\n"

#: The demo password login of the emulator's org, as the destination's ``auth:`` flow mapping.
DEMO_AUTH = (
    '{flow: password, client_id: sfsync-demo-client, client_secret: "${SF_SECRET}",\n'
    '           username: admin@example.com, password: "${SF_PASSWORD}"}'
)

#: The upsert of every person as a Contact on its external id: ``syncs`` for :func:`people_project`.
CONTACTS_UPSERT = """\
  contacts:
    from: people
    to: org
    object: Contact
    mode: upsert
    object_id: {column: id, field: External_Id__c}
    mappings: {first: FirstName, last: LastName, email: Email}
"""

#: How long the command line may take in :func:`run_cli` before the test fails.
CLI_TIMEOUT_SECONDS = 180


def people_project(
    login_url: str,
    syncs: str,
    *,
    sources: str = "",
    settings: str = "",
    tail: str = "",
    warehouse: str | Path = "wh.duckdb",
    models: str = "",
    auth: str = DEMO_AUTH,
) -> str:
    """The project file's text: ``syncs`` (YAML indented by two spaces, under ``syncs:``); ``sources``
    more source entries, ``settings`` the destination's ``settings:`` flow mapping, ``tail`` top-level
    keys after the syncs. ``warehouse`` is the DuckDB file of source ``wh`` (relative to the project's
    directory, or absolute: one warehouse that several project directories read); ``models`` (YAML
    indented by two spaces) replaces the ``people`` model; ``auth`` replaces the demo password login."""
    model_lines = models or "  people: {source: wh, kind: user, primary_key: id, table: people}\n"
    more_sources = f"  {sources}\n" if sources else ""
    dest_settings = f"    settings: {settings}\n" if settings else ""
    return (
        "version: 1\n"
        "sources:\n"
        f"  wh: {{type: duckdb, path: {warehouse}}}\n"
        f"{more_sources}"
        "models:\n"
        f"{model_lines}"
        "destinations:\n"
        "  org:\n"
        "    type: salesforce\n"
        f"    login_url: {login_url}\n"
        f"    auth: {auth}\n"
        f"{dest_settings}"
        "syncs:\n"
        f"{syncs.rstrip()}\n"
        f"{tail}"
    )


def people_query(rows: int) -> str:
    """A query of ``rows`` people: ids ``p0``, ``p1``, ..., first names ``F0``..., last names ``L0``...,
    emails ``u0@example.com``..."""
    return (
        "select 'p' || i as id, 'F' || i as first, 'L' || i as last,"
        f" 'u' || i || '@example.com' as email from range({rows}) t(i)"
    )


def write_people_table(warehouse: Path, query: str) -> None:
    """(Re)create the ``people`` table of the DuckDB file ``warehouse`` from ``query``."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"create or replace table people as {query}")


def write_people_project(directory: Path, text: str, people_sql: str | None = None) -> Path:
    """Write ``text`` as ``sfsync.yml`` with the demo secrets in ``.env``; with ``people_sql`` (a query),
    (re)create the ``people`` table of ``wh.duckdb`` from it. Returns the project file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    if people_sql is not None:
        write_people_table(directory / "wh.duckdb", people_sql)
    path = directory / "sfsync.yml"
    path.write_text(text)
    (directory / ".env").write_text(DEMO_ENV)
    return path


def cli_env() -> dict[str, str]:
    """This process's environment without its ``SF_``/``AWS_`` variables, for a command-line child: its
    secrets come from the project's ``.env`` only."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "AWS_"))}


def run_python(
    argv: Sequence[str], cwd: Path, timeout: float = CLI_TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    """``python ARGV`` in ``cwd``, in :func:`cli_env`, its output captured (text)."""
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, env=cli_env(), timeout=timeout, cwd=cwd
    )


def run_cli(
    project: Path, *args: str, timeout: float = CLI_TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    """``python -m sfsync ARGS --project PROJECT`` in the project's directory (:func:`run_python`)."""
    return run_python(["-m", "sfsync", *args, "--project", str(project)], project.parent, timeout)


__all__ = [
    "CLI_TIMEOUT_SECONDS",
    "CONTACTS_UPSERT",
    "DEMO_AUTH",
    "DEMO_ENV",
    "cli_env",
    "people_project",
    "people_query",
    "run_cli",
    "run_python",
    "write_people_project",
    "write_people_table",
]
