"""``sfsync plan`` and ``sfsync run``: dry runs and runs (their history is in ``history_cmd``).

What a run's status means and the exit code it gives are decided below the CLI (``sfsync.alerts.judge_run``,
``RunOutcome.exit_code``): this module prints them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

from sfsync.cli._app import app, console, err_console, print_json
from sfsync.config import DEFAULT_PROJECT_FILE, ApiChoice
from sfsync.errors import ConfigError, SfsyncError
from sfsync.state import Trigger

if TYPE_CHECKING:
    from sfsync.api import Project, RejectedParents, RemovalPlan, RunOutcome

PROJECT_OPTION = typer.Option(
    Path(DEFAULT_PROJECT_FILE), "--project", help="Project file (or its directory)."
)
_API_CHOICES: tuple[ApiChoice, ...] = ("auto", "rest", "bulk")
STATUS_COLORS = {
    "succeeded": "green",
    "partial": "yellow",
    "failed": "red",
    "interrupted": "red",
    "running": "cyan",
    "busy": "yellow",
    "invalid": "red",
}
"""How each run status is colored in a terminal (the web UI uses the same words)."""


def open_project(project: Path) -> Project:
    from sfsync.api import Project

    return Project.load(project)


def _check_api(api: str | None) -> ApiChoice | None:
    if api is None:
        return None
    if api not in _API_CHOICES:
        raise ConfigError(f"--api {api!r} is not one of {', '.join(_API_CHOICES)}")
    return api


def status_text(status: str) -> str:
    return f"[{STATUS_COLORS.get(status, 'white')}]{status}[/]"


@app.command()
def plan(
    sync: str = typer.Argument(..., help="The sync to plan."),
    project: Path = PROJECT_OPTION,
    full_resync: bool = typer.Option(
        False, "--full-resync", help="Ignore the last snapshot: send every row."
    ),
    api: str | None = typer.Option(None, "--api", help="auto, rest or bulk (default: the sync's setting)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Dry run: what a run would send (counts, sample rows, API calls). Nothing is written."""
    from sfsync.api import display_value, full_resync_warning, plan_view

    choice = _check_api(api)
    with open_project(project) as proj:
        p = proj.plan(sync, full_resync=full_resync, api=choice)
    if as_json:
        print_json(plan_view(p))
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
    moved = p.rows_out if p.rows_out is not None else p.rows_read
    where = "left the warehouse" if p.planner == "warehouse" else "read out of the source"
    console.print(f"  planner: {p.planner} ({moved:,} row(s) {where})", highlight=False)
    for op, n in p.operations.items():
        console.print(f"  {op}: {n:,} row(s)", highlight=False)
    console.print(f"  about {p.estimated_calls:,} API call(s)", highlight=False)
    if p.mappings:
        console.print("  mappings:", highlight=False)
        for line in p.mappings:
            console.print(f"    {line}", highlight=False, markup=False)
    _print_removals(p.removals)
    warning = full_resync_warning(p)
    if warning:
        console.print(f"  [yellow]{warning}[/]", highlight=False)
    if p.samples:
        table = Table(title="Sample rows (fields that would be written)", title_justify="left")
        for col in ("primary key", "kind", "fields"):
            table.add_column(col)
        for s in p.samples:
            fields = ", ".join(
                f"{k} = {'null (clears the field)' if v is None else display_value(v)}"
                for k, v in s["fields"].items()
            )
            table.add_row(str(s["primary_key"]), str(s["kind"]), fields or "(none)")
        console.print(table, markup=False)
    console.print("Nothing was written.", style="dim")


def _print_removals(removals: RemovalPlan | None) -> None:
    """The plan's removals (``on_row_removed``): how many, which, what they cost, or why the guard stops."""
    if removals is None:
        return
    verb = {"clear": "cleared", "set": "flagged", "delete": "deleted (recycle bin)"}[removals.action]
    console.print(
        f"  rows that left the model: {removals.gone:,} of {removals.previous_rows:,};"
        f" their records would be {verb}: {removals.to_send:,} record(s)"
        + (f", {removals.refused:,} refused" if removals.refused else "")
        + (f", {removals.nothing_to_remove:,} with no record left" if removals.nothing_to_remove else "")
        + f", about {removals.estimated_calls:,} more API call(s)",
        highlight=False,
    )
    if removals.samples:
        console.print(f"    e.g. primary keys {', '.join(removals.samples)}", highlight=False, markup=False)
    if removals.blocked:
        console.print(
            f"  [red]a run would stop before writing anything:[/] {removals.blocked}", highlight=False
        )


