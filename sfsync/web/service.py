"""What the pages and the JSON API do, in one place: both call these methods and render the answers.

The project file is re-read on every call (so edits in git or an editor show at once); the state store
and one Salesforce client per destination are kept for the life of the app.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sfsync.alerts import WarningTracker
from sfsync.config import Project, SalesforceDestination, load_project
from sfsync.errors import ConfigError, SfsyncError
from sfsync.schedule import (
    describe_schedule,
    handle_run_end,
    manual_cause,
    next_fire,
    pause_sync,
    resume_sync,
    status_view,
)
from sfsync.sources import open_source, query_for
from sfsync.sources.types import LogicalType
from sfsync.state import RunRecord, RunStatus, StateStore, SyncBusyError, Trigger, default_state_dir
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


class NotFound(ConfigError):
    """A sync, run, model or destination named in a URL does not exist (HTTP 404)."""


class SyncPaused(ConfigError):
    """Run now was asked of a paused sync (HTTP 409)."""


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {str(k): _cell(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cell(v) for v in value]
    return str(value)


def run_out(run: RunRecord) -> s.RunOut:
    c = run.counts
    return s.RunOut(
        id=run.id,
        sync=run.sync,
        trigger=run.trigger.value,
        status=run.status.value,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_s=run.duration_s,
        api=run.api,
        error=run.error,
        rows_read=c.rows_read,
        new=c.new,
        changed=c.changed,
        unchanged=c.unchanged,
        created=c.created,
        updated=c.updated,
        rejected=c.rejected,
        api_calls=c.api_calls,
    )


class UiService:
    def __init__(self, settings: UiSettings) -> None:
        self.settings = settings
        self.jobs = JobRunner(settings.max_background_jobs, settings.jobs_kept)
        self._store: StateStore | None = None
        self._clients: dict[str, tuple[SalesforceDestination, Any]] = {}
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()

    # ---- plumbing -----------------------------------------------------------------------------------
    def project(self) -> Project:
        return load_project(self.settings.project_file)

    @property
    def store(self) -> StateStore:
        with self._lock:
            if self._store is None:
                self._store = StateStore.open(default_state_dir(self.settings.project_file))
            return self._store

    def client(self, project: Project, destination: str) -> Any:
        if destination not in project.destinations:
            raise NotFound(
                f"there is no destination {destination!r}",
                hint=f"destinations: {', '.join(sorted(project.destinations)) or 'none'}",
            )
        dest = project.destinations[destination]
        from sfsync.sync.connect import open_client

        with self._lock:
            known = self._clients.get(destination)
            if known is not None and known[0] == dest:
                return known[1]
            if known is not None:
                known[1].close()
            client = open_client(dest, project.root, transport=self.settings.transport)
            self._clients[destination] = (dest, client)
            return client

    def close(self) -> None:
        self.jobs.shutdown(wait=True)
        with self._lock:
            for _, c in self._clients.values():
                c.close()
            self._clients.clear()
            if self._store is not None:
                self._store.close()
                self._store = None

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
        project = self.project()
        client = self.client(project, name)
        try:
            client.invalidate_describe()
            count = len(client.describe_global().objects)
        except Exception as exc:
            return s.ConnectionTestOut(destination=name, ok=False, error=getattr(exc, "message", str(exc)))
        return s.ConnectionTestOut(destination=name, ok=True, objects=count)

    def objects(self, name: str) -> list[s.ObjectOut]:
        client = self.client(self.project(), name)
        return [
            s.ObjectOut(
                name=o.name, label=o.label, custom=o.custom, createable=o.createable, updateable=o.updateable
            )
            for o in sorted(client.describe_global().objects, key=lambda o: o.name.lower())
        ]

    def fields(self, name: str, object_name: str) -> s.ObjectFieldsOut:
        d = self.client(self.project(), name).describe(object_name)
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
        query = query_for(project, from_name)
        with open_source(project, query.source) as source:
            return source.columns(query)

    def preview(self, name: str, rows: int | None = None) -> s.PreviewOut:
        p = self.project()
        if name not in p.models and name not in p.segments:
            raise NotFound(f"there is no model or segment {name!r}")
        query = query_for(p, name)
        n = min(rows or self.settings.preview_rows, 1000)
        with open_source(p, query.source) as source:
            types = source.columns(query)
            table = source.preview(query, n)
            count = source.count_rows(query)
        data = table.to_pylist()
        return s.PreviewOut(
            name=name,
            columns=[s.ColumnOut(name=c, type=t.value) for c, t in types.items()],
            rows=[[_cell(r.get(c)) for c in table.column_names] for r in data],
            row_count=count,
        )

    # ---- syncs --------------------------------------------------------------------------------------
    def _state(self, project: Project, name: str, last: RunRecord | None) -> tuple[s.SyncState, Any]:
        status = status_view(self.store, name)
        if status.paused:
            return "paused", status
        if self.jobs.active(name) or (last is not None and last.status is RunStatus.RUNNING):
            return "running", status
        if last is None:
            return "never run", status
        if last.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
            return "failing", status
        threshold = project.syncs[name].warnings.rejected_rows_percent
        sent = last.counts.created + last.counts.updated + last.counts.rejected
        share = 100.0 * last.counts.rejected / sent if sent else 0.0
        if (
            status.firing
            or (threshold is not None and share > threshold)
            or (threshold is None and last.counts.rejected)
        ):
            return "warning", status
        return "healthy", status

    def _summary(self, project: Project, name: str) -> dict[str, Any]:
        sync = project.syncs[name]
        last = self.store.last_run(name)
        state, status = self._state(project, name, last)
        return {
            "name": name,
            "from_": sync.from_,
            "to": sync.to,
            "object": sync.object,
            "mode": sync.mode,
            "state": state,
            "paused": status.paused,
            "pause_cause": status.cause,
            "status_text": status.describe(),
            "warnings_firing": list(status.firing),
            "active_jobs": [j.id for j in self.jobs.active(name)],
            "schedule": describe_schedule(sync.schedule),
            "next_run": None if status.paused else next_fire(sync.schedule, datetime.now(UTC)),
            "last_run": run_out(last) if last else None,
        }

    def syncs(self) -> list[s.SyncSummaryOut]:
        p = self.project()
        return [s.SyncSummaryOut(**self._summary(p, n)) for n in p.syncs]

    def _sync(self, project: Project, name: str) -> None:
        if name not in project.syncs:
            raise NotFound(
                f"there is no sync {name!r}", hint=f"syncs: {', '.join(sorted(project.syncs)) or 'none'}"
            )

    def sync(self, name: str) -> s.SyncDetailOut:
        p = self.project()
        self._sync(p, name)
        config = p.syncs[name].model_dump(by_alias=True, exclude_none=True)
        runs = [run_out(r) for r in self.store.runs(name, self.settings.history_limit)]
        return s.SyncDetailOut(**self._summary(p, name), config=config, runs=runs)

    def save(self, name: str, body: s.SyncIn, *, create: bool) -> s.SavedOut:
        def org_and_columns(project: Project, sync_name: str) -> tuple[Mapping[str, Any], Any]:
            sync = project.syncs[sync_name]
            describe = self.client(project, sync.to).describe(sync.object).raw
            return describe, self.columns(project, sync.from_)

        with self._save_lock:  # two saves from this UI never interleave their read-check-write
            save_sync(
                self.settings.project_file,
                name,
                body.to_yaml_data(),
                create=create,
                org_and_columns=org_and_columns,
            )
        return s.SavedOut(sync=name, created=create, file=str(self.settings.project_file))

    def set_paused(self, name: str, paused: bool, reason: str | None) -> s.SyncStatusOut:
        """Pause (cause ``manual: paused by the web UI[: reason]``) or resume, as ``sfsync pause/resume``."""
        project = self.project()
        self._sync(project, name)
        if paused:
            st = pause_sync(self.store, name, manual_cause(reason, user=UI_USER))
        else:
            st = resume_sync(self.store, name, tracker=WarningTracker(project, self.store))
        return s.SyncStatusOut(sync=name, paused=st.paused, pause_cause=st.pause_cause)

    def _after_run(self, project: Project, name: str, run_id: int | None, error: SfsyncError | None) -> None:
        """Warnings and automatic pauses, as after a scheduled run; a failure here never fails the run."""
        try:
            handle_run_end(self.store, WarningTracker(project, self.store), name, run_id, error)
        except Exception:
            log.exception("sync %s: evaluating warnings after run %s failed", name, run_id)

    # ---- runs ---------------------------------------------------------------------------------------
    def runs(self, name: str, limit: int | None = None) -> list[s.RunOut]:
        self._sync(self.project(), name)
        return [run_out(r) for r in self.store.runs(name, limit or self.settings.history_limit)]

    def _run(self, run_id: int) -> RunRecord:
        try:
            return self.store.get_run(run_id)
        except Exception as exc:
            raise NotFound(f"run {run_id} does not exist", hint="list runs on a sync's page") from exc

    def run(
        self, run_id: int, code: str | None = None, limit: int | None = None, offset: int = 0
    ) -> s.RunDetailOut:
        run = self._run(run_id)
        limit = min(limit or self.settings.rejected_page_size, 10_000)
        rows = self.store.rejected_rows(run_id, code or None, limit=limit, offset=max(offset, 0))
        return s.RunDetailOut(
            **run_out(run).model_dump(),
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
            w.writerow([r.primary_key, r.operation, r.error_code or "", r.message or "", ";".join(r.fields)])
        return buf.getvalue()

    # ---- run now / plan -----------------------------------------------------------------------------
    def start(self, name: str, kind: str, trigger: str = Trigger.UI.value) -> Job:
        project = self.project()
        self._sync(project, name)
        if kind == "run" and self.store.sync_status(name).paused:
            raise SyncPaused(f"sync {name!r} is paused", hint="resume it before running it")
        owner = self.store.lock_owner(name) if kind == "run" else None
        if owner is not None:
            raise SyncBusyError(
                f"sync {name!r} is running already ({owner.describe()})",
                sync=name,
                owner=owner,
                hint="wait for that run to finish; its page shows when it does",
            )
        store, transport = self.store, self.settings.transport

        def work(report_run: Callable[[int], None]) -> dict[str, Any]:
            from sfsync.sync.engine import RunOptions, SyncSession

            session = SyncSession(project, store, transport=transport)
            try:
                if kind == "plan":
                    plan = session.plan(name)
                    return {
                        "api": plan.api,
                        "rows_read": plan.rows_read,
                        "new": plan.new,
                        "changed": plan.changed,
                        "unchanged": plan.unchanged,
                        "to_send": plan.to_send,
                        "refused": plan.refused,
                        "operations": plan.operations,
                        "estimated_calls": plan.estimated_calls,
                        "samples": [{k: _cell(v) for k, v in row.items()} for row in plan.samples],
                    }
                before = store.last_run(name)
                try:
                    result = session.run(name, RunOptions(trigger=trigger, transport=transport))
                except SyncBusyError:
                    raise
                except SfsyncError as exc:
                    after = store.last_run(name)
                    run_id = after.id if after and (before is None or after.id > before.id) else None
                    if run_id is not None:
                        report_run(run_id)
                    self._after_run(project, name, run_id, exc)
                    raise
                self._after_run(project, name, result.run_id, None)
                return result.to_dict()
            finally:
                session.close()

        return self.jobs.submit("plan" if kind == "plan" else "run", name, work)

    def job(self, job_id: str) -> s.JobOut:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}", hint="jobs are forgotten when the UI restarts")
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
        )


__all__ = ["MODE_HELP", "NotFound", "SyncPaused", "UiService", "run_out"]
