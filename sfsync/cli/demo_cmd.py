"""``sfsync demo``: the whole product in one command, against a local org emulator it starts itself.

Steps: start the emulator in the background, scaffold the demo project (DuckDB warehouse with awkward
sample data), run every sync, parents first (Account upsert from a custom model; Contact upsert from a user
segment, linked to its Account; a Contact update keyed on the external id; a Lead insert; Contracts linked
to their Accounts; Cases linked to their Contacts and Accounts), print related records read back from the
org, change some warehouse rows, run again to show that only the changes are sent, and print what
happened at each step.
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


ORG_DB = "emulator-org.sqlite"
"""Where the demo's emulator keeps its records (in the demo directory), so a restarted one has them."""


def _start_emulator(port: int, log_path: Path, db: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfsync", "emulator", "--port", str(port), "--db", str(db)],
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


#: Related records the demo reads back from the org after its first round: (title, SOQL, columns).
LINKED = [
    (
        "Contracts linked to their Accounts",
        "SELECT External_Id__c, Account.External_Id__c, Account.Name, StartDate, ContractTerm, Status "
        "FROM Contract ORDER BY External_Id__c LIMIT 3",
        ["External_Id__c", "Account.External_Id__c", "Account.Name", "StartDate", "ContractTerm", "Status"],
    ),
    (
        "Cases linked to their Contacts and Accounts",
        "SELECT External_Id__c, Subject, Contact.External_Id__c, Contact.Name, Account.Name, Origin "
        "FROM Case ORDER BY External_Id__c LIMIT 3",
        ["External_Id__c", "Subject", "Contact.External_Id__c", "Contact.Name", "Account.Name", "Origin"],
    ),
]


def _value(record: dict[str, object], path: str) -> str:
    value: object = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _linked(project: Project) -> None:
    """Print a few related records as the org holds them, and how many are linked."""
    for title, soql, columns in LINKED:
        table = Table(title=title, title_justify="left")
        for col in columns:
            table.add_column(col)
        for rec in project.query(soql):
            table.add_row(*(_value(rec, c) for c in columns))
        console.print(table)
    counts = [
        ("Contacts with an Account", "SELECT COUNT() FROM Contact WHERE AccountId != null"),
        ("Contracts with an Account", "SELECT COUNT() FROM Contract WHERE AccountId != null"),
        (
            "Cases with a Contact and an Account",
            "SELECT COUNT() FROM Case WHERE ContactId != null AND AccountId != null",
        ),
    ]
    for what, soql in counts:
        console.print(f"  {what}: {project.count(soql):,}", highlight=False)


def _round(project: Project, title: str) -> None:
    console.rule(title)
    table = Table(title_justify="left")
    for col in (
        "sync",
        "object",
        "mode",
        "status",
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
        left = col in ("sync", "object", "mode", "status", "API")
        table.add_column(col, justify="left" if left else "right")
    notes: list[str] = []
    rejected_parents = project.new_pass()
    for name in project.run_order(project.syncs):  # parents before the children that look them up
        sync = project.config.syncs[name]
        try:
            r = project.run(name, trigger=Trigger.MANUAL, rejected_parents=rejected_parents)
        except SfsyncError as e:
            notes.append(f"[red]{name} failed:[/] {e}")
            continue
        c = r.counts
        table.add_row(
            name,
            sync.object,
            sync.mode,
            r.status.value,
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


def _example(project: Project) -> tuple[int, str, str] | None:
    """(run id, sync, primary key) of the first rejected row of the demo's first runs, if any."""
    for run in sorted(project.runs(limit=100), key=lambda r: r.id):
        if run.counts.rejected:
            rows = project.rejected_rows(run.id, limit=1)
            if rows:
                return run.id, run.sync, rows[0].primary_key
    return None


def _hints(
    where: Path, port: int, org_db: Path, running_pid: int | None, example: tuple[int, str, str] | None
) -> None:
    """What to try next, as commands that work as printed."""
    console.rule("Explore")
    lines = [f"cd {where}", "sfsync runs                    # each run's status and why"]
    if example is not None:
        run_id, sync, key = example
        lines.append(f"sfsync show-run {run_id} --rejected   # the rows Salesforce rejected, and why")
        lines.append(f"sfsync show-row {sync} {key}   # one row's fate in every run")
    lines.append("sfsync ui                      # the web UI: syncs, history charts, the row debugger")
    for line in lines:
        console.print(f"  {line}", highlight=False, markup=False)
    if running_pid is not None:
        console.print(
            f"The local org still runs on port {port} (pid {running_pid}; stop it with `kill {running_pid}`):"
            " sfsync plan SYNC and sfsync run SYNC work against it.",
            highlight=False,
            markup=False,
        )
    else:
        console.print(
            "The local org stopped; its records are kept. To plan or run again, start it first"
            " (in another terminal):",
            highlight=False,
        )
        console.print(f"  sfsync emulator --port {port} --db {org_db}", highlight=False, markup=False)


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
    org_db = (where / ORG_DB).resolve()
    org_db.unlink(missing_ok=True)  # a fresh org for a fresh demo project
    proc = _start_emulator(port, where / "emulator.log", org_db)
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
            console.rule("Related records, read back from the org")
            _linked(project)
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
            example = _example(project)
        _hints(where, port, org_db, proc.pid if keep_emulator else None, example)
    finally:
        if not keep_emulator:
            proc.terminate()
            proc.wait(timeout=10)
