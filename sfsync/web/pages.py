"""Server-rendered pages (Jinja2) with light htmx: the same operations as the API, for browsers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from sfsync.api import display_value
from sfsync.config import Project
from sfsync.errors import SfsyncError, SyncRefused
from sfsync.web import charts, forms
from sfsync.web.api import SyncName, service
from sfsync.web.schemas import SYNC_NAME_PATTERN, ProblemOut, RowQuery
from sfsync.web.security import (
    COOKIE,
    CSRF_FIELD,
    client_address,
    csrf_guard,
    new_session,
    safe_next,
    set_cookie,
    token_matches,
)
from sfsync.web.service import MODE_HELP, UiService

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _urlmerge(params: Mapping[str, Any], changes: Mapping[str, Any]) -> str:
    """Query string of ``params`` updated with ``changes`` (links of sortable, paged tables)."""
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "")}
    return urlencode(merged)


templates.env.filters["display"] = display_value  # values as the CLI prints them (dates, true/false)
templates.env.filters["urlmerge"] = _urlmerge

IDLE_POLL_MS = 5000
"""Milliseconds between two refreshes of a page's live parts when nothing is running."""
router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])
Svc = Annotated[UiService, Depends(service)]


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    settings = request.app.state.settings
    session = getattr(request.state, "session", None)
    context.update(
        csrf=getattr(request.state, "csrf", ""),
        csrf_field=CSRF_FIELD,
        auth_required=settings.auth_required,
        logged_in=bool(session is not None and session.logged_in),
        poll_ms=settings.poll_ms,
        idle_poll_ms=max(settings.poll_ms, IDLE_POLL_MS),
    )
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---- login ------------------------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return page(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    settings, signer = request.app.state.settings, request.app.state.signer
    throttle, client = request.app.state.throttle, client_address(request)
    form = await request.form()
    target = safe_next(str(form.get("next") or "/"))
    wait = throttle.retry_after(client)
    if wait > 0:
        error = f"too many failed logins: try again in {wait:.0f} s"
        return page(request, "login.html", 429, next=target, error=error)
    if settings.auth_required and not token_matches(str(form.get("token") or ""), settings.token):
        throttle.failed(client)
        return page(request, "login.html", 401, next=target, error="wrong token")
    throttle.succeeded(client)
    response = back(target)
    set_cookie(response, signer, new_session(settings, logged_in=True), settings)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    session = getattr(request.state, "session", None)
    if session is not None:
        request.app.state.signer.revoke(session)
    response = back("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


# ---- lists ------------------------------------------------------------------------------------------
@router.get("/")
def home() -> Response:
    return back("/syncs")


@router.get("/destinations")
def destinations(request: Request, svc: Svc) -> Response:
    return page(request, "destinations.html", destinations=svc.destinations())


@router.post("/destinations/{name}/test")
def test_destination(request: Request, name: str, svc: Svc) -> Response:
    return page(request, "_connection.html", result=svc.test_destination(name))


@router.get("/destinations/{name}/objects")
def objects(request: Request, name: str, svc: Svc) -> Response:
    return page(request, "objects.html", destination=name, objects=svc.objects(name))


@router.get("/destinations/{name}/objects/{object_name}")
def object_fields(request: Request, name: str, object_name: str, svc: Svc) -> Response:
    return page(request, "fields.html", describe=svc.fields(name, object_name))


@router.get("/models")
def models(request: Request, svc: Svc) -> Response:
    return page(request, "models.html", models=svc.models())


@router.get("/models/{name}")
def model_preview(request: Request, name: str, svc: Svc) -> Response:
    return page(request, "preview.html", preview=svc.preview(name))


@router.get("/syncs")
def syncs(request: Request, svc: Svc) -> Response:
    listed = svc.syncs()
    trends = {s.name: charts.sparkline(svc.history(s.name)) for s in listed}
    return page(request, "syncs.html", syncs=listed, trends=trends)


@router.get("/syncs/{name}")
def sync_page(request: Request, name: SyncName, svc: Svc) -> Response:
    detail = svc.sync(name)
    chart = charts.history_chart(svc.history(name))
    return page(request, "sync.html", sync=detail, mode_help=MODE_HELP, chart=chart)


@router.get("/syncs/{name}/live")
def sync_live(request: Request, name: SyncName, svc: Svc, was: int | None = None) -> Response:
    """htmx: the live panel (state, the run in progress). When the run it showed has ended, the page
    reloads itself so its chart and history show the new run."""
    summary = svc.progress(name)
    response = page(request, "_live.html", sync=summary)
    running = summary.running_run.id if summary.running_run else None
    if was is not None and running != was:
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/syncs/{name}/history.svg")
def sync_chart(name: SyncName, svc: Svc) -> Response:
    """The sync's history chart as an SVG image (to embed elsewhere)."""
    svg = str(charts.history_chart(svc.history(name)))
    if not svg.startswith("<svg"):
        svg = f'<svg xmlns="{charts.SVG_NS}" width="300" height="20"><text y="14">no runs yet</text></svg>'
    return Response(svg, media_type="image/svg+xml")


@router.get("/syncs/{name}/full-resync")
def full_resync_page(request: Request, name: SyncName, svc: Svc) -> Response:
    """What a full resync would do, and a confirmation for an insert sync (it creates every row again)."""
    detail = svc.sync(name)
    return page(request, "full_resync.html", sync=name, mode=detail.mode, risk=svc.full_resync_risk(name))


@router.get("/syncs/{name}/rows")
def rows_page(request: Request, name: SyncName, svc: Svc, query: Annotated[RowQuery, Query()]) -> Response:
    """The row debugger: search the sync's row results across runs, sorted and paged."""
    return page(request, "rows.html", sync=name, query=query, page=svc.rows(name, query))


@router.get("/syncs/{name}/rows/{key:path}")
def row_page(request: Request, name: SyncName, key: str, svc: Svc) -> Response:
    """One row in every run: outcome, record (with a link to it) or error, and the values sent."""
    return page(request, "row.html", story=svc.row(name, key))


# ---- the sync form ----------------------------------------------------------------------------------
def _form_context(svc: UiService, project: Project, form: forms.SyncForm) -> dict[str, Any]:
    """Everything the form shows for its current values; what cannot be reached is shown as an error."""
    errors: list[str] = []
    if not form.to and len(project.destinations) == 1:
        form.to = next(iter(project.destinations))
    objects: list[str] = []
    fields: list[Mapping[str, Any]] = []
    columns: dict[str, Any] = {}
    if form.to in project.destinations:
        try:
            objects = [o.name for o in svc.objects(form.to)]
        except SfsyncError as exc:
            errors.append(f"destination {form.to}: {exc.message}")
        if form.object:
            try:
                fields = list(svc.describe_raw(project, form.to, form.object).get("fields", []))
            except SfsyncError as exc:
                errors.append(f"object {form.object}: {exc.message}")
    if form.from_ in project.models or form.from_ in project.segments:
        try:
            columns = svc.columns(project, form.from_)
        except SfsyncError as exc:
            errors.append(f"{form.from_}: {exc.message}")
    by_name = {str(f["name"]).lower(): f for f in fields}
    rows = form.rows()
    record_types: list[str] = []
    lookups: list[forms.LookupOption] = []
    if fields:

        def parent(obj: str) -> Mapping[str, Any] | None:
            try:
                return svc.describe_raw(project, form.to, obj)
            except SfsyncError:
                return None

        described = parent(form.object) or {}
        record_types = [
            str(i["developerName"])
            for i in described.get("recordTypeInfos") or ()
            if not i.get("master") and i.get("active", True)
        ]
        lookups = forms.lookup_options(fields, form.mode, parent, record_types)
    return {
        "form": form,
        "sources": forms.sources_for(project),
        "destinations": list(project.destinations),
        "notifications": list(project.notifications),
        "objects": objects,
        "columns": columns,
        "oid_fields": forms.object_id_candidates(fields),
        "map_fields": [f for f in fields if forms.writable(f, form.mode)],
        "rows": forms.check_rows(rows, columns, by_name, lookups),
        "lookups": lookups,
        "record_types": record_types,
        "constant_rows": form.constant_rows(),
        "constant_fields": [
            f for f in fields if forms.writable(f, form.mode) and f.get("type") != "reference"
        ],
        "mode_help": MODE_HELP,
        "schedule_kinds": forms.SCHEDULE_KINDS,
        "form_errors": errors,
    }


def _render_form(
    request: Request,
    svc: UiService,
    form: forms.SyncForm,
    *,
    create: bool,
    problems: list[ProblemOut] | None = None,
    status_code: int = 200,
    fragment: bool = False,
) -> Response:
    context = _form_context(svc, svc.project(), form)
    context.update(create=create, problems=problems or [])
    return page(request, "_sync_form.html" if fragment else "sync_form.html", status_code, **context)


@router.get("/new-sync")
def new_sync(request: Request, svc: Svc) -> Response:
    return _render_form(request, svc, forms.SyncForm(), create=True)


@router.get("/syncs/{name}/edit")
def edit_sync(request: Request, name: SyncName, svc: Svc) -> Response:
    project = svc.project()
    svc.sync(name)
    return _render_form(request, svc, forms.SyncForm.from_sync(name, project.syncs[name]), create=False)


@router.post("/sync-form")
async def refresh_form(request: Request, svc: Svc) -> Response:
    """htmx: re-render the form for the values chosen so far (new objects, fields, type checks)."""
    posted = await request.form()
    form = forms.SyncForm.from_form(posted)
    return _render_form(request, svc, form, create=posted.get("create") == "1", fragment=True)


async def _save(request: Request, svc: UiService, create: bool, name: str | None = None) -> Response:
    form = forms.SyncForm.from_form(await request.form())
    if name is not None:
        form.name = name
    problems: list[ProblemOut] = []
    if not re.match(SYNC_NAME_PATTERN, form.name):
        problems.append(
            ProblemOut(message="name: use letters, digits, _ and - (starting with a letter)", path="name")
        )
    try:
        body = form.to_sync_in()
    except SyncRefused as exc:
        problems += exc.items
    if problems:
        return _render_form(request, svc, form, create=create, problems=problems, status_code=422)
    try:
        svc.save(form.name, body, create=create)
    except SyncRefused as exc:
        return _render_form(request, svc, form, create=create, problems=exc.items, status_code=422)
    return back(f"/syncs/{form.name}?saved=1")


@router.post("/new-sync")
async def create_sync(request: Request, svc: Svc) -> Response:
    return await _save(request, svc, create=True)


@router.post("/syncs/{name}/edit")
async def update_sync(request: Request, name: SyncName, svc: Svc) -> Response:
    return await _save(request, svc, create=False, name=name)


# ---- actions ----------------------------------------------------------------------------------------
@router.post("/syncs/{name}/run")
async def run_now(request: Request, name: SyncName, svc: Svc) -> Response:
    form = await request.form()
    full_resync = form.get("full_resync") == "1"
    job = svc.start(name, "run", full_resync=full_resync, confirmed=form.get("confirm") == "1")
    return back(f"/jobs/{job.id}")


@router.post("/syncs/{name}/plan")
def plan(name: SyncName, svc: Svc) -> Response:
    return back(f"/jobs/{svc.start(name, 'plan').id}")


@router.post("/syncs/{name}/pause")
def pause(name: SyncName, svc: Svc) -> Response:
    svc.set_paused(name, True, None)
    return back(f"/syncs/{name}")


@router.post("/syncs/{name}/resume")
def resume(name: SyncName, svc: Svc) -> Response:
    svc.set_paused(name, False, None)
    return back(f"/syncs/{name}")


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str, svc: Svc) -> Response:
    return page(request, "job.html", job=svc.job(job_id))


@router.get("/jobs/{job_id}/status")
def job_status(request: Request, job_id: str, svc: Svc) -> Response:
    return page(request, "_job_status.html", job=svc.job(job_id))


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: int, svc: Svc, code: str | None = None, offset: int = 0) -> Response:
    return page(request, "run.html", run=svc.run(run_id, code, None, offset))
