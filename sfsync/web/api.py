"""The JSON HTTP API under ``/api``: the same operations as the pages (OpenAPI at ``/openapi.json``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse

from sfsync.state import Trigger
from sfsync.web import schemas as s
from sfsync.web.security import csrf_guard
from sfsync.web.service import UiService

SyncName = Annotated[str, Path(pattern=s.SYNC_NAME_PATTERN, description="a sync's name in sfsync.yml")]
_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"model": s.RefusedOut, "description": "refused: the reasons, nothing was written"}
}
_MISSING: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such sync, run, model, destination or job"}
}

router = APIRouter(prefix="/api", dependencies=[Depends(csrf_guard)])


def service(request: Request) -> UiService:
    svc: UiService = request.app.state.service
    return svc


Svc = Annotated[UiService, Depends(service)]


@router.get("/destinations", tags=["destinations"])
def list_destinations(svc: Svc) -> list[s.DestinationOut]:
    """The project's Salesforce destinations (never their secrets)."""
    return svc.destinations()


@router.post("/destinations/{name}/test", tags=["destinations"], responses=_MISSING)
def test_destination(name: str, svc: Svc) -> s.ConnectionTestOut:
    """Log in to the org and list its objects; ``ok`` false with the reason when that fails."""
    return svc.test_destination(name)


@router.get("/destinations/{name}/objects", tags=["destinations"], responses=_MISSING)
def list_objects(name: str, svc: Svc) -> list[s.ObjectOut]:
    """The org's objects (global describe)."""
    return svc.objects(name)


@router.get("/destinations/{name}/objects/{object_name}", tags=["destinations"], responses=_MISSING)
def object_fields(name: str, object_name: str, svc: Svc) -> s.ObjectFieldsOut:
    """An object's fields with the flags mapping depends on (createable, updateable, external id...)."""
    return svc.fields(name, object_name)


@router.get("/models", tags=["models"])
def list_models(svc: Svc) -> list[s.ModelOut]:
    """Models and segments."""
    return svc.models()


@router.get("/models/{name}/preview", tags=["models"], responses=_MISSING)
def preview_model(
    name: str, svc: Svc, rows: Annotated[int | None, Query(ge=1, le=1000)] = None
) -> s.PreviewOut:
    """The first rows of a model or segment, its column types and its row count."""
    return svc.preview(name, rows)


@router.get("/syncs", tags=["syncs"])
def list_syncs(svc: Svc) -> list[s.SyncSummaryOut]:
    """Every sync: its state (healthy, warning, failing, paused, never run, running), last and next run."""
    return svc.syncs()


@router.get("/syncs/{name}", tags=["syncs"], responses=_MISSING)
def get_sync(name: SyncName, svc: Svc) -> s.SyncDetailOut:
    """A sync's configuration, state and run history."""
    return svc.sync(name)


@router.post("/syncs/{name}", tags=["syncs"], status_code=201, responses=_REFUSED)
def create_sync(name: SyncName, body: Annotated[s.SyncIn, Body()], svc: Svc) -> s.SavedOut:
    """Add a sync to sfsync.yml after validating it against the org and the model (comments kept)."""
    return svc.save(name, body, create=True)


@router.put("/syncs/{name}", tags=["syncs"], responses={**_REFUSED, **_MISSING})
def replace_sync(name: SyncName, body: Annotated[s.SyncIn, Body()], svc: Svc) -> s.SavedOut:
    """Replace an existing sync in sfsync.yml after validation (its place and untouched comments kept)."""
    return svc.save(name, body, create=False)


@router.get("/syncs/{name}/runs", tags=["runs"], responses=_MISSING)
def list_runs(
    name: SyncName, svc: Svc, limit: Annotated[int | None, Query(ge=1, le=1000)] = None
) -> list[s.RunOut]:
    """A sync's runs, newest first: counts, duration, API calls."""
    return svc.runs(name, limit)


@router.post("/syncs/{name}/run", tags=["runs"], status_code=202, responses=_MISSING)
def run_sync(name: SyncName, svc: Svc, body: Annotated[s.RunIn | None, Body()] = None) -> s.JobOut:
    """Start a run in the background; poll ``GET /api/jobs/{id}`` (its ``progress`` while it runs, its
    ``result`` with ``status``, ``warning`` and ``reason`` once done). A ``full_resync`` of an insert sync
    creates every row again and needs ``confirm: true`` (400 otherwise)."""
    options = body or s.RunIn()
    job = svc.start(name, "run", Trigger.API, full_resync=options.full_resync, confirmed=options.confirm)
    return svc.job(job.id)


@router.post("/syncs/{name}/plan", tags=["runs"], status_code=202, responses=_MISSING)
def plan_sync(name: SyncName, svc: Svc, body: Annotated[s.RunIn | None, Body()] = None) -> s.JobOut:
    """Start a dry run (read, diff, plan; nothing written); poll ``GET /api/jobs/{id}`` for the plan (with
    ``full_resync``: how many records it would create, and a warning for an insert sync)."""
    options = body or s.RunIn()
    return svc.job(svc.start(name, "plan", full_resync=options.full_resync).id)


@router.get("/syncs/{name}/rows", tags=["rows"], responses=_MISSING)
def search_rows(name: SyncName, svc: Svc, query: Annotated[s.RowQuery, Query()]) -> s.RowPageOut:
    """Search the sync's row results across its runs (primary key, error code, message or record id),
    sorted and paged: the row debugger."""
    return svc.rows(name, query)


@router.get("/syncs/{name}/rows/{key:path}", tags=["rows"], responses=_MISSING)
def get_row(name: SyncName, key: str, svc: Svc) -> s.RowStoryOut:
    """One row in every run that still has row results, newest first: operation, record id (and a link to
    the record) or error, and the values each run sent."""
    return svc.row(name, key)


@router.post("/syncs/{name}/pause", tags=["syncs"], responses=_MISSING)
def pause_sync(name: SyncName, svc: Svc, body: Annotated[s.PauseIn | None, Body()] = None) -> s.SyncStatusOut:
    """Pause a sync: the scheduler skips it and run now is refused until it is resumed."""
    return svc.set_paused(name, True, body.cause if body else None)


@router.post("/syncs/{name}/resume", tags=["syncs"], responses=_MISSING)
def resume_sync(name: SyncName, svc: Svc) -> s.SyncStatusOut:
    """Resume a paused sync."""
    return svc.set_paused(name, False, None)


@router.get("/jobs/{job_id}", tags=["runs"], responses=_MISSING)
def get_job(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$")], svc: Svc) -> s.JobOut:
    """A background run or plan: queued, running, done (with its result) or failed (with the reason)."""
    return svc.job(job_id)


@router.get("/runs/{run_id}", tags=["runs"], responses=_MISSING)
def get_run(
    run_id: int,
    svc: Svc,
    code: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> s.RunDetailOut:
    """A run with its counts, rejected rows by error code, and one page of rejected rows."""
    return svc.run(run_id, code, limit, offset)


@router.get(
    "/runs/{run_id}/rejected.csv",
    tags=["runs"],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}}}, **_MISSING},
)
def rejected_csv(
    run_id: int, svc: Svc, code: Annotated[str | None, Query(max_length=100)] = None
) -> PlainTextResponse:
    """Every rejected row of a run (optionally one error code) as CSV."""
    return PlainTextResponse(
        svc.rejected_csv(run_id, code),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="run-{run_id}-rejected.csv"'},
    )
