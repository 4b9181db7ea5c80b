"""``sfsync init``, ``check``, ``describe``, ``objects``: scaffold, validate, inspect a project and org."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from sfsync.cli._app import app, console
from sfsync.config import DEFAULT_PROJECT_FILE
from sfsync.errors import ConfigError

if TYPE_CHECKING:
    from sfsync import api

PICKLIST_SHOWN = 8
"""Picklist values ``describe`` prints per field before eliding the rest (``--json`` gives them all)."""

_PROJECT_HELP = "Project file (or its directory)."


def _open(project: Path) -> api.Project:
    from sfsync.api import Project

    return Project.load(project)


def _print_json(data: Any) -> None:
    console.out(json.dumps(data, indent=2, ensure_ascii=False, default=str), highlight=False)


@app.command()
def init(
    directory: Path | None = typer.Argument(None, help="Where to create the project (default: here)."),
    demo: bool = typer.Option(
        False, "--demo", help="Also write a DuckDB warehouse with sample data, syncing to the local emulator."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing project file."),
    project: Path | None = typer.Option(
        None, "--project", help="The project file to create (instead of DIR/sfsync.yml)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Create a commented sfsync.yml (and with --demo a sample warehouse and emulator destination)."""
    from sfsync.config.scaffold import write_project
    from sfsync.demo_data import write_demo_project

    if project is not None and directory is not None:
        raise ConfigError(
            "give either DIR or --project, not both", hint="sfsync init DIR  or  sfsync init --project FILE"
        )
    if project is not None:
        directory, file_name = project.parent, project.name
    else:
        directory, file_name = directory or Path("."), DEFAULT_PROJECT_FILE
    scaffold = write_demo_project if demo else write_project
    written = scaffold(directory, force=force, file_name=file_name)
    if as_json:
        _print_json({"project": str(written[0].resolve()), "files": [str(p) for p in written], "demo": demo})
        return
    for p in written:
        console.print(f"  wrote {p}", highlight=False)
    where = "" if written[0].resolve() == (Path.cwd() / DEFAULT_PROJECT_FILE) else f" --project {written[0]}"
    if demo:
        console.print(
            "Next: start the local org with `sfsync emulator`, then "
            f"`sfsync check{where}` and `sfsync run people_to_contacts{where}`.",
            highlight=False,
        )
    else:
        console.print(
            f"Next: fill in .env, edit {written[0].name} (docs/project-file.md), then `sfsync check{where}`.",
            highlight=False,
        )


def _paused_syncs(proj: api.Project) -> dict[str, str]:
    """Sync name → pause description."""
    return {name: view.describe() for name in proj.syncs if (view := proj.status(name)).paused}