# ---- run --------------------------------------------------------------------------------------------
def _summary_rows(outcome: RunOutcome) -> list[tuple[str, str]]:
    result = outcome.result
    assert result is not None
    c = result.counts
    rows = [
        ("rows read", f"{c.rows_read:,}"),
        ("new / changed / unchanged", f"{c.new:,} / {c.changed:,} / {c.unchanged:,}"),
        ("created", f"{c.created:,}"),
        ("updated", f"{c.updated:,}"),
        *([("removed (rows that left)", f"{c.removed:,}")] if c.removed else []),
        ("rejected", f"{c.rejected:,}"),
    ]
    rows += [(f"  {code}", f"{n:,}") for code, n in result.rejected_by_code.items()]
    rows += [
        ("API", result.api or "-"),
        ("API calls", f"{c.api_calls:,}"),
        ("duration", f"{result.duration_s:.1f}s"),
    ]
    return rows


def _print_outcome(outcome: RunOutcome) -> None:
    """One sync's run: status, reason, the numbers, and where to look next."""
    v = outcome.verdict
    status = v.status.value if v is not None else outcome.kind.value
    run = f" run {outcome.run_id}" if outcome.run_id is not None else ""
    console.print(f"[bold]{outcome.sync}[/]{run} {status_text(status)}", highlight=False)
    if v is not None and v.reason:
        mark = "[yellow]warning:[/] " if v.warning else ""
        console.print(f"  {mark}{v.reason}", highlight=False)
    elif outcome.error:
        console.print(f"  [red]{outcome.error}[/]", highlight=False)
    if outcome.result is not None:
        table = Table(show_header=False, box=None, padding=(0, 2))
        for k, val in _summary_rows(outcome):
            table.add_row(k, val)
        console.print(table)
        if outcome.result.error and outcome.result.error != (v.reason if v else None):
            console.print(f"  [red]{outcome.result.error}[/]", highlight=False)
    if outcome.paused_cause:
        console.print(f"  [yellow]the sync paused itself:[/] {outcome.paused_cause}", highlight=False)
    logs = outcome.logs
    if logs is not None and logs.error:
        console.print(f"  [yellow]sync logs not written:[/] {logs.error}", highlight=False)
    elif logs is not None and logs.runs:
        console.print(
            f"  sync logs: {len(logs.runs)} run(s), {logs.rows:,} row result(s) written to {logs.where}",
            style="dim",
            highlight=False,
        )
    if outcome.result is not None and outcome.result.counts.rejected:
        console.print(
            f"  see them with: sfsync show-run {outcome.run_id} --rejected", style="dim", highlight=False
        )


def _run_with_bar(
    proj: Project, name: str, full_resync: bool, api: ApiChoice | None, rejected: RejectedParents
) -> RunOutcome:
    from sfsync.api import Diffed, PhaseStarted, Planned, ProgressEvent, Sent

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
            if isinstance(event, PhaseStarted):
                bar.update(task, description=f"{name}: {event.phase.value}")
            elif isinstance(event, Diffed):
                bar.update(task, description=f"{name}: diffed {event.rows:,} rows")
            elif isinstance(event, Planned):
                bar.update(task, total=event.to_send + event.refused, completed=0)
            elif isinstance(event, Sent):
                bar.advance(task, event.rows)

        return proj.attempt(
            name,
            full_resync=full_resync,
            api=api,
            trigger=Trigger.MANUAL,
            progress=progress,
            rejected_parents=rejected,
        )


def _confirm_full_resync(proj: Project, names: list[str], yes: bool, interactive: bool) -> None:
    """An insert sync's full resync creates every row again: ask first (or refuse without --yes)."""
    risks = [r for r in (proj.full_resync_risk(n) for n in names) if r is not None]
    if not risks or yes:
        return
    text = "; ".join(r.text() for r in risks)
    if not interactive:
        raise ConfigError(
            f"refusing --full-resync without confirmation: {text}",
            hint="pass --yes to confirm, or drop --full-resync",
        )
    err_console.print(f"[yellow]{text}[/]", highlight=False)
    if not typer.confirm("Create these records?", default=False, err=True):
        raise ConfigError("full resync not confirmed; nothing was run", hint="answer y, or pass --yes")


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


