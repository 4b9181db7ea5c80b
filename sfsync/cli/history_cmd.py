"""``sfsync runs`` and ``sfsync show-run``: the run history, each run with its status and reason."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from sfsync.cli._app import app, console, print_json
from sfsync.cli.run_cmd import PROJECT_OPTION, open_project, status_text

if TYPE_CHECKING:
    import pyarrow as pa

    from sfsync.api import Outcome, Project

STATE_COLORS = {
    "healthy": "green",
    "warning": "yellow",
    "failing": "red",
    "paused": "yellow",
    "never run": "dim",
    "running": "cyan",
}
"""How each sync state is colored (the web UI shows the same states)."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _sync_states(proj: Project, names: list[str]) -> dict[str, dict[str, Any]]:
    """State and reason, pause, schedule and next run of each sync (for `runs` and its `--json`)."""
    from sfsync.schedule import describe_schedule, next_run_at

    out: dict[str, dict[str, Any]] = {}
    for name in names:
        schedule = proj.config.syncs[name].schedule
        health = proj.health(name)
        view = health.status.to_dict()
        nxt = next_run_at(proj.store, name, schedule) if proj.has_state else None
        view.update(
            state=health.state,
            reason=health.reason,
            schedule=describe_schedule(schedule),
            next_run=nxt.strftime("%Y-%m-%d %H:%M") if nxt else None,
        )
        out[name] = view
    return out


def _runs_table(proj: Project, records: list[Any]) -> Table:
    table = Table(title="Runs", title_justify="left")
    numeric = ("id", "read", "created", "updated", "rejected", "calls")
    for col in ("id", "sync", "trigger", "status", "started (UTC)", "duration", "read", "created"):
        table.add_column(col, justify="right" if col in numeric else "left")
    for col in ("updated", "rejected", "API", "calls", "why"):
        table.add_column(col, justify="right" if col in numeric else "left")
    for r in records:
        c = r.counts
        reason = proj.verdict(r).reason if r.finished else None
        table.add_row(
            str(r.id),
            escape(r.sync),
            r.trigger.value,
            status_text(r.status.value),
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{r.duration_s:.1f}s" if r.duration_s is not None else "-",
            f"{c.rows_read:,}",
            f"{c.created:,}",
            f"{c.updated:,}",
            f"{c.rejected:,}",
            r.api or "-",
            f"{c.api_calls:,}",
            escape(reason or ""),
        )
    return table


