"""``sfsync plan``, ``run``, ``runs`` and ``show-run``: dry runs, runs, and their history."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from sfsync.cli._app import app, console, err_console
from sfsync.config import DEFAULT_PROJECT_FILE, ApiChoice
from sfsync.errors import ConfigError, SfsyncError
from sfsync.state import RunStatus, Trigger

if TYPE_CHECKING:
    from sfsync.api import Project, RunResult

_PROJECT = typer.Option(Path(DEFAULT_PROJECT_FILE), "--project", help="Project file (or its directory).")
_API_CHOICES = ("auto", "rest", "bulk")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _json(data: Any) -> None:
    console.out(json.dumps(data, indent=2, ensure_ascii=False, default=str), highlight=False)


def _open(project: Path) -> Project:
    from sfsync.api import Project

    return Project.load(project)


def _check_api(api: str | None) -> ApiChoice | None:
    if api is not None and api not in _API_CHOICES:
        raise ConfigError(f"--api {api!r} is not one of {', '.join(_API_CHOICES)}")
    return cast("ApiChoice | None", api)


@app.command()
def plan(
    sync: str = typer.Argument(..., help="The sync to plan."),
    project: Path = _PROJECT,
    full_resync: bool = typer.Option(
        False, "--full-resync", help="Ignore the last snapshot: send every row."
    ),
    api: str | None = typer.Option(None, "--api", help="auto, rest or bulk (default: the sync's setting)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Dry run: what a run would send (counts, sample rows, API calls). Nothing is written."""
    from sfsync.api import plan_view

    choice = _check_api(api)
    with _open(project) as proj:
        p = proj.plan(sync, full_resync=full_resync, api=choice)
    if as_json:
        _json(plan_view(p))
        return
    console.print(
        f"[bold]{p.sync}[/]: {p.target.mode} into {p.target.object} through "
        f"{'Bulk API 2.0' if p.api == 'bulk' else 'REST sObject Collections'}",
        highlight=False,
    )
    console.print(
        f"  rows read {p.rows_read:,}: new {p.new:,}, changed {p.changed:,}, unchanged {p.unchanged:,}"
        + (f" (of which {p.resent:,} rejected last run, sent again)" if p.resent else ""),
        highlight=False,
    )
    for op, n in p.operations.items():
        console.print(f"  {op}: {n:,} row(s)", highlight=False)
    console.print(f"  about {p.estimated_calls:,} API call(s)", highlight=False)
    if p.samples:
        table = Table(title="Sample rows (fields that would be written)", title_justify="left")
        for col in ("primary key", "kind", "fields"):
            table.add_column(col)
        for s in p.samples:
            fields = ", ".join(
                f"{k}={'null (clears)' if v is None else repr(v)}" for k, v in s["fields"].items()
            )
            table.add_row(str(s["primary_key"]), str(s["kind"]), fields or "(none)")
        console.print(table)
    console.print("Nothing was written.", style="dim")


def _summary_rows(result: RunResult) -> list[tuple[str, str]]:
    c = result.counts
    rows = [
        ("rows read", f"{c.rows_read:,}"),
        ("new / changed / unchanged", f"{c.new:,} / {c.changed:,} / {c.unchanged:,}"),
        ("created", f"{c.created:,}"),
        ("updated", f"{c.updated:,}"),
        ("rejected", f"{c.rejected:,}"),
    ]
    rows += [(f"  {code}", f"{n:,}") for code, n in result.rejected_by_code.items()]
    rows += [
        ("API", result.api or "-"),
        ("API calls", f"{c.api_calls:,}"),
        ("duration", f"{result.duration_s:.1f}s"),
    ]
    return rows