def _names(
    proj: Project, syncs: list[str] | None, all_syncs: bool, select: list[str] | None = None
) -> list[str]:
    names = list(proj.syncs) if all_syncs else list(syncs or [])
    if select:
        names += [n for n in proj.select(select) if n not in names]
    if not names:
        raise ConfigError(
            "name the sync(s) to run, or pass --select or --all", hint=f"syncs: {', '.join(proj.syncs)}"
        )
    unknown = [n for n in names if n not in proj.config.syncs]
    if unknown:
        raise ConfigError(
            f"no sync named {', '.join(unknown)} in {proj.config.path}",
            hint=f"syncs: {', '.join(proj.syncs) or '(none)'}",
        )
    return names


@app.command()
def run(
    syncs: list[str] | None = typer.Argument(None, help="Syncs to run, in order."),
    project: Path = PROJECT_OPTION,
    all_syncs: bool = typer.Option(False, "--all", help="Run every sync of the project."),
    select: list[str] | None = typer.Option(
        None,
        "--select",
        "-s",
        help="Pick syncs: NAME, tag:NAME, model:NAME or dbt:NAME (repeat to add; a,b keeps both).",
    ),
    full_resync: bool = typer.Option(
        False, "--full-resync", help="Ignore the last snapshot: send every row."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Confirm a --full-resync of an insert sync (it creates every row again)."
    ),
    api: str | None = typer.Option(None, "--api", help="auto, rest or bulk (default: the sync's setting)."),
    allow_rejected: bool = typer.Option(
        False, "--allow-rejected", help="Exit 0 when runs finish with rejected rows (partial)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run syncs now: send what changed since the last run and record every row's outcome.

    Exit code 0 when every run succeeded (or rejected no more rows than its sync's warnings allow), 1 when
    a run failed, was interrupted or rejected rows over that limit, 2 for a usage or configuration error.
    """
    choice = _check_api(api)
    with open_project(project) as proj:
        names = _names(proj, syncs, all_syncs, select)
        if full_resync:
            _confirm_full_resync(proj, names, yes, sys.stdin.isatty() and not as_json)
        results, exit_code = _run_all(proj, names, full_resync, choice, allow_rejected, as_json)
    if as_json:
        print_json(results)
    if exit_code:
        raise typer.Exit(exit_code)


def _run_all(
    proj: Project,
    names: list[str],
    full_resync: bool,
    api: ApiChoice | None,
    allow_rejected: bool,
    as_json: bool,
) -> tuple[list[dict[str, Any]], int]:
    """Run each sync; several are all checked first and the valid ones run. Returns results, exit code."""
    from sfsync.api import run_outcome_view

    results: list[dict[str, Any]] = []
    exit_code = 0
    names = proj.run_order(names)  # parents before the children whose lookups name them
    rejected = proj.new_pass()  # a child row whose parent row this pass rejected is refused
    invalid = _invalid_syncs(proj, names) if len(names) > 1 else {}
    for name in names:
        if name in invalid:
            exit_code = 2
            text = invalid[name].full_text()
            results.append({"sync": name, "run_id": None, "status": "invalid", "error": text})
            if not as_json:
                err_console.print(f"[bold red]{name} not run:[/] {text}", highlight=False)
            continue
        status = proj.status(name)
        if status.paused and not as_json:
            err_console.print(
                f"[yellow]note:[/] {name} is {status.describe()}; running it because you asked",
                highlight=False,
            )
        if as_json or not sys.stderr.isatty():
            outcome = proj.attempt(
                name, full_resync=full_resync, api=api, trigger=Trigger.MANUAL, rejected_parents=rejected
            )
        else:
            outcome = _run_with_bar(proj, name, full_resync, api, rejected)
        error = outcome.exception
        if len(names) == 1 and isinstance(error, SfsyncError) and error.exit_code == 2:
            raise error  # one sync: its configuration error is the command's error
        exit_code = max(exit_code, outcome.exit_code(allow_rejected=allow_rejected))
        results.append(run_outcome_view(outcome))
        if not as_json:
            _print_outcome(outcome)
    return results, exit_code


__all__ = ["PROJECT_OPTION", "STATUS_COLORS", "open_project", "plan", "run", "status_text"]
