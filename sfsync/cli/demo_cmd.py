"""``sfsync demo``: the whole product in one command, against a local org emulator it starts itself.

Steps: start the emulator in the background, scaffold the demo project (DuckDB warehouse with awkward
sample data), run every sync (Account upsert from a custom model, Contact upsert from a user segment, a
Contact update keyed on the external id, a Lead insert), change some warehouse rows, run again to show
that only the changes are sent, and print what happened at each step.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import typer
from rich.table import Table

from sfsync.cli._app import app, console
from sfsync.errors import SfsyncError
from sfsync.state import Trigger

if TYPE_CHECKING:
    from sfsync.api import Project

#: How long the demo waits for the emulator it started to answer.
EMULATOR_START_SECONDS = 30.0
DEFAULT_EMULATOR_PORT = 8642

# Warehouse changes between the two rounds: a few edits, new rows, fixed e-mails, a value cleared.
CHANGES = [
    (
        "3 people change title",
        "update people set title = 'Chief Data Officer' where person_id in "
        "(select person_id from people order by person_id limit 3)",
    ),
    (
        "invalid e-mail addresses are fixed",
        "update people set email = replace(replace(email, ' at ', '@'), "
        "' dot ', '.') where email like '% at %'",
    ),
    (
        "2 companies grow",
        "update companies set employees = coalesce(employees, 0) + 10 where company_id in "
        "(select company_id from companies order by company_id limit 2)",
    ),
    (
        "1 company loses its website (the field is cleared)",
        "update companies set website = null where "
        "company_id = (select min(company_id) from companies where website is not null)",
    ),
    (
        "2 new people arrive",
        "insert into people (person_id, first_name, last_name, email, title, city, "
        "country, company_id, lifetime_value, do_not_call) values "
        "('P-900001', 'Zoë', 'Ångström', 'zoe.angstrom@example.com', 'CTO', 'Paris', 'France', 'C-00001',"
        " 1200.5, false),"
        " ('P-900002', 'Seán', 'O''Brien, Jr.', 'sean.obrien@example.com', 'Buyer', 'Lyon', 'France',"
        " 'C-00002',"
        " 99.99, true)",
    ),
]


def _free_port(preferred: int) -> int:
    """``preferred`` when it is free, else (or when it is 0) any free port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_emulator(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfsync", "emulator", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + EMULATOR_START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SfsyncError(f"the emulator stopped at start (exit {proc.returncode}); see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/services/data", timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SfsyncError(f"the emulator did not answer on port {port} within {EMULATOR_START_SECONDS:.0f}s")


def _round(project: Project, title: str) -> None:
    console.rule(title)
    table = Table(title_justify="left")
    for col in (
        "sync",
        "object",
        "mode",
        "API",
        "read",
        "new",
        "changed",
        "unchanged",
        "created",
        "updated",
        "rejected",
        "API calls",
    ):
        table.add_column(col, justify="left" if col in ("sync", "object", "mode", "API") else "right")
    notes: list[str] = []
    for name in project.syncs:
        sync = project.config.syncs[name]
        try:
            r = project.run(name, trigger=Trigger.MANUAL)
        except SfsyncError as e:
            notes.append(f"[red]{name} failed:[/] {e}")
            continue
        c = r.counts
        table.add_row(
            name,
            sync.object,
            sync.mode,
            r.api or "-",
            f"{c.rows_read:,}",
            f"{c.new:,}",
            f"{c.changed:,}",
            f"{c.unchanged:,}",
            f"{c.created:,}",
            f"{c.updated:,}",
            f"{c.rejected:,}",
            f"{c.api_calls:,}",
        )
        for code, n in r.rejected_by_code.items():
            example = project.rejected_rows(r.run_id, code, limit=1)
            why = f' e.g. row {example[0].primary_key}: "{example[0].message}"' if example else ""
            notes.append(f"{name}: {n:,} rejected with {code}{why}")
    console.print(table)
    for note in notes:
        console.print(f"  {note}", highlight=False)


@app.command()
def demo(
    directory: Path | None = typer.Argument(
        None, help="Where to create the demo project (default: a temp dir)."
    ),
    port: int = typer.Option(
        DEFAULT_EMULATOR_PORT, "--port", help="Emulator port (another is used if busy)."
    ),
    keep_emulator: bool = typer.Option(
        False, "--keep-emulator", help="Leave the emulator running afterwards."
    ),
) -> None:
    """Start the local org, create a demo project, run every sync, change the warehouse, run again."""
    import duckdb

    from sfsync.api import Project
    from sfsync.config.scaffold import EMULATOR_URL
    from sfsync.demo_data import write_demo_project

    where = directory or Path(tempfile.mkdtemp(prefix="sfsync-demo-"))
    port = _free_port(port)
    console.print(f"[bold]sfsync demo[/] in {where}", highlight=False)
    where.mkdir(parents=True, exist_ok=True)
    proc = _start_emulator(port, where / "emulator.log")
    try:
        console.print(
            f"  local Salesforce org emulator: http://127.0.0.1:{port} (pid {proc.pid})", highlight=False
        )
        write_demo_project(where, force=True)
        project_file = where / "sfsync.yml"
        text = project_file.read_text(encoding="utf-8").replace(EMULATOR_URL, f"http://127.0.0.1:{port}")
        project_file.write_text(text, encoding="utf-8")
        console.print(
            f"  project {project_file} with a DuckDB warehouse of sample people and companies",
            highlight=False,
        )
        with Project.load(project_file) as project:
            _round(project, "Round 1: first run, everything is new")
            con = duckdb.connect(str(where / "warehouse.duckdb"))
            try:
                console.rule("The warehouse changes")
                for what, sql in CHANGES:
                    con.execute(sql)
                    console.print(f"  - {what}", highlight=False)
            finally:
                con.close()
            _round(project, "Round 2: only the changes (and last round's rejected rows) are sent")
            _round(project, "Round 3: nothing changed; only rows rejected last time are tried again")
        console.print(
            f"\nExplore: cd {where} && sfsync runs, sfsync show-run ID --rejected, sfsync plan SYNC"
            + (f" (emulator still on port {port})" if keep_emulator else ""),
            highlight=False,
        )
    finally:
        if not keep_emulator:
            proc.terminate()
            proc.wait(timeout=10)
