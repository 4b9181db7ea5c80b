"""What the pages and the JSON API do, in one place: both call these methods and render the answers.

The project file is re-read on every call (so edits in git or an editor show at once); everything goes
through the facade (``sfsync.api.Project``), whose state store and Salesforce clients are kept for the
life of the app.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sfsync import api
from sfsync.api import LogicalType, Problem
from sfsync.config import Project, load_project
from sfsync.errors import ConfigError, NotFoundError, SyncBusyError, SyncPausedError
from sfsync.schedule import describe_schedule, next_fire
from sfsync.state import RunRecord, StateStore, Trigger
from sfsync.web import schemas as s
from sfsync.web.jobs import Job, JobRunner
from sfsync.web.settings import UiSettings
from sfsync.web.syncedit import save_sync

log = logging.getLogger(__name__)

UI_USER = "the web UI"
"""Who a pause from the UI is attributed to (the UI has one shared login, no user names)."""

MODE_HELP = {
    "insert": "creates a new record for every row that is new or whose mapped values changed; "
    "it never modifies or deletes a record it created earlier.",
    "update": "updates existing records for rows that are new to the sync or changed; a row whose object "
    "id matches no record is rejected with NOT_FOUND and retried next run.",
    "upsert": "creates records for unknown object ids and updates the ones that changed.",
}


def run_out(run: RunRecord, verdict: api.RunVerdict | None = None) -> s.RunOut:
    return s.RunOut(**api.run_record_view(run, verdict))


class UiService:
    def __init__(self, settings: UiSettings) -> None:
        self.settings = settings
        self.jobs = JobRunner(settings.max_background_jobs, settings.jobs_kept)
        self._root: api.Project | None = None  # owns the state store and the clients
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()

    # ---- plumbing -----------------------------------------------------------------------------------
    def project(self) -> Project:
        """The project file as it is now."""
        return load_project(self.settings.project_file)

    def _root_facade(self) -> api.Project:
        with self._lock:
            if self._root is None:
                self._root = api.Project.load(self.settings.project_file, transport=self.settings.transport)
            return self._root

    def facade(self, config: Project | None = None) -> api.Project:
        """The facade on ``config`` (default: the project file as it is now), sharing the app's state
        store and Salesforce clients."""
        return self._root_facade().with_config(config or self.project())

    @property
    def store(self) -> StateStore:
        return self._root_facade().store

    def describe_raw(self, project: Project, destination: str, object_name: str) -> Mapping[str, Any]:
        """The describe JSON of ``object_name`` in ``destination`` (for the sync form)."""
        raw: Mapping[str, Any] = self.facade(project).describe(object_name, destination).raw
        return raw

    def close(self) -> None:
        self.jobs.shutdown(wait=True)
        with self._lock:
            if self._root is not None:
                self._root.close()
                self._root = None

    # ---- destinations -------------------------------------------------------------------------------
    def destinations(self) -> list[s.DestinationOut]:
        out = []
        for name, d in self.project().destinations.items():
            out.append(
                s.DestinationOut(
                    name=name,
                    type=d.type,
                    login_url=d.login_url,
                    instance_url=d.instance_url,
                    auth_flow=d.auth.flow,
                    username=getattr(d.auth, "username", None),
                    api_version=d.api_version,
                )
            )
        return out

    def test_destination(self, name: str) -> s.ConnectionTestOut:
        facade = self.facade()
        facade.destination_name(name)  # NotFoundError for an unknown destination
        try:
            count = len(facade.objects(name, fresh=True).objects)
        except Exception as exc:
            return s.ConnectionTestOut(destination=name, ok=False, error=getattr(exc, "message", str(exc)))
        return s.ConnectionTestOut(destination=name, ok=True, objects=count)

    def objects(self, name: str) -> list[s.ObjectOut]:
        found = self.facade().objects(name).objects
        return [
            s.ObjectOut(
                name=o.name, label=o.label, custom=o.custom, createable=o.createable, updateable=o.updateable
            )
            for o in sorted(found, key=lambda o: o.name.lower())
        ]

    def fields(self, name: str, object_name: str) -> s.ObjectFieldsOut:
        d = self.facade().describe(object_name, name)
        return s.ObjectFieldsOut(
            destination=name,
            object=d.name,
            fields=[
                s.FieldOut(
                    name=f.name,
                    label=f.label,
                    type=f.type,
                    createable=f.createable,
                    updateable=f.updateable,
                    external_id=f.external_id,
                    id_lookup=f.id_lookup,
                    required_on_create=f.required_on_create,
                    reference_to=list(f.reference_to),
                )
                for f in d.fields
            ],
        )

    # ---- models and segments ------------------------------------------------------------------------
    def models(self) -> list[s.ModelOut]:
        p = self.project()
        out = [
            s.ModelOut(
                name=n,
                kind="model",
                model_kind=m.kind,
                source=m.source,
                primary_key=m.primary_key,
                sql=m.sql,
                table=m.table,
                dbt_model=m.dbt.model if m.dbt is not None else None,
            )
            for n, m in p.models.items()
        ]
        for n, seg in p.segments.items():
            m = p.models[seg.model]
            out.append(
                s.ModelOut(
                    name=n,
                    kind="segment",
                    model_kind=m.kind,
                    source=m.source,
                    primary_key=m.primary_key,
                    model=seg.model,
                    where=seg.where,
                )
            )
        return out

    def columns(self, project: Project, from_name: str) -> dict[str, LogicalType]:
        return self.facade(project).columns(from_name)

    def preview(self, name: str, rows: int | None = None) -> s.PreviewOut:
        n = min(rows or self.settings.preview_rows, 1000)
        types, table, count = self.facade().preview(name, n)
        data = table.to_pylist()
        return s.PreviewOut(
            name=name,
            columns=[s.ColumnOut(name=c, type=t.value) for c, t in types.items()],
            rows=[[api.json_value(r.get(c)) for c in table.column_names] for r in data],
            row_count=count,
        )

    # ---- syncs --------------------------------------------------------------------------------------
    def _summary(self, project: Project, name: str) -> dict[str, Any]:
        sync = project.syncs[name]
        facade = self.facade(project)
        health = facade.health(name)
        state = health.state
        jobs = self.jobs.active(name)
        active = [j.id for j in jobs]
        reason = health.reason
        # a run job without a run id has not taken the lock yet; one with a run id whose run has ended is only
        # doing what follows a run (warnings, notifications): the sync's state is its run's by then
        waiting = any(j.kind == "run" and j.run_id is None for j in jobs)
        if waiting and state not in ("paused", "running"):
            state, reason = "running", "started from this UI; waiting for its lock"
        status = health.status
        last = health.last_run
        return {
            "name": name,
            "from_": sync.from_,
            "to": sync.to,
            "object": sync.object,
            "mode": sync.mode,
            "state": state,
            "reason": reason,
            "paused": status.paused,
            "pause_cause": status.cause,
            "status_text": status.describe(),
            "warnings_firing": list(status.firing),
            "active_jobs": active,
            "schedule": describe_schedule(sync.schedule),
            "next_run": None if status.paused else next_fire(sync.schedule, datetime.now(UTC)),
            "last_run": run_out(last, health.verdict) if last else None,
            "running_run": run_out(health.running) if health.running else None,
        }

    def syncs(self) -> list[s.SyncSummaryOut]:
        p = self.project()
        return [s.SyncSummaryOut(**self._summary(p, n)) for n in p.syncs]

    def _sync(self, project: Project, name: str) -> None:
        self.facade(project).require_sync(name)

    def sync(self, name: str) -> s.SyncDetailOut:
        p = self.project()
        self._sync(p, name)
        sync = p.syncs[name]
        config = sync.model_dump(by_alias=True, exclude_none=True)
        runs = self._runs_out(p, name, self.settings.history_limit)
        lines = [e.describe_text for e in sync.entries]
        if sync.record_type:
            lines.append(f"record type {sync.record_type} (every record)")
        return s.SyncDetailOut(**self._summary(p, name), config=config, runs=runs, mappings=lines)

    def _runs_out(self, project: Project, name: str, limit: int) -> list[s.RunOut]:
        facade = self.facade(project)
        if not facade.has_state:
            return []
        return [run_out(r, facade.verdict(r) if r.finished else None) for r in self.store.runs(name, limit)]

    def history(self, name: str, limit: int | None = None) -> list[RunRecord]:
        """The sync's latest runs (for its charts), newest first."""
        facade = self.facade()
        facade.require_sync(name)
        if not facade.has_state:
            return []
        return self.store.runs(name, limit or self.settings.chart_runs)

    def progress(self, name: str) -> s.SyncSummaryOut:
        """The sync's summary, for the live panel of its page (state, reason, the run in progress)."""
        p = self.project()
        self._sync(p, name)
        return s.SyncSummaryOut(**self._summary(p, name))

    def save(self, name: str, body: s.SyncIn, *, create: bool) -> s.SavedOut:
        def validate(project: Project, sync_name: str) -> list[Problem]:
            return self.facade(project).problems(sync_name, project)

        with self._save_lock:  # two saves from this UI never interleave their read-check-write
            save_sync(
                self.settings.project_file,
                name,
                body.to_yaml_data(),
                create=create,
                validate=validate,
            )
        return s.SavedOut(sync=name, created=create, file=str(self.settings.project_file))

    def set_paused(self, name: str, paused: bool, reason: str | None) -> s.SyncStatusOut:
        """Pause (cause ``manual: paused by the web UI[: reason]``) or resume, as ``sfsync pause/resume``."""
        facade = self.facade()
        view = facade.pause(name, reason, user=UI_USER) if paused else facade.resume(name)
        return s.SyncStatusOut(sync=name, paused=view.paused, pause_cause=view.cause)

    # ---- runs ---------------------------------------------------------------------------------------
    def runs(self, name: str, limit: int | None = None) -> list[s.RunOut]:
        p = self.project()
        self._sync(p, name)
        return self._runs_out(p, name, limit or self.settings.history_limit)

    def _run(self, run_id: int) -> RunRecord:
        return self.facade().get_run(run_id)

    def run(
        self, run_id: int, code: str | None = None, limit: int | None = None, offset: int = 0
    ) -> s.RunDetailOut:
        run = self._run(run_id)
        limit = min(limit or self.settings.rejected_page_size, 10_000)
        rows = self.store.rejected_rows(run_id, code or None, limit=limit, offset=max(offset, 0))
        verdict = self.facade().verdict(run) if run.finished else None
        return s.RunDetailOut(
            **run_out(run, verdict).model_dump(),
            rejected_by_code=self.store.rejected_counts(run_id),
            rejected_rows=[
                s.RejectedRowOut(
                    primary_key=r.primary_key,
                    operation=r.operation,
                    error_code=r.error_code,
                    message=r.message,
                    fields=list(r.fields),
                )
                for r in rows
            ],
            code=code or None,
            offset=offset,
            limit=limit,
        )

    def rejected_csv(self, run_id: int, code: str | None = None) -> str:
        self._run(run_id)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["primary_key", "operation", "error_code", "message", "fields"])
        for r in self.store.rejected_rows(run_id, code or None):
            cells = (r.primary_key, r.operation, r.error_code, r.message, ";".join(r.fields))
            w.writerow([api.spreadsheet_cell(c) for c in cells])
        return buf.getvalue()

    # ---- run now / plan -----------------------------------------------------------------------------
    def start(
        self,
        name: str,
        kind: str,
        trigger: Trigger = Trigger.UI,
        *,
        full_resync: bool = False,
        confirmed: bool = False,
    ) -> Job:
        """Start a run or a plan in the background. A full resync of an ``insert`` sync creates every row
        again: it is refused unless ``confirmed`` (the page asks first; the API needs ``confirm``)."""
        facade = self.facade()
        facade.require_sync(name)
        if kind == "run" and facade.status(name).paused:
            raise SyncPausedError(f"sync {name!r} is paused", sync=name, hint="resume it before running it")
        if kind == "run" and full_resync and not confirmed:
            risk = facade.full_resync_risk(name)
            if risk is not None:
                raise ConfigError(
                    f"refusing a full resync without confirmation: {risk.text()}",
                    hint="confirm it (the page asks; the API takes confirm=true)",
                )
        owner = self.store.lock_owner(name) if kind == "run" else None
        if owner is not None:
            raise SyncBusyError(
                f"sync {name!r} is running already ({owner.describe()})",
                sync=name,
                owner=owner.describe(),
                owner_run_id=owner.run_id,
                hint="wait for that run to finish; its page shows when it does",
            )

        def work(report_run: Callable[[int], None]) -> dict[str, Any]:
            if kind == "plan":
                return api.plan_view(facade.plan(name, full_resync=full_resync))

            def progress(event: api.ProgressEvent) -> None:
                if isinstance(event, api.RunStarted):
                    report_run(event.run_id)

            outcome = facade.attempt(name, trigger=trigger, progress=progress, full_resync=full_resync)
            if outcome.exception is not None:
                raise outcome.exception
            return api.run_outcome_view(outcome)

        return self.jobs.submit("plan" if kind == "plan" else "run", name, work)

    def full_resync_risk(self, name: str) -> api.FullResyncRisk | None:
        return self.facade().full_resync_risk(name)

    # ---- the row debugger ---------------------------------------------------------------------------
    def rows(self, name: str, query: s.RowQuery) -> s.RowPageOut:
        page = self.facade().rows(
            name,
            query.q or None,
            outcome=query.outcome,
            run_id=query.run,
            sort=query.sort,
            descending=query.order == "desc",
            limit=min(query.limit or self.settings.rows_page_size, 1000),
            offset=query.offset,
        )
        return s.RowPageOut(**api.row_page_view(page))

    def row(self, name: str, key: str) -> s.RowStoryOut:
        story = [s.RowRunOut(**api.row_run_view(item)) for item in self.facade().row(name, key)]
        return s.RowStoryOut(sync=name, primary_key=key, runs=story)

    def job(self, job_id: str) -> s.JobOut:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFoundError(
                f"there is no job {job_id!r}",
                what="job",
                name=job_id,
                hint="jobs are forgotten when the UI restarts",
            )
        run = self.store.get_run(job.run_id) if job.run_id is not None else None
        live = run is not None and not run.finished and run.progress is not None
        return s.JobOut(
            id=job.id,
            kind=job.kind,
            sync=job.sync,
            state=job.state,
            started_at=job.started_at,
            finished_at=job.finished_at,
            error=job.error,
            run_id=job.run_id,
            result=job.result,
            progress=run.progress.to_dict() if live and run and run.progress else None,
            progress_text=api.progress_text(run.progress) if live and run else None,
        )


__all__ = ["MODE_HELP", "UiService", "run_out"]
