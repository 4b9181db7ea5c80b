"""Writing the small project most tests need: a DuckDB warehouse ``wh.duckdb`` whose ``people`` table
is a ``user`` model, and the emulator's org as destination ``org`` (the demo password login, its secrets
in ``.env``). Each test gives its syncs and whatever else it needs."""

from __future__ import annotations

from pathlib import Path

import duckdb

#: What the emulator's demo login needs, written to ``.env`` beside the project file.
DEMO_ENV = "SF_SECRET=sfsync-demo-secret\nSF_PASSWORD=sfsync-demo\n"


def people_project(
    login_url: str, syncs: str, *, sources: str = "", settings: str = "", tail: str = ""
) -> str:
    """The project file's text: ``syncs`` (YAML indented by two spaces, under ``syncs:``); ``sources``
    more source entries, ``settings`` the destination's ``settings:`` flow mapping, ``tail`` top-level
    keys after the syncs."""
    more_sources = f"  {sources}\n" if sources else ""
    dest_settings = f"    settings: {settings}\n" if settings else ""
    return (
        "version: 1\n"
        "sources:\n"
        "  wh: {type: duckdb, path: wh.duckdb}\n"
        f"{more_sources}"
        "models:\n"
        "  people: {source: wh, kind: user, primary_key: id, table: people}\n"
        "destinations:\n"
        "  org:\n"
        "    type: salesforce\n"
        f"    login_url: {login_url}\n"
        '    auth: {flow: password, client_id: sfsync-demo-client, client_secret: "${SF_SECRET}",\n'
        '           username: admin@example.com, password: "${SF_PASSWORD}"}\n'
        f"{dest_settings}"
        "syncs:\n"
        f"{syncs.rstrip()}\n"
        f"{tail}"
    )


def write_people_project(directory: Path, text: str, people_sql: str | None = None) -> Path:
    """Write ``text`` as ``sfsync.yml`` with the demo secrets in ``.env``; with ``people_sql`` (a query),
    (re)create the ``people`` table of ``wh.duckdb`` from it. Returns the project file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    if people_sql is not None:
        with duckdb.connect(str(directory / "wh.duckdb")) as con:
            con.execute(f"create or replace table people as {people_sql}")
    path = directory / "sfsync.yml"
    path.write_text(text)
    (directory / ".env").write_text(DEMO_ENV)
    return path


__all__ = ["DEMO_ENV", "people_project", "write_people_project"]
