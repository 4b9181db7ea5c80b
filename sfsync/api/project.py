"""The facade: :class:`Project` is what the CLI, the scheduler, the web UI and embedding code call.

``Project.load("sfsync.yml")`` opens the project file and its state store; its methods check, describe,
plan, run, pause and resume syncs and read their history. Everything that follows a run (automatic
pauses, warnings) is decided here, once (:mod:`sfsync.api.outcomes`), so a run behaves the same whoever
started it.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pyarrow as pa

from sfsync.alerts import RunVerdict, WarningTracker, judge_run
from sfsync.api.health import SyncHealth, sync_health
from sfsync.api.logs import LogExport, export_logs
from sfsync.api.outcomes import OutcomeKind, RunOutcome, follow_run, outcome_kind, verdict_of
from sfsync.api.pausing import StatusView, manual_cause, pause_sync, resume_sync, status_view
from sfsync.config import (
    DEFAULT_PROJECT_FILE,
    ApiChoice,
    Sync,
    load_project,
    model_description,
    select_syncs,
)
from sfsync.config import Project as ProjectConfig
from sfsync.errors import ConfigError, NotFoundError, SfsyncError, SyncBusyError
from sfsync.salesforce.describe import GlobalDescribe, ObjectDescribe
from sfsync.salesforce.transport import ApiUsage
from sfsync.sources import open_source, query_for
from sfsync.sources.types import LogicalType
from sfsync.state import RowResult, RunRecord, StateStore, TokenFile, Trigger, default_state_dir
from sfsync.state.configured import has_database, open_state
from sfsync.state.pgtokens import TokenRow, refresh_token_store
from sfsync.state.rowsearch import Outcome, RowDebugger, RowPage, RowRun, SortKey
from sfsync.sync.check import CheckReport, check_project
from sfsync.sync.connect import Orgs
from sfsync.sync.engine import RunOptions, RunResult, SyncSession
from sfsync.sync.order import dependencies, groups, order_syncs, sync_parents
from sfsync.sync.plan import Plan
from sfsync.sync.progress import Progress
from sfsync.sync.references import RejectedParents
from sfsync.sync.resync import FullResyncRisk, full_resync_risk
from sfsync.sync.validate import Problem, validate_sync
from sfsync.sync.validate_related import SourceRelated

log = logging.getLogger(__name__)


API_CHOICES: tuple[ApiChoice, ...] = ("auto", "rest", "bulk")


def _check_api(api: object) -> None:
    """The Python API is typed, but callers may pass anything: refuse an unknown ``api`` before a run."""
    if api is not None and api not in API_CHOICES:
        raise ConfigError(
            f"api={api!r} is not one of {', '.join(API_CHOICES)}", hint="or None: the sync's own"
        )


class Project:
    """A loaded project with its state store and Salesforce clients, ready to check, plan and run syncs.

    ``store`` is the state store, or the directory to open it in (``.sfsync/`` beside the project file
    when None): it is opened on first use, so checking or describing never creates state. ``orgs`` (the
    clients of check, describe and plan) and the store are shared with the projects made by
    :meth:`with_config`; the one made by :meth:`load` (or given ``owns=True``) closes them.
    ``transport`` lets tests mount the emulator in-process.
    """

    def __init__(
        self,
        config: ProjectConfig,
        store: StateStore | Path | None = None,
        *,
        orgs: Orgs | None = None,
        transport: httpx.BaseTransport | None = None,
        owns: bool = True,
    ) -> None:
        self.config = config
        if isinstance(store, StateStore):
            self._store: StateStore | None = store
            self._state_dir = store.paths.root
        else:
            self._store = None
            self._state_dir = store or default_state_dir(config.path or config.root / DEFAULT_PROJECT_FILE)
        self.transport = transport if orgs is None else orgs.transport
        self.orgs = (
            orgs if orgs is not None else Orgs(transport=self.transport, token_stores=self._token_store)
        )
        self._owns = owns
        self._tracker: WarningTracker | None = None
        self._parent: Project | None = None
        self._store_lock = threading.Lock()
        self._api_usage: dict[str, ApiUsage] = {}  # destination -> the last Sforce-Limit-Info a run saw

    @classmethod
    def load(
        cls,
        path: str | Path = DEFAULT_PROJECT_FILE,
        *,
        state_dir: str | Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> Project:
        """Load ``sfsync.yml`` (or the one in a directory) and open its state (``.sfsync/`` beside it)."""
        config = load_project(path)
        return cls(config, Path(state_dir) if state_dir else None, transport=transport)

    def with_config(self, config: ProjectConfig) -> Project:
        """The same project after its file changed: shares this one's state store and clients."""
        root = self._parent or self
        derived = Project(config, root._state_dir, orgs=self.orgs, owns=False)
        derived._parent = root
        return derived

    @property
    def store(self) -> StateStore:
        """The state store (opened, and created if need be, on first use)."""
        if self._parent is not None:
            return self._parent.store
        with self._store_lock:
            if self._store is None:
                files = self.config.state.files
                local = files.local_path if files is not None else None
                self._store = open_state(
                    self._state_dir,
                    self.config.state,
                    files=self.config.resolve_path(local) if local else None,
                )
            return self._store

    def _token_store(self, destination: str) -> TokenFile | TokenRow:
        """Where the refresh_token flow keeps the newest token (rotation): the shared PostgreSQL state when
        the project has one (every worker refreshes the same chain), else a file in the state directory."""
        if self.config.state.url is None:
            return TokenFile(self._state_dir, destination)  # the store is not opened for it
        return refresh_token_store(self.store, destination)

    @property
    def has_state(self) -> bool:
        """Whether the project has a state store already (any sync ran, was paused or planned)."""
        return (
            self._store is not None
            or (self._parent is not None and self._parent.has_state)
            or has_database(self._state_dir, self.config.state)
        )

    # ---- what the project holds ---------------------------------------------------------------------
    @property
    def syncs(self) -> list[str]:
        return list(self.config.syncs)

    def select(self, selectors: Sequence[str]) -> list[str]:
        """The syncs ``selectors`` pick (``NAME``, ``tag:NAME``, ``model:NAME``, ``dbt:NAME``; see
        :mod:`sfsync.config.select`), in the project file's order; ConfigError when one picks none."""
        return select_syncs(self.config, selectors)

    def model_description(self, model: str) -> str | None:
        """A model's description: its own, else the one its dbt model has in dbt's manifest."""
        self._require_model(model)
        return model_description(self.config, model) if model in self.config.models else None

    def require_sync(self, sync: str) -> None:
        """Raise NotFoundError when the project has no sync named ``sync``."""
        if sync not in self.config.syncs:
            where = f" in {self.config.path}" if self.config.path else ""
            raise NotFoundError(
                f"there is no sync {sync!r}{where}",
                what="sync",
                name=sync,
                hint=f"syncs: {', '.join(sorted(self.config.syncs)) or 'none'}",
            )

    def _tracker_for_warnings(self) -> WarningTracker:
        if self._tracker is None:
            self._tracker = WarningTracker(self.config, self.store)
        return self._tracker

    # ---- checking and describing --------------------------------------------------------------------
    def check(self, syncs: Sequence[str] | None = None) -> CheckReport:
        """Test every source and destination the syncs use and validate each sync (all when none named)."""
        for name in syncs or ():
            self.require_sync(name)
        return check_project(self.config, syncs, self.orgs.access(self.config))

    def problems(self, sync: str, config: ProjectConfig | None = None) -> list[Problem]:
        """Every problem of ``sync`` (of ``config``, default this project's) against its org and model:
        the object's describe, the model's columns, and for lookups the parents' describes and samples of
        the columns (what ``check`` and every run validate)."""
        cfg = config or self.config
        resolved = cfg.resolve_sync(sync)
        client = self.orgs.client(cfg, resolved.destination_name)
        describe = client.describe(resolved.sync.object)
        with open_source(cfg, resolved.source_name) as source:
            query = query_for(cfg, resolved.sync.from_)
            columns = source.columns(query)
            related = SourceRelated(lambda obj: client.describe(obj).raw, source, query)
            return validate_sync(cfg, sync, describe.raw, columns, related)

    def destination_name(self, destination: str | None = None) -> str:
        """``destination``, or the project's only destination when none is named."""
        names = sorted(self.config.destinations)
        if destination is not None:
            if destination not in self.config.destinations:
                raise NotFoundError(
                    f"there is no destination {destination!r}",
                    what="destination",
                    name=destination,
                    hint=f"destinations: {', '.join(names) or 'none'}",
                )
            return destination
        if len(names) == 1:
            return names[0]
        if not names:
            raise NotFoundError(
                "the project has no destination",
                what="destination",
                name="",
                hint="add one under destinations: in the project file",
            )
        raise NotFoundError(
            "the project has several destinations",
            what="destination",
            name="",
            hint=f"pick one with --destination: {', '.join(names)}",
        )

    def describe(self, object_name: str, destination: str | None = None) -> ObjectDescribe:
        """An object's describe from ``destination`` (the only one when not named)."""
        return self.orgs.client(self.config, self.destination_name(destination)).describe(object_name)

    def objects(self, destination: str | None = None, *, fresh: bool = False) -> GlobalDescribe:
        """Every object the org describes; ``fresh`` asks the org again (and forgets cached describes)."""
        client = self.orgs.client(self.config, self.destination_name(destination))
        if fresh:
            client.invalidate_describe()
        return client.describe_global()

    def query(self, soql: str, destination: str | None = None, *, limit: int = 200) -> list[dict[str, Any]]:
        """Records of a SOQL query in ``destination`` (the only one when not named), at most ``limit``
        (what the demo and the web UI read back from the org)."""
        client = self.orgs.client(self.config, self.destination_name(destination))
        return list(itertools.islice(client.query(soql), limit))

    def count(self, soql: str, destination: str | None = None) -> int:
        """``totalSize`` of a ``SELECT COUNT() ...`` query in ``destination``."""
        return self.orgs.client(self.config, self.destination_name(destination)).count(soql)

    def columns(self, from_name: str) -> dict[str, LogicalType]:
        """The columns of a model or segment and their types, as its source reports them."""
        self._require_model(from_name)
        query = query_for(self.config, from_name)
        with open_source(self.config, query.source) as source:
            return source.columns(query)

    def preview(self, from_name: str, rows: int) -> tuple[dict[str, LogicalType], pa.Table, int]:
        """The first ``rows`` rows of a model or segment, with its column types and total row count."""
        self._require_model(from_name)
        query = query_for(self.config, from_name)
        with open_source(self.config, query.source) as source:
            return source.columns(query), source.preview(query, rows), source.count_rows(query)

    def _require_model(self, name: str) -> None:
        if name not in self.config.models and name not in self.config.segments:
            raise NotFoundError(f"there is no model or segment {name!r}", what="model", name=name)

    # ---- order of syncs ---------------------------------------------------------------------------------
    def _parents(self, syncs: Sequence[str]) -> dict[str, set[str]]:
        """The objects each sync's lookups name (``sfsync.sync.order.sync_parents``; a describe is one API
        call per object, cached by the client)."""

        def describe(sync: Sync) -> Mapping[str, Any] | None:
            try:
                return self.orgs.client(self.config, sync.to).describe(sync.object).raw
            except SfsyncError:
                return None

        return sync_parents(self.config.syncs, syncs, describe)

    def run_order(self, syncs: Sequence[str]) -> list[str]:
        """``syncs`` with parents before the children whose lookups name them (ConfigError for a cycle)."""
        for name in syncs:
            self.require_sync(name)
        return order_syncs(self.config.syncs, self._parents(syncs), syncs)

    def dependencies(self, syncs: Sequence[str]) -> dict[str, list[str]]:
        """For each of ``syncs``: the others that write an object its lookups name (they run first)."""
        for name in syncs:
            self.require_sync(name)
        return dependencies(self.config.syncs, self._parents(syncs), syncs)

    def run_groups(self, syncs: Sequence[str]) -> list[list[str]]:
        """``syncs`` in independent groups, each in run order (the scheduler runs a group in sequence)."""
        return groups(self.config.syncs, self._parents(syncs), syncs)

    @staticmethod
    def new_pass() -> RejectedParents:
        """What syncs run one after the other share: the parent rows rejected so far (give it to each
        :meth:`attempt` / :meth:`run` of the pass, in :meth:`run_order`)."""
        return RejectedParents()

    # ---- planning and running -----------------------------------------------------------------------
    def validate(self, sync: str) -> None:
        """Check one sync against the org's describe and its model's columns, as a run does before it
        writes: ConfigError listing every problem, or the error that kept it from being checked."""
        self.require_sync(sync)
        SyncSession(self.config, self.store, orgs=self.orgs).validate(sync)

    def plan(self, sync: str, *, full_resync: bool = False, api: ApiChoice | None = None) -> Plan:
        """What a run would do, without writing anything to Salesforce."""
        self.require_sync(sync)
        _check_api(api)
        session = SyncSession(self.config, self.store, orgs=self.orgs)
        return session.plan(sync, RunOptions(full_resync=full_resync, api=api))

    def attempt(
        self,
        sync: str,
        *,
        full_resync: bool = False,
        api: ApiChoice | None = None,
        trigger: Trigger = Trigger.API,
        progress: Progress | None = None,
        warn: bool = True,
        rejected_parents: RejectedParents | None = None,
    ) -> RunOutcome:
        """Run one sync now and say how it ended; never raises for a run that failed (the scheduler and
        the web UI call this). With ``warn`` the sync's warnings are evaluated and notified, and a sync
        whose source, model or org is broken pauses itself."""
        self.require_sync(sync)
        _check_api(api)
        options = RunOptions(
            full_resync=full_resync,
            api=api,
            trigger=trigger,
            progress=progress,
            rejected_parents=rejected_parents,
        )
        outcome = self._attempt(sync, options, warn)
        if outcome.run_id is not None and self.config.logs is not None:
            outcome = replace(outcome, logs=export_logs(self.config, self.store))
        return outcome

    def export_logs(self, *, again: bool = False) -> LogExport:
        """Write the finished runs not yet in the project's sync log tables (``logs:``); with ``again``,
        every run of the history (writing a run twice replaces it). Never raises: see ``.error``."""
        if self.config.logs is None:
            raise ConfigError(
                "the project has no logs: section",
                hint="add logs: {source: NAME} (docs/project-file.md#sync-logs-in-the-warehouse)",
            )
        return export_logs(self.config, self.store, again=again)

    def _attempt(self, sync: str, options: RunOptions, warn: bool) -> RunOutcome:
        # Each run has its own client, so its API call count is its own (several runs may be in flight).
        session = SyncSession(self.config, self.store, transport=self.transport)
        try:
            result = session.run(sync, options)
        except SyncBusyError as exc:
            log.info("sync %s: skipped, already running (%s)", sync, exc.message)
            return RunOutcome(sync, OutcomeKind.BUSY, error=exc.message, exception=exc)
        except SfsyncError as exc:
            log.error("sync %s: run %s failed: %s", sync, exc.run_id or "-", exc.message)
            if not warn:
                verdict = verdict_of(self.store, self.config, exc.run_id)
                return RunOutcome(
                    sync, OutcomeKind.FAILED, exc.run_id, str(exc), exception=exc, verdict=verdict
                )
            return follow_run(self.store, self._tracker_for_warnings(), sync, None, exc)
        finally:
            self._note_api_usage(session, sync)
            session.close()
        c = result.counts
        log.info(
            "sync %s: run %d %s: %d read, %d created, %d updated, %d rejected, %d API calls in %.1f s",
            sync,
            result.run_id,
            result.status,
            c.rows_read,
            c.created,
            c.updated,
            c.rejected,
            c.api_calls,
            result.duration_s,
        )
        if not warn:
            verdict = verdict_of(self.store, self.config, result.run_id)
            return RunOutcome(
                sync, outcome_kind(result.status), result.run_id, result.error, result=result, verdict=verdict
            )
        return follow_run(self.store, self._tracker_for_warnings(), sync, result, None)

    def run(
        self,
        sync: str,
        *,
        full_resync: bool = False,
        api: ApiChoice | None = None,
        trigger: Trigger = Trigger.API,
        progress: Progress | None = None,
        warn: bool = True,
        rejected_parents: RejectedParents | None = None,
    ) -> RunResult:
        """Run one sync now and return what it did (raises ``SfsyncError`` when the run fails as a whole).

        With ``warn`` (the default) the run is judged like a scheduled one: the sync's warnings are
        evaluated and notified, and a sync whose source, model or org is broken pauses itself.
        """
        outcome = self.attempt(
            sync,
            full_resync=full_resync,
            api=api,
            trigger=trigger,
            progress=progress,
            warn=warn,
            rejected_parents=rejected_parents,
        )
        if outcome.exception is not None:
            raise outcome.exception
        assert outcome.result is not None
        return outcome.result

    def recheck(self, sync: str, *, confirm_by_run: bool = False) -> bool:
        """Validate a sync that paused itself; resume it when the check passes. The recovery notice goes
        out now, or with ``confirm_by_run`` (a scheduled sync, which runs next) once that run succeeds."""
        if not self.store.sync_status(sync).pause_automatic:
            return False
        session = SyncSession(self.config, self.store, orgs=self.orgs)
        try:
            session.validate(sync)
        except SfsyncError as exc:
            log.info("sync %s: still paused, its check fails: %s", sync, exc.message)
            return False
        if not self.store.sync_status(sync).pause_automatic:
            return False  # resumed or paused by a person meanwhile
        resume_sync(
            self.store,
            sync,
            tracker=self._tracker_for_warnings(),
            automatic=True,
            confirm_by_run=confirm_by_run,
        )
        return True

    # ---- pausing ------------------------------------------------------------------------------------
    def pause(self, sync: str, reason: str | None = None, *, user: str | None = None) -> StatusView:
        """Pause a sync by hand (``user`` defaults to the OS user): the scheduler skips it until resumed."""
        self.require_sync(sync)
        pause_sync(self.store, sync, manual_cause(reason, user=user))
        return self.status(sync)

    def resume(self, sync: str) -> StatusView:
        """Resume a paused sync (a recovery notice goes out if its pause was notified)."""
        self.require_sync(sync)
        resume_sync(self.store, sync, tracker=self._tracker_for_warnings())
        return self.status(sync)

    def status(self, sync: str) -> StatusView:
        """Paused or active (by whom, since when, why), and the warnings firing."""
        if not self.has_state:
            return StatusView(sync, paused=False, automatic=False, cause=None, since=None, firing=())
        return status_view(self.store, sync)

    def notice_paused_skip(self, sync: str) -> None:
        """The scheduler skipped a due slot of a paused sync: fire its ``paused`` warning once."""
        self._tracker_for_warnings().skipped_while_paused(sync, self.store.sync_status(sync).pause_cause)

    def notice_resumed_elsewhere(self, sync: str) -> None:
        """A sync was resumed by another process while its ``paused`` warning fired: send the recovery."""
        resume_sync(self.store, sync, tracker=self._tracker_for_warnings())

    def full_resync_risk(self, sync: str) -> FullResyncRisk | None:
        """For an ``insert`` sync, what a full resync would create (None for update and upsert syncs,
        where a full resync only sends every row again)."""
        self.require_sync(sync)
        return full_resync_risk(self.config, self.store if self.has_state else None, sync)

    # ---- health and history -------------------------------------------------------------------------
    def health(self, sync: str) -> SyncHealth:
        """The sync's state (healthy, warning, failing, paused, never run, running) and why, in one line."""
        self.require_sync(sync)
        return sync_health(self.config, self.store if self.has_state else None, sync)

    def verdict(self, run: RunRecord) -> RunVerdict:
        """How ``run`` reads everywhere: its status, whether it warns, and why (one line)."""
        by_code = self.store.rejected_counts(run.id) if run.counts.rejected else {}
        sync = self.config.syncs.get(run.sync)
        return judge_run(run, sync.warnings if sync is not None else None, by_code)

    def runs(self, sync: str | None = None, limit: int = 50) -> list[RunRecord]:
        return self.store.runs(sync, limit)

    def last_run(self, sync: str) -> RunRecord | None:
        return self.store.last_run(sync)

    def get_run(self, run_id: int) -> RunRecord:
        """One run (NotFoundError when there is none with this id)."""
        return self.store.get_run(run_id)

    def rejected_counts(self, run_id: int) -> dict[str, int]:
        return self.store.rejected_counts(run_id)

    def rejected_rows(
        self, run_id: int, code: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[RowResult]:
        return self.store.rejected_rows(run_id, code, limit=limit, offset=offset)

    def rejected_table(self, run_id: int, code: str | None = None) -> pa.Table:
        return self.store.rejected_table(run_id, code)

    # ---- the row debugger ---------------------------------------------------------------------------
    def rows(
        self,
        sync: str,
        query: str | None = None,
        *,
        outcome: Outcome = "all",
        run_id: int | None = None,
        sort: SortKey = "run",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> RowPage:
        """Row results of ``sync`` across its runs whose primary key, error code, message or record id
        contains ``query``; ``outcome`` ``rejected`` or ``accepted`` keeps only those; sorted and paged."""
        self.require_sync(sync)
        if not self.has_state:
            return RowPage([], 0, offset, limit)
        return RowDebugger(self.store, sync).search(
            query,
            outcome=outcome,
            run_id=run_id,
            sort=sort,
            descending=descending,
            limit=limit,
            offset=offset,
        )

    def row(self, sync: str, key: str) -> list[RowRun]:
        """The row of ``sync`` with primary key ``key`` in every run that still has row results, newest
        first: the operation, record id or error, and the values the run sent (NotFoundError if none)."""
        self.require_sync(sync)
        found = RowDebugger(self.store, sync).history(key) if self.has_state else []
        if not found:
            raise NotFoundError(
                f"no run of sync {sync!r} has a result for the row with primary key {key!r}",
                what="row",
                name=key,
                hint=f"search the rows with `sfsync rows {sync} TEXT` (row results are kept for the "
                "latest runs of each sync)",
            )
        return found

    # ---- the org's API quota ------------------------------------------------------------------------
    def _note_api_usage(self, session: SyncSession, sync: str) -> None:
        destination = self.config.syncs[sync].to
        usage = session.orgs.api_usage(destination)
        if usage is not None:
            (self._parent or self)._api_usage[destination] = usage

    def api_usage(self) -> dict[str, ApiUsage]:
        """Each destination's daily API usage as the last run of this process saw it (Salesforce reports
        it on every answer: ``Sforce-Limit-Info``); destinations no run reached yet are absent."""
        return dict((self._parent or self)._api_usage)

    # ---- lifetime -----------------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns:
            self.orgs.close()
            if self._store is not None:
                self._store.close()
                self._store = None

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["FullResyncRisk", "Project"]