@app.command()
def runs(
    sync: str | None = typer.Argument(None, help="Only this sync's runs."),
    project: Path = PROJECT_OPTION,
    limit: int = typer.Option(20, "--limit", help="How many runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """Run history, newest first: each run's status and why, counts, API calls; each sync's state."""
    from sfsync.api import run_record_view

    with open_project(project) as proj:
        if sync is not None:
            proj.require_sync(sync)
        records = proj.runs(sync, limit) if proj.has_state else []
        states = _sync_states(proj, [sync] if sync else proj.syncs)
        if as_json:
            views = [run_record_view(r, proj.verdict(r) if r.finished else None) for r in records]
            print_json({"runs": views, "syncs": states})
            return
        status_table = Table(title="Syncs", title_justify="left")
        for col in ("sync", "state", "why", "schedule", "next run (UTC)"):
            status_table.add_column(col)
        for name, st in states.items():
            color = STATE_COLORS.get(st["state"], "white")
            status_table.add_row(
                escape(name),
                f"[{color}]{st['state']}[/]",
                escape(st["reason"] or ""),
                st["schedule"],
                st["next_run"] or "-",
            )
        console.print(status_table)
        console.print(_runs_table(proj, records))
    if not records:
        console.print("No runs yet: start one with `sfsync run SYNC`.", style="dim")


def _write_csv(path: Path, table: pa.Table) -> None:
    from sfsync.api import spreadsheet_cell

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(table.column_names)
        for row in zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True):
            writer.writerow([spreadsheet_cell(v) for v in row])


_RUN_FIELDS = (
    "started_at",
    "finished_at",
    "duration_s",
    "api",
    "rows_read",
    "new",
    "changed",
    "unchanged",
    "created",
    "updated",
    "rejected",
    "api_calls",
)


def _print_rejected(table: pa.Table, code: str | None, limit: int) -> None:
    rows = Table(title=f"Rejected rows{f' ({code})' if code else ''}", title_justify="left")
    for col in ("primary key", "operation", "code", "message", "fields"):
        rows.add_column(col)
    for r in table.slice(0, limit).to_pylist():
        rows.add_row(
            *(escape(_cell(r[k])) for k in ("primary_key", "operation", "error_code", "message", "fields"))
        )
    console.print(rows)
    if table.num_rows > limit:
        console.print(f"... {table.num_rows - limit:,} more (use --csv FILE or --json)", style="dim")


@app.command("show-run")
def show_run(
    run_id: int = typer.Argument(..., help="The run's id (see `sfsync runs`)."),
    project: Path = PROJECT_OPTION,
    rejected: bool = typer.Option(False, "--rejected", help="List the rows Salesforce rejected."),
    code: str | None = typer.Option(None, "--code", help="Only rejected rows with this error code."),
    limit: int = typer.Option(50, "--limit", help="Rejected rows to print (--json and --csv give all)."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Write the rejected rows to this CSV file."),
    as_json: bool = typer.Option(False, "--json", help="Print the run (and rejected rows) as JSON."),
) -> None:
    """One run: its status and why, counts and errors; with --rejected the rejected rows and reasons."""
    from sfsync.api import run_record_view

    with open_project(project) as proj:
        record = proj.get_run(run_id)
        verdict = proj.verdict(record) if record.finished else None
        by_code = proj.rejected_counts(run_id)
        table = proj.rejected_table(run_id, code) if (rejected or csv_path or code) else None
    if csv_path is not None and table is not None:
        _write_csv(csv_path, table)
    d = run_record_view(record, verdict)
    if as_json:
        out = d | {"rejected_by_code": by_code}
        if table is not None:
            out["rejected_rows"] = table.to_pylist()
        print_json(out)
        return
    console.print(
        f"[bold]run {record.id}[/] of {escape(record.sync)}: {status_text(record.status.value)}"
        f" ({record.trigger.value})",
        highlight=False,
    )
    if verdict is not None and verdict.reason:
        mark = "[yellow]warning:[/] " if verdict.warning else ""
        console.print(f"  {mark}{escape(verdict.reason)}", highlight=False)
    info = Table(show_header=False, box=None, padding=(0, 2))
    for k in _RUN_FIELDS:
        info.add_row(k.replace("_", " "), "-" if d[k] is None else str(d[k]))
    console.print(info)
    if record.error:
        console.print(f"[red]error:[/] {escape(record.error)}", highlight=False)
    for c, n in by_code.items():
        console.print(f"  {c}: {n:,}", highlight=False)
    if table is not None and not csv_path:
        _print_rejected(table, code, limit)
    if csv_path is not None and table is not None:
        console.print(f"wrote {table.num_rows:,} rejected row(s) to {csv_path}", highlight=False)


# ---- the row debugger -------------------------------------------------------------------------------
@app.command()
def rows(
    sync: str = typer.Argument(..., help="The sync whose rows to search."),
    query: str | None = typer.Argument(
        None, help="Text in the primary key, error code, message or record id (any case)."
    ),
    project: Path = PROJECT_OPTION,
    rejected: bool = typer.Option(False, "--rejected", help="Only rows Salesforce rejected."),
    accepted: bool = typer.Option(False, "--accepted", help="Only rows Salesforce accepted."),
    run_id: int | None = typer.Option(None, "--run", help="Only this run's rows."),
    sort: str = typer.Option("run", "--sort", help="run (newest first), key or code."),
    ascending: bool = typer.Option(False, "--asc", help="Sort ascending (default: descending)."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Rows per page."),
    offset: int = typer.Option(0, "--offset", min=0, help="Rows to skip (the next page)."),
    as_json: bool = typer.Option(False, "--json", help="Print the page as JSON."),
) -> None:
    """Search a sync's row results across its runs; open one with `sfsync show-row SYNC KEY`."""
    from sfsync.api import SORT_KEYS, row_page_view
    from sfsync.errors import ConfigError

    if sort not in SORT_KEYS:
        raise ConfigError(f"--sort {sort!r} is not one of {', '.join(SORT_KEYS)}")
    if rejected and accepted:
        raise ConfigError("--rejected and --accepted exclude each other")
    outcome: Outcome = "rejected" if rejected else ("accepted" if accepted else "all")
    with open_project(project) as proj:
        page = proj.rows(
            sync,
            query,
            outcome=outcome,
            run_id=run_id,
            sort=sort,
            descending=not ascending,
            limit=limit,
            offset=offset,
        )
    if as_json:
        print_json(row_page_view(page))
        return
    table = Table(title=f"Rows of {escape(sync)}: {page.total:,} match", title_justify="left")
    for col in ("run", "primary key", "outcome", "record id / error", "message"):
        table.add_column(col, justify="right" if col == "run" else "left")
    for h in page.rows:
        outcome_text = f"[green]{h.operation}[/]" if h.success else f"[red]{h.operation} rejected[/]"
        table.add_row(
            str(h.run_id),
            escape(h.primary_key),
            outcome_text,
            escape((h.record_id if h.success else h.error_code) or ""),
            escape(h.message or ""),
        )
    console.print(table)
    shown_to = page.offset + len(page.rows)
    if shown_to < page.total:
        console.print(
            f"{page.offset + 1:,} to {shown_to:,} of {page.total:,}; next page: --offset {shown_to}",
            style="dim",
        )
    if page.rows:
        console.print(f"One row in every run: sfsync show-row {sync} KEY", style="dim", highlight=False)


@app.command("show-row")
def show_row(
    sync: str = typer.Argument(..., help="The sync."),
    key: str = typer.Argument(..., help="The row's primary key in the model."),
    project: Path = PROJECT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the row's story as JSON."),
) -> None:
    """One row's fate in every run: operation, record id (and link) or error, and the values sent."""
    from sfsync.api import display_value, row_run_view

    with open_project(project) as proj:
        story = [row_run_view(item) for item in proj.row(sync, key)]
    if as_json:
        print_json({"sync": sync, "primary_key": key, "runs": story})
        return
    console.print(f"[bold]{escape(sync)}[/], row {escape(key)}: {len(story)} run(s)", highlight=False)
    for item in story:
        head = f"run {item['run_id']} ({item['started_at'][:19].replace('T', ' ')} UTC, {item['trigger']})"
        if item["success"]:
            what = f"[green]{item['operation']}[/] {escape(item['record_id'] or '')}"
        else:
            fields = f" (fields: {', '.join(item['fields'])})" if item["fields"] else ""
            code, message = escape(item["error_code"] or ""), escape(item["message"] or "")
            what = f"[red]rejected[/] {code}: {message}{fields}"
        console.print(f"  {head}: {what}", highlight=False)
        if item["record_url"]:
            console.print(f"    {item['record_url']}", style="dim", highlight=False, markup=False)
        if item["key_field"]:
            console.print(
                f"    {item['key_field']} = {display_value(item['key_value'])}", highlight=False, markup=False
            )
        for v in item["values"]:
            shown = "null (clears the field)" if v["value"] is None else display_value(v["value"])
            mark = "" if v["written"] else "   (not written: unchanged or empty)"
            console.print(f"    {v['field']} = {shown}{mark}", highlight=False, markup=False)
        if not item["values"] and not item["key_field"]:
            console.print("    (no values kept for this run)", style="dim")


@app.command("export-logs")
def export_logs(
    project: Path = PROJECT_OPTION,
    again: bool = typer.Option(
        False, "--all", help="Write every run of the history again (replaces what the tables hold)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Write runs not yet in the project's sync log tables (logs: in sfsync.yml); runs do it by themselves."""
    from sfsync.api import logs_view

    with open_project(project) as proj:
        done = proj.export_logs(again=again)
    if as_json:
        print_json(logs_view(done))
    elif done.error:
        console.print(f"[red]sync logs not written:[/] {escape(done.error)}", highlight=False)
    else:
        where = f" to {done.where}" if done.where else ""
        console.print(f"wrote {len(done.runs)} run(s), {done.rows:,} row result(s){where}", highlight=False)
    if done.error:
        raise typer.Exit(1)