@app.command()
def check(
    syncs: list[str] | None = typer.Argument(None, help="Syncs to check (default: all)."),
    project: Path = typer.Option(Path(DEFAULT_PROJECT_FILE), "--project", help=_PROJECT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Test each source and destination, and validate every sync's mapping against the org."""
    with _open(project) as proj:
        report = proj.check(syncs)
        paused = _paused_syncs(proj)
    if as_json:
        _print_json(report.to_dict())
    else:
        _print_connections(report)
        _print_syncs(report, paused)
        _print_findings(report)
        if report.ok:
            console.print("[green]All checks passed.[/]")
    if not report.ok:
        raise typer.Exit(2 if any(s.problems for s in report.syncs) else 1)


def _print_connections(report: api.CheckReport) -> None:
    """The table of sources and destinations: reachable or not."""
    table = Table(title="Connections", title_justify="left")
    for col in ("kind", "name", "type", "status"):
        table.add_column(col)
    for c in report.connections:
        table.add_row(c.kind, escape(c.name), c.type, "[green]ok[/]" if c.ok else "[red]unreachable[/]")
    console.print(table)


def _check_status(s: api.SyncCheck) -> str:
    """A sync's cell in the check table: ok, not checked, or how many problems."""
    if s.error:
        return "[red]not checked[/]"
    if s.problems:
        return f"[red]{len(s.problems)} problem{'s' if len(s.problems) > 1 else ''}[/]"
    return "[green]ok[/]"


def _print_syncs(report: api.CheckReport, paused: Mapping[str, str]) -> None:
    """The table of syncs: what each writes, its check status, and whether its runs are paused."""
    table = Table(title="Syncs", title_justify="left")
    for col in ("sync", "from -> object", "mode", "status", "runs"):
        table.add_column(col)
    for s in report.syncs:
        runs = f"[yellow]{escape(paused[s.name])}[/]" if s.name in paused else "active"
        table.add_row(escape(s.name), escape(s.source_object), s.mode, _check_status(s), runs)
    console.print(table)


def _print_findings(report: api.CheckReport) -> None:
    """Below the tables: why a connection failed, each sync's problems and the org rules' warnings."""
    for c in report.connections:
        if c.error:
            console.print(f"[red]{c.kind} {escape(c.name)}:[/] {escape(c.error)}", highlight=False)
    for s in report.syncs:
        if s.error:
            console.print(f"[red]sync {escape(s.name)}:[/] {escape(s.error)}", highlight=False)
        for p in s.problems:
            console.print(f"[red]-[/] {escape(str(p))}", highlight=False)
        for w in s.warnings:
            console.print(f"[yellow]warning[/] sync {escape(s.name)}: {escape(w)}", highlight=False)


def _field_row(f: Mapping[str, Any]) -> dict[str, Any]:
    required = bool(f.get("createable") and not f.get("nillable") and not f.get("defaultedOnCreate"))
    length = f.get("length") or 0
    if f.get("type") in ("double", "currency", "percent"):
        length = f"{f.get('precision', 0)},{f.get('scale', 0)}"
    elif f.get("type") in ("int", "long"):
        length = f.get("digits") or ""
    return {
        "name": f.get("name"),
        "label": f.get("label"),
        "type": f.get("type"),
        "length": length or "",
        "required": required,
        "createable": bool(f.get("createable")),
        "updateable": bool(f.get("updateable")),
        "external_id": bool(f.get("externalId")),
        "id_lookup": bool(f.get("idLookup")),
        "reference_to": list(f.get("referenceTo") or []),
        "relationship_name": f.get("relationshipName"),
        "picklist_values": [p.get("value") for p in f.get("picklistValues") or [] if p.get("active", True)],
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


@app.command()
def describe(
    object_name: str = typer.Argument(..., metavar="OBJECT", help="API name, e.g. Contact or Invoice__c."),
    destination: str | None = typer.Option(None, "--destination", help="Which destination (org) to ask."),
    project: Path = typer.Option(Path(DEFAULT_PROJECT_FILE), "--project", help=_PROJECT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the fields as JSON."),
) -> None:
    """An object's fields: type, length, required, createable, updateable, external id, picklist values."""
    with _open(project) as proj:
        dest = proj.destination_name(destination)
        raw = proj.describe(object_name, dest).raw
    rows = [_field_row(f) for f in raw.get("fields", [])]
    if as_json:
        _print_json({"object": raw.get("name", object_name), "destination": dest, "fields": rows})
        return
    table = Table(title=escape(f"{raw.get('name', object_name)} ({dest})"), title_justify="left")
    for col in ("field", "type"):
        table.add_column(col, no_wrap=True)
    for col in ("length", "required", "create", "update", "external id"):
        table.add_column(col, no_wrap=True)
    table.add_column("picklist values", overflow="fold")
    for r in rows:
        values = r["picklist_values"]
        shown = ", ".join(values[:PICKLIST_SHOWN]) + (
            f", … (+{len(values) - PICKLIST_SHOWN})" if len(values) > PICKLIST_SHOWN else ""
        )
        kind = r["type"] + (f" → {', '.join(r['reference_to'])}" if r["reference_to"] else "")
        if r["reference_to"] and r["relationship_name"]:
            kind += f" (lookup: {r['relationship_name']}.<field>)"
        ext = "external id" if r["external_id"] else ("id lookup" if r["id_lookup"] else "")
        table.add_row(
            escape(str(r["name"])),
            escape(kind),
            str(r["length"]),
            _yes(r["required"]),
            _yes(r["createable"]),
            _yes(r["updateable"]),
            ext,
            escape(shown),
        )
    console.print(table)


@app.command()
def objects(
    pattern: str | None = typer.Argument(
        None, help="Only objects whose API name or label contains this text (any case)."
    ),
    destination: str | None = typer.Option(None, "--destination", help="Which destination (org) to ask."),
    writable: bool = typer.Option(
        False, "--writable", help="Only objects a sync can write (createable or updateable)."
    ),
    project: Path = typer.Option(Path(DEFAULT_PROJECT_FILE), "--project", help=_PROJECT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the objects as JSON."),
) -> None:
    """The org's objects (global describe): API name, label, custom or standard, createable, updateable."""
    with _open(project) as proj:
        dest = proj.destination_name(destination)
        found = proj.objects(dest).objects
    needle = (pattern or "").lower()
    shown = [
        o
        for o in sorted(found, key=lambda o: o.name.lower())
        if (needle in o.name.lower() or needle in o.label.lower())
        and (not writable or o.createable or o.updateable)
    ]
    if as_json:
        rows = [
            {
                "name": o.name,
                "label": o.label,
                "custom": o.custom,
                "createable": o.createable,
                "updateable": o.updateable,
                "queryable": o.queryable,
            }
            for o in shown
        ]
        _print_json({"destination": dest, "objects": rows})
        return
    table = Table(title=escape(f"Objects of {dest} ({len(shown)})"), title_justify="left")
    for col in ("object", "label", "custom", "create", "update"):
        table.add_column(col, no_wrap=col != "label")
    for o in shown:
        table.add_row(escape(o.name), escape(o.label), _yes(o.custom), _yes(o.createable), _yes(o.updateable))
    console.print(table)
    if shown:
        console.print("Fields of one: sfsync describe OBJECT", style="dim")
