"""Running a sync: validate → read → diff → plan → load → record → advance the snapshot.

One run of one sync holds that sync's cross-process lock from start to end. Before a run starts, what a
crashed run left behind is settled (``recover``): its Open Bulk jobs are aborted, its closed jobs are
waited for and their results stored, the rows of its REST batches (and of Bulk jobs Salesforce no longer
knows) whose answers were lost are looked up in the org, and its snapshot advances for the rows
Salesforce accepted, so a kill at any point neither loses a row nor writes one twice (docs/state.md,
"Crash safety", with the limits of the look-up).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow as pa

from sfsync.config import Api, ApiChoice, Project, ResolvedSync
from sfsync.errors import ConfigError, SfsyncError, StateError, is_interrupt
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.describe import ObjectDescribe
from sfsync.sources import open_source, query_for
from sfsync.state import (
    BulkJobProgress,
    RunCounts,
    RunPhase,
    RunStatus,
    StateStore,
    Trigger,
    finished_status,
)
from sfsync.state.failures import unwritable
from sfsync.state.results import RunParts
from sfsync.state.rowsearch import keep_sent
from sfsync.sync import planners
from sfsync.sync.connect import Orgs
from sfsync.sync.diff import DiffResult, DiffSettings, compute_diff, pending_diffs
from sfsync.sync.inflight import RestJournal, settle_vanished_job
from sfsync.sync.lease_lost import lease_lost
from sfsync.sync.live import LiveProgress
from sfsync.sync.load import load_bulk
from sfsync.sync.load_rest import load_rest
from sfsync.sync.outcomes import REMOVAL_DONE
from sfsync.sync.plan import Plan, PlanSettings, build_plan
from sfsync.sync.progress import (
    BulkJobChanged,
    Diffed,
    PhaseStarted,
    Planned,
    Progress,
    Reading,
    RunStarted,
    Sent,
)
from sfsync.sync.reconcile import ReconcileSettings
from sfsync.sync.recovery import settle_journal
from sfsync.sync.references import RejectedParents, add_constants, constants
from sfsync.sync.rejected_parents import note_rejected_parents
from sfsync.sync.removals import RemovalPlan, check_guard, plan_removals, send_removals
from sfsync.sync.run_end import finish_anyway, record_interrupted, run_counts
from sfsync.sync.schema_check import last_validated, mapping_schema
from sfsync.sync.tally import Tally
from sfsync.sync.target import LoadStats
from sfsync.sync.validate import validate_sync
from sfsync.sync.validate_related import SourceRelated
from sfsync.sync.workfiles import fetch_remote_diffs, forget_run, forget_settled

log = logging.getLogger(__name__)

_RUN_FILE = "run.json"
#: A diff that no run claimed (a dry run still planning, or a crash right after diffing) is removed
#: by a later run's recovery once it is this old.
UNCLAIMED_DIFF_SECONDS = 3600
#: Row results are kept for this many latest runs of each sync; older runs keep their counts only.
KEEP_RESULTS_OF_RUNS = 100
_RECONCILE = ReconcileSettings()


@dataclass(frozen=True)
class RunOptions:
    full_resync: bool = False
    api: ApiChoice | None = None  # overrides the sync's setting
    trigger: Trigger = Trigger.MANUAL
    progress: Progress | None = None
    #: Parent rows rejected by syncs run earlier in the same pass (``run A B``, ``--all``, a scheduler
    #: tick): this run refuses children pointing at them and adds the rows it rejects itself.
    rejected_parents: RejectedParents | None = None


@dataclass(frozen=True)
class RunResult:
    """What one run did, as stored in the run history."""

    run_id: int
    sync: str
    status: RunStatus
    api: Api | None
    counts: RunCounts
    rejected_by_code: dict[str, int]
    duration_s: float
    error: str | None = None
    failed_jobs: tuple[str, ...] = ()
    recovered_runs: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Watch:
    """Turns what the Bulk loader tells into progress events."""

    sync: str
    progress: Progress

    def job(self, job: BulkJobProgress) -> None:
        self.progress(BulkJobChanged(self.sync, job))

    def phase(self, phase: RunPhase) -> None:
        self.progress(PhaseStarted(self.sync, phase))


def _claim(diff: DiffResult, run_id: int | None) -> None:
    """Mark the diff as this run's (None: a dry run's), so recovery knows what to do with it."""
    try:
        (diff.work_dir / _RUN_FILE).write_text(json.dumps({"run_id": run_id}))
    except OSError as exc:
        raise unwritable(exc, diff.work_dir, "the run's work files (nothing was sent)") from exc


class SyncSession:
    """One project and its state store, with the Salesforce clients (``orgs``) runs and plans share.

    ``orgs`` is shared when given (the caller closes it); otherwise the session opens its own, with
    ``transport`` (tests mount the emulator in-process), and :meth:`close` closes it.
    """

    def __init__(
        self,
        project: Project,
        store: StateStore,
        *,
        orgs: Orgs | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.project = project
        self.store = store
        self._owns_orgs = orgs is None
        self.orgs = orgs if orgs is not None else Orgs.for_store(store, transport=transport)

    def client(self, resolved: ResolvedSync) -> SalesforceClient:
        return self.orgs.client(self.project, resolved.destination_name)

    def close(self) -> None:
        if self._owns_orgs:
            self.orgs.close()

    # ---- the steps ----------------------------------------------------------------------------------
    def validate(self, name: str) -> tuple[ResolvedSync, ObjectDescribe, list[str]]:
        """Check the sync against the org's describe and its model's columns (ConfigError lists all)."""
        resolved = self.project.resolve_sync(name)
        client = self.client(resolved)
        describe = client.describe(resolved.sync.object)
        with open_source(self.project, resolved.source_name, spill_dir=self.store.paths.tmp) as source:
            query = query_for(self.project, resolved.sync.from_)
            columns = source.columns(query)
            related = SourceRelated(lambda obj: client.describe(obj).raw, source, query)
            problems = validate_sync(self.project, name, describe.raw, columns, related)
        if problems:
            raise ConfigError(
                f"sync `{name}` cannot run: {len(problems)} problem(s) with its mapping; nothing was written",
                problems=[str(p) for p in problems],
                file=str(self.project.path) if self.project.path else None,
            )
        return resolved, describe, self.needed_columns(resolved)

    @staticmethod
    def needed_columns(resolved: ResolvedSync) -> list[str]:
        """The model columns a sync reads: primary key, object id column, mapped columns."""
        needed = [resolved.model.primary_key]
        if resolved.sync.object_id is not None:
            needed.append(resolved.sync.object_id.column)
        needed += resolved.sync.mapped_columns
        return list(dict.fromkeys(needed))

    def diff(
        self,
        resolved: ResolvedSync,
        needed: list[str],
        full_resync: bool,
        progress: Progress | None = None,
    ) -> DiffResult:
        pk = resolved.model.primary_key
        with open_source(self.project, resolved.source_name, spill_dir=self.store.paths.tmp) as source:
            available = source.columns(query_for(self.project, resolved.sync.from_))
            missing = [c for c in needed if c not in available]
            if missing:
                sync = resolved.sync
                roles = {c: "mapped" for c in sync.mapped_columns}
                if sync.object_id is not None:
                    roles[sync.object_id.column] = "object_id"
                roles[pk] = "primary key"
                raise ConfigError(
                    f"sync `{resolved.name}` reads column(s) {', '.join(missing)} its model does not have;"
                    " nothing was written",
                    problems=[
                        f"sync {resolved.name!r}, column {c!r}: {roles.get(c, 'mapped')} column {c!r} "
                        f"is not a column of model {sync.from_!r}"
                        for c in missing
                    ],
                    hint=f"the model's columns are: {', '.join(available)}",
                )
            # constants are columns too: a changed constant changes every row, and is sent again
            fixed = constants(resolved.sync)
            # the primary key is compared too when it is mapped to a field: the plan needs its send column
            mapped = set(resolved.sync.mapped_columns)
            value_columns = [c for c in needed if c != pk or c in mapped] + list(fixed) or [pk]
            on_read = (
                None
                if progress is None
                else lambda rows: progress(PhaseStarted(resolved.name, RunPhase.DIFFING))
            )
            query = query_for(self.project, resolved.sync.from_, needed)
            if planners.uses_warehouse(resolved):
                return planners.diff_in_warehouse(
                    self.project,
                    self.store,
                    resolved,
                    source,
                    query,
                    columns=value_columns,
                    constants=fixed,
                    full_resync=full_resync,
                    on_read=on_read,
                )
            planners.bring_home(self.project, self.store, resolved.name)
            reader = add_constants(source.read(query), fixed)
            return compute_diff(
                self.store,
                resolved.name,
                reader,
                primary_key=pk,
                columns=value_columns,
                full_resync=full_resync,
                model=resolved.model_name,
                settings=DiffSettings.of(self.project.state),
                on_read=on_read,
            )

    def plan(self, name: str, options: RunOptions | None = None) -> Plan:
        """A dry run: read, diff and plan; nothing is written to Salesforce and the snapshot is untouched."""
        options = options or RunOptions()
        resolved, describe, needed = self.validate(name)
        diff = self.diff(resolved, needed, options.full_resync)
        try:
            return self._plan_for(self.client(resolved), resolved, diff, describe, options, guard=False)
        finally:
            # the plan's files live in the diff's work directory: keep them readable for the caller,
            # but mark the diff as a dry run so recovery discards it
            _claim(diff, None)

    def _plan_for(
        self,
        client: SalesforceClient,
        resolved: ResolvedSync,
        diff: DiffResult,
        describe: ObjectDescribe,
        options: RunOptions,
        *,
        guard: bool,
    ) -> Plan:
        """The plan of ``diff``: its removals (``guard``: a run stops here, before anything is written,
        when the removal guard trips) and its sends, saying which planner diffed."""
        settings = self._plan_settings(resolved, options)
        gone = planners.gone_rows(self.project, self.store, diff)
        removals = plan_removals(client, self.store, resolved, diff, describe, settings, gone)
        if guard and removals is not None:
            check_guard(resolved, removals)
        parents = options.rejected_parents if guard else None
        plan = build_plan(client, resolved, diff, describe, settings, parents)
        planner, rows_out = planners.planner_of(diff)
        return dataclasses.replace(plan, removals=removals, planner=planner, rows_out=rows_out)

    def _plan_settings(self, resolved: ResolvedSync, options: RunOptions) -> PlanSettings:
        s = resolved.destination.settings
        api = options.api or resolved.sync.api
        return PlanSettings(
            api=api,
            bulk_threshold=s.bulk_threshold,
            rest_batch_size=s.rest_batch_size,
            bulk_max_bytes=s.bulk_max_bytes,
        )

    # ---- recovery -------------------------------------------------------------------------------------
    def recover(self, name: str, client: SalesforceClient) -> list[int]:
        """Settle what crashed runs of ``name`` left: Bulk jobs, stored results, the snapshot."""
        reaped = [r.id for r in self.store.reap_interrupted(name)]
        settled = settle_journal(self.store, client, name)
        advanced: set[int] = set()
        published = fetch_remote_diffs(self.store, name)  # diffs of workers that are gone (state.files)
        for diff in pending_diffs(self.store, name):
            marker = diff.work_dir / _RUN_FILE
            if not marker.exists():
                # a `plan` (it takes no lock) may be building it right now: leave young ones alone
                if time.time() - diff.created_at.timestamp() > UNCLAIMED_DIFF_SECONDS:
                    diff.discard()
                continue
            run_id = json.loads(marker.read_text()).get("run_id")
            if run_id is None:  # a finished dry run
                diff.discard()
                continue
            planners.advance(self.project, self.store, diff, self.store.accepted_keys(run_id))
            self._settle_counts(run_id, diff)
            advanced.add(run_id)
        for run_id in dict.fromkeys([*reaped, *settled]):
            if run_id not in advanced:  # its diff was gone already: counts from its results alone
                self._settle_counts(run_id, None)
        forget_settled(self.store, name, published)
        return reaped

    def _settle_counts(self, run_id: int, diff: DiffResult | None) -> None:
        """Give a recovered run the counts of what it really did, from its stored results (the crash left
        them as they were when it died)."""
        accepted = self.store.row_results(run_id, success=True)
        created = sum(1 for r in accepted if r.operation == "created")
        removed = sum(1 for r in accepted if r.operation in REMOVAL_DONE.values())
        rejected = sum(self.store.rejected_counts(run_id).values())
        run = self.store.get_run(run_id)
        c = diff.counts if diff is not None else None
        self.store.update_run(
            run_id,
            RunCounts(
                rows_read=c.rows if c else run.counts.rows_read,
                new=c.new if c else run.counts.new,
                changed=c.changed if c else run.counts.changed,
                unchanged=c.unchanged if c else run.counts.unchanged,
                created=created,
                updated=len(accepted) - created - removed,
                rejected=rejected,
                api_calls=run.counts.api_calls,
                removed=removed,
            ),
        )

    # ---- a run --------------------------------------------------------------------------------------
    def run(self, name: str, options: RunOptions | None = None) -> RunResult:
        options = options or RunOptions()
        resolved = self.project.resolve_sync(name)
        lock = self.store.lock(name)
        lock.acquire()
        try:
            client = self.client(resolved).guarded(lock.check)  # each call checks the lease first
            recovered = self._recover_or_record(name, client, options)
            run = self.store.start_run(name, options.trigger)
            lock.set_run_id(run.id)
            live = LiveProgress(self.store, options.progress)
            live(RunStarted(name, run.id))
            started = time.monotonic()
            calls_before = client.stats.calls
            tally = Tally()
            plan: Plan | None = None
            diff: DiffResult | None = None
            stats = LoadStats()
            try:
                live(Reading(name, resolved.model_name))
                diff = self.diff(resolved, self.needed_columns(resolved), options.full_resync, live)
                _claim(diff, run.id)
                c = diff.counts
                live(Diffed(name, c.rows, c.new, c.changed, c.unchanged, c.resent))
                schema = mapping_schema(self.project, resolved, self.needed_columns(resolved))
                removing = resolved.sync.on_row_removed.removes and diff.counts.gone > 0
                if diff.counts.to_send == 0 and not removing:
                    # Nothing changed: Salesforce is not called at all (zero API calls), unless the
                    # mapping or the model's column types changed since the mapping was last validated
                    if schema != last_validated(self.store, name):
                        self.validate(name)
                    planners.advance(
                        self.project, self.store, diff, pa.array([], pa.string()), validated=schema
                    )
                else:
                    live(PhaseStarted(name, RunPhase.PLANNING))
                    resolved, describe, _needed = self.validate(name)
                    # the removal guard stops the run here, before anything is written (the diff is dropped)
                    plan = self._plan_for(client, resolved, diff, describe, options, guard=True)
                    removals = plan.removals
                    removing_rows = removals.to_send if removals is not None else 0
                    live(Planned(name, plan.api, plan.to_send + removing_rows, plan.refused))
                    self._keep_sent(run.id, plan, client)
                    live(PhaseStarted(name, RunPhase.SENDING))
                    stats = self._load(client, resolved, run.id, diff, plan, tally, live)
                    if removals is not None:
                        more = self._remove(client, resolved, run.id, diff, removals, tally, live)
                        stats.failed_jobs.extend(more.failed_jobs)
                    if options.rejected_parents is not None and tally.rejected:
                        note_rejected_parents(
                            options.rejected_parents, resolved, describe, diff, tally.rejected_keys
                        )
                    lock.check()  # a worker that took the sync over advances it from the journal
                    planners.advance(self.project, self.store, diff, tally.accepted_keys(), validated=schema)
                    forget_run(self.store, diff.work_dir)
            except SfsyncError as exc:
                counts = run_counts(diff, tally, client.stats.calls - calls_before)
                api = plan.api if plan else None
                if is_interrupt(exc):  # e.g. a Ctrl-C that reached a source as an error
                    record_interrupted(self.store, run.id, counts, api, live, lock)
                    raise KeyboardInterrupt from exc
                if lock.lost:  # another worker may own the sync now: what the run left is its to settle
                    raise lease_lost(self.store, run.id, lock) from exc
                if diff is not None and plan is None:
                    diff.discard()  # stopped before anything was sent: nothing to recover
                live.flush()
                finish_anyway(self.store, run.id, RunStatus.FAILED, counts, api=api, error=exc.full_text())
                exc.run_id = run.id
                raise
            except BaseException as exc:
                counts = run_counts(diff, tally, client.stats.calls - calls_before)
                record_interrupted(self.store, run.id, counts, plan.api if plan else None, live, lock)
                if is_interrupt(exc) and not isinstance(exc, KeyboardInterrupt):
                    raise KeyboardInterrupt from exc  # DuckDB's RuntimeError("Query interrupted")
                raise
            counts = run_counts(diff, tally, client.stats.calls - calls_before)
            retried = diff.counts.resent if diff is not None else 0
            status = finished_status(counts, failed=bool(stats.failed_jobs), retried=retried)
            error = ("Bulk job(s) failed: " + "; ".join(stats.failed_jobs)) if stats.failed_jobs else None
            api = plan.api if plan else None
            live.flush()
            record = self.store.finish_run(run.id, status, counts, api=api, error=error)
            result = RunResult(
                run_id=run.id,
                sync=name,
                status=record.status,
                api=api,
                counts=counts,
                rejected_by_code=dict(tally.codes.most_common()),
                duration_s=time.monotonic() - started,
                error=error,
                failed_jobs=tuple(stats.failed_jobs),
                recovered_runs=tuple(recovered),
            )
            self.store.prune_results(KEEP_RESULTS_OF_RUNS)
            return result
        finally:
            lock.release()

    def _keep_sent(self, run_id: int, plan: Plan, client: SalesforceClient) -> None:
        """Keep the rows this run sends, for the row debugger (``StateSettings.keep_sent_values``)."""
        if not self.store.settings.keep_sent_values or not plan.to_send:
            return
        manifest = plan.target.sent_manifest(client.instance_url)  # logged in: the plan read describe
        keep_sent(RunParts.of(self.store.files, run_id), plan.send_path, manifest)

    def _recover_or_record(self, name: str, client: SalesforceClient, options: RunOptions) -> list[int]:
        """:meth:`recover`; if it fails, the failure is recorded as a run (so `sfsync runs` shows why the
        sync does not move) before the error goes up."""
        try:
            return self.recover(name, client)
        except SfsyncError as exc:
            run = self.store.start_run(name, options.trigger)
            finish_anyway(
                self.store,
                run.id,
                RunStatus.FAILED,
                RunCounts(),
                api=None,
                error=f"settling what an earlier run left failed; nothing was sent: {exc.full_text()}",
            )
            exc.run_id = run.id
            raise

    def _remove(
        self,
        client: SalesforceClient,
        resolved: ResolvedSync,
        run_id: int,
        diff: DiffResult,
        removals: RemovalPlan,
        tally: Tally,
        progress: Progress,
    ) -> LoadStats:
        """Clear, flag or delete the records of rows that left the model (``sfsync.sync.removals``):
        journaled and stored like any other write, in their own work directories."""

        def sink(table: pa.Table, job_id: str | None) -> None:
            self.store.record_results(run_id, table, collected_job_id=job_id)
            tally.add(table)
            progress(Sent(resolved.name, table.num_rows, removals.to_send))

        return send_removals(
            client,
            self.store,
            removals,
            sink,
            run_id=run_id,
            work_dir=diff.work_dir,
            settings=resolved.destination.settings,
            watch=_Watch(resolved.name, progress),
            reconcile=_RECONCILE,
        )

    def _load(
        self,
        client: SalesforceClient,
        resolved: ResolvedSync,
        run_id: int,
        diff: DiffResult,
        plan: Plan,
        tally: Tally,
        progress: Progress,
    ) -> LoadStats:
        """Store refused rows, send the rest; every outcome is stored as soon as it is known."""

        def sink(table: pa.Table, job_id: str | None) -> None:
            self.store.record_results(run_id, table, collected_job_id=job_id)
            tally.add(table)
            progress(Sent(resolved.name, table.num_rows, plan.to_send))

        refused = plan.refused_rows()
        if refused.num_rows:
            sink(refused, None)
        if not plan.to_send:
            return LoadStats()
        journal = RestJournal(self.store, client, run_id, plan.target, diff.work_dir / "rest", _RECONCILE)
        if plan.api == "bulk":

            def vanished(job_id: str, keys_path: Path) -> tuple[pa.Table, str | None]:
                entry = self.store.journal_entry(job_id)
                if entry is None:  # never journaled: never uploaded to, so never processed
                    raise StateError(f"Bulk job {job_id} vanished before it was journaled")
                return settle_vanished_job(self.store, client, entry, plan.target, keys_path, _RECONCILE)

            return load_bulk(
                client,
                plan.target,
                plan.rows(),
                sink,
                store=self.store,
                run_id=run_id,
                work_dir=diff.work_dir / "bulk",
                max_bytes=resolved.destination.settings.bulk_max_bytes,
                reload=plan.rows_for,
                lock_retries=resolved.destination.settings.bulk_lock_retries,
                watch=_Watch(resolved.name, progress),
                vanished=vanished,
                rest_journal=journal,
            )
        load_rest(client, plan.target, plan.rows(), sink, journal=journal)
        return LoadStats()


__all__ = ["RunOptions", "RunResult", "SyncSession"]