@app.command()
def run(  # noqa: C901 - being rewritten with the run/show-run/check commands; split then
    syncs: list[str] | None = typer.Argument(None, help="Syncs to run, in order."),
    project: Path = _PROJECT,
    all_syncs: bool = typer.Option(False, "--all", help="Run every sync of the project."),
    full_resync: bool = typer.Option(
        False, "--full-resync", help="Ignore the last snapshot: send every row."
    ),
    api: str | None = typer.Option(None, "--api", help="auto, rest or bulk (default: the sync's setting)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run syncs now: send what changed since the last run and record every row's outcome."""
    from sfsync.api import run_result_view

    choice = _check_api(api)
    with _open(project) as proj:
        names = list(proj.syncs) if all_syncs else list(syncs or [])
        if not names:
            raise ConfigError(
                "name the sync(s) to run, or pass --all", hint=f"syncs: {', '.join(proj.syncs)}"
            )
        unknown = [n for n in names if n not in proj.config.syncs]
        if unknown:
            raise ConfigError(
                f"no sync named {', '.join(unknown)} in {proj.config.path}",
                hint=f"syncs: {', '.join(proj.syncs) or '(none)'}",
            )
        results: list[dict[str, Any]] = []
        exit_code = 0
        # Several syncs: check them all before any writes, run those that pass, report the others.
        invalid = _invalid_syncs(proj, names) if len(names) > 1 else {}
        for name in names:
            if name in invalid:
                error = invalid[name]
                exit_code = 2
                results.append({"sync": name, "status": "invalid", "error": error.full_text()})
                if not as_json:
                    err_console.print(f"[bold red]{name} not run:[/] {error.full_text()}", highlight=False)
                continue
            status = proj.status(name)
            if status.paused and not as_json:
                err_console.print(
                    f"[yellow]note:[/] {name} is {status.describe()}; running it because you asked",
                    highlight=False,
                )
            try:
                result = _run_one(proj, name, full_resync, choice, quiet=as_json)
            except SfsyncError as e:
                if len(names) == 1 and e.exit_code == 2:
                    raise  # one sync: its configuration error is the command's error
                exit_code = max(exit_code, e.exit_code)
                results.append({"sync": name, "status": "failed", "error": str(e)})
                if not as_json:
                    err_console.print(f"[bold red]{name} failed:[/] {e}", highlight=False)
                continue
            results.append(run_result_view(result))
            limit = proj.config.syncs[name].warnings.rejected_rows_percent
            rejected = result.counts.rejected_percent
            if result.status is not RunStatus.SUCCEEDED or (limit is not None and rejected > limit):
                exit_code = max(exit_code, 1)
            if not as_json:
                _print_result(result, limit)
        if as_json:
            _json(results)
    if exit_code:
        raise typer.Exit(exit_code)


def _invalid_syncs(proj: Project, names: list[str]) -> dict[str, SfsyncError]:
    """The named syncs whose configuration or mapping is wrong (exit code 2 errors), checked up front."""
    invalid: dict[str, SfsyncError] = {}
    for name in names:
        try:
            proj.validate(name)
        except SfsyncError as e:
            if e.exit_code == 2:
                invalid[name] = e  # other failures (a source or org down) are the run's to report
    return invalid


def _run_one(proj: Project, name: str, full_resync: bool, api: ApiChoice | None, *, quiet: bool) -> RunResult:
    from sfsync.api import Diffed, Planned, ProgressEvent, Sent

    if quiet or not sys.stderr.isatty():
        return proj.run(name, full_resync=full_resync, api=api, trigger=Trigger.MANUAL)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{name}: reading", total=None)

        def progress(event: ProgressEvent) -> None:
            if isinstance(event, Diffed):
                bar.update(task, description=f"{name}: diffed {event.rows:,} rows")
            elif isinstance(event, Planned):
                bar.update(
                    task,
                    description=f"{name}: sending via {event.api}",
                    total=event.to_send + event.refused,
                    completed=0,
                )
            elif isinstance(event, Sent):
                bar.advance(task, event.rows)

        return proj.run(name, full_resync=full_resync, api=api, trigger=Trigger.MANUAL, progress=progress)


def _print_result(result: RunResult, limit: float | None) -> None:
    ok = result.status is RunStatus.SUCCEEDED
    head = "[green]succeeded[/]" if ok else "[red]failed[/]"
    console.print(f"[bold]{result.sync}[/] run {result.run_id} {head}", highlight=False)
    table = Table(show_header=False, box=None, padding=(0, 2))
    for k, v in _summary_rows(result):
        table.add_row(k, v)
    console.print(table)
    if result.error:
        console.print(f"  [red]{result.error}[/]", highlight=False)
    share = result.counts.rejected_percent
    if limit is not None and share > limit:
        console.print(
            f"  [yellow]{share:.1f}% of rows sent were rejected (warning: {limit}%)[/]",
            highlight=False,
        )
    if result.counts.rejected:
        console.print(
            f"  see them with: sfsync show-run {result.run_id} --rejected", style="dim", highlight=False
        )


@app.command()
def runs(
    sync: str | None = typer.Argument(None, help="Only this sync's runs."),
    project: Path = _PROJECT,
    limit: int = typer.Option(20, "--limit", help="How many runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """Run history: newest first, with counts, API calls and what triggered each run."""
    from sfsync.api import run_record_view

    with _open(project) as proj:
        records = proj.runs(sync, limit)
        statuses = _sync_statuses(proj, [sync] if sync else proj.syncs)
    if as_json:
        _json({"runs": [run_record_view(r) for r in records], "syncs": statuses})
        return
    status_table = Table(title="Syncs", title_justify="left")
    for col in ("sync", "status", "schedule", "next run (UTC)"):
        status_table.add_column(col)
    for name, st in statuses.items():
        color = "yellow" if st["paused"] else ("red" if st["warnings_firing"] else "green")
        status_table.add_row(name, f"[{color}]{st['text']}[/]", st["schedule"], st["next_run"] or "-")
    console.print(status_table)
    table = Table(title="Runs", title_justify="left")
    for col in (
        "id",
        "sync",
        "trigger",
        "status",
        "started (UTC)",
        "duration",
        "read",
        "created",
        "updated",
        "rejected",
        "API",
        "calls",
    ):
        table.add_column(
            col,
            justify="right" if col in ("id", "read", "created", "updated", "rejected", "calls") else "left",
        )
    colors = {"succeeded": "green", "failed": "red", "running": "cyan", "interrupted": "yellow"}
    for r in records:
        c = r.counts
        table.add_row(
            str(r.id),
            r.sync,
            r.trigger.value,
            f"[{colors.get(r.status.value, 'white')}]{r.status.value}[/]",
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{r.duration_s:.1f}s" if r.duration_s is not None else "-",
            f"{c.rows_read:,}",
            f"{c.created:,}",
            f"{c.updated:,}",
            f"{c.rejected:,}",
            r.api or "-",
            f"{c.api_calls:,}",
        )
    console.print(table)
    if not records:
        console.print("No runs yet: start one with `sfsync run SYNC`.", style="dim")


def _sync_statuses(proj: Project, names: list[str]) -> dict[str, dict[str, Any]]:
    """Paused or active, warnings firing, schedule and next run of each sync (for `runs` and `--json`)."""
    from sfsync.schedule import describe_schedule, next_run_at

    out: dict[str, dict[str, Any]] = {}
    for name in names:
        schedule = proj.config.syncs[name].schedule
        view = proj.status(name).to_dict()
        nxt = next_run_at(proj.store.paths.root, name, schedule)
        view["schedule"] = describe_schedule(schedule)
        view["next_run"] = nxt.strftime("%Y-%m-%d %H:%M") if nxt else None
        out[name] = view
    return out


@app.command("show-run")
def show_run(  # noqa: C901 - being rewritten with the run/show-run/check commands; split then
    run_id: int = typer.Argument(..., help="The run's id (see `sfsync runs`)."),
    project: Path = _PROJECT,
    rejected: bool = typer.Option(False, "--rejected", help="List the rows Salesforce rejected."),
    code: str | None = typer.Option(None, "--code", help="Only rejected rows with this error code."),
    limit: int = typer.Option(50, "--limit", help="Rejected rows to print (--json and --csv give all)."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Write the rejected rows to this CSV file."),
    as_json: bool = typer.Option(False, "--json", help="Print the run (and rejected rows) as JSON."),
) -> None:
    """One run: its counts and errors; with --rejected the rejected rows and Salesforce's reasons."""
    from sfsync.api import run_record_view, spreadsheet_cell

    with _open(project) as proj:
        record = proj.get_run(run_id)
        by_code = proj.rejected_counts(run_id)
        table = proj.rejected_table(run_id, code) if (rejected or csv_path or code) else None
    if csv_path is not None and table is not None:
        with csv_path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(table.column_names)
            for row in zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True):
                writer.writerow([spreadsheet_cell(v) for v in row])
    if as_json:
        out = run_record_view(record) | {"rejected_by_code": by_code}
        if table is not None:
            out["rejected_rows"] = table.to_pylist()
        _json(out)
        return
    d = run_record_view(record)
    console.print(
        f"[bold]run {record.id}[/] of {record.sync}: {record.status.value} ({record.trigger.value})",
        highlight=False,
    )
    info = Table(show_header=False, box=None, padding=(0, 2))
    for k in (
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
    ):
        info.add_row(k.replace("_", " "), "-" if d[k] is None else str(d[k]))
    console.print(info)
    if record.error:
        console.print(f"[red]error:[/] {record.error}", highlight=False)
    for c, n in by_code.items():
        console.print(f"  {c}: {n:,}", highlight=False)
    if table is not None and not csv_path:
        rows = Table(title=f"Rejected rows{f' ({code})' if code else ''}", title_justify="left")
        for col in ("primary key", "operation", "code", "message", "fields"):
            rows.add_column(col)
        for r in table.slice(0, limit).to_pylist():
            rows.add_row(
                str(r["primary_key"]),
                str(r["operation"]),
                str(r["error_code"]),
                str(r["message"]),
                _cell(r["fields"]),
            )
        console.print(rows)
        if table.num_rows > limit:
            console.print(f"... {table.num_rows - limit:,} more (use --csv FILE or --json)", style="dim")
    if csv_path is not None and table is not None:
        console.print(f"wrote {table.num_rows:,} rejected row(s) to {csv_path}", highlight=False)
