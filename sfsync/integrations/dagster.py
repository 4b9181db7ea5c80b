"""Dagster: one software-defined asset per sync, run through the Python API (``sfsync.api.Project``).

``sync_assets("sfsync.yml")`` gives one asset per sync (key ``["sfsync", SYNC]``, group ``sfsync``).
An asset depends on the syncs whose objects its lookups name (they write the parents first, as
``sfsync run`` orders them) and, when its model is a dbt model, on that dbt model's asset (key
``[DBT_MODEL]`` by default, what dagster-dbt gives a model; change it with ``dbt_asset_key``). It depends on
nothing else: a sync reads only its model and the org.

How a run is surfaced (docs/deployment.md#dagster):

- succeeded: the materialization carries the run's numbers as metadata (``sfsync/run_id``, rows read,
  created, updated, rejected, API calls, duration);
- partial (some rows rejected, each stored with Salesforce's reason): the asset is still materialized
  (the accepted rows are in the org), the metadata lists rejected rows by error code, a warning goes to
  the run's log, and the asset check ``rejected_rows`` fails with severity WARN when the rejected share
  is over the sync's ``warnings.rejected_rows_percent`` (it passes otherwise). ``fail_on_partial=True``
  makes any rejected row fail the step instead;
- failed, interrupted, crashed, or busy (another worker runs the sync): the step raises
  ``dagster.Failure`` with the reason and the run id, so Dagster marks the asset failed and skips what
  depends on it.

Needs the optional extra: ``pip install 'sfsync[dagster]'``.
"""

# no `from __future__ import annotations`: Dagster reads the context parameter's annotation at run time

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from sfsync.api import OutcomeKind, Project, RunOutcome

DEFAULT_KEY_PREFIX: tuple[str, ...] = ("sfsync",)
"""First parts of every sync asset's key: ``["sfsync", SYNC]``."""
DEFAULT_GROUP = "sfsync"
"""The asset group of the sync assets."""
REJECTED_CHECK = "rejected_rows"
"""The asset check on each sync asset: rejected rows within the sync's warning threshold."""


def default_dbt_asset_key(dbt_model: str) -> dg.AssetKey:
    """The key dagster-dbt gives a dbt model by default: its name."""
    return dg.AssetKey([dbt_model])


def _metadata(outcome: RunOutcome) -> dict[str, Any]:
    meta: dict[str, Any] = {"sfsync/sync": outcome.sync, "sfsync/status": outcome.kind.value}
    if outcome.run_id is not None:
        meta["sfsync/run_id"] = outcome.run_id
    result = outcome.result
    if result is not None:
        c = result.counts
        meta.update(
            {
                "sfsync/rows_read": c.rows_read,
                "sfsync/created": c.created,
                "sfsync/updated": c.updated,
                "sfsync/rejected": c.rejected,
                "sfsync/api_calls": c.api_calls,
                "sfsync/duration_s": round(result.duration_s, 3),
                "sfsync/api": result.api or "-",
            }
        )
        for code, n in sorted(result.rejected_by_code.items()):
            meta[f"sfsync/rejected/{code}"] = n
    if outcome.verdict is not None and outcome.verdict.reason:
        meta["sfsync/reason"] = outcome.verdict.reason
    return meta


def _failure_text(outcome: RunOutcome) -> str:
    run = f" (run {outcome.run_id})" if outcome.run_id is not None else ""
    reason = (outcome.verdict.reason if outcome.verdict else None) or outcome.error or outcome.kind.value
    return f"sfsync {outcome.sync}{run} {outcome.kind.value}: {reason}"


def surface(outcome: RunOutcome, log: Any, *, fail_on_partial: bool = False) -> dg.MaterializeResult[Any]:
    """A sync's outcome as Dagster expects it: a materialization with metadata and the rejected-rows check,
    or ``dagster.Failure`` for a run that did not finish (see the module's docstring)."""
    meta = _metadata(outcome)
    finished = outcome.kind in (OutcomeKind.SUCCEEDED, OutcomeKind.PARTIAL)
    if not finished or (fail_on_partial and outcome.kind is OutcomeKind.PARTIAL):
        raise dg.Failure(description=_failure_text(outcome), metadata=meta)
    warns = outcome.verdict is not None and outcome.verdict.warning
    if outcome.kind is OutcomeKind.PARTIAL:
        log.warning(_failure_text(outcome))
    check = dg.AssetCheckResult(
        check_name=REJECTED_CHECK,
        passed=not warns,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"sfsync/rejected": int(meta.get("sfsync/rejected", 0))},
        description=outcome.verdict.reason if outcome.verdict is not None and warns else None,
    )
    return dg.MaterializeResult(metadata=meta, check_results=[check])


def _dbt_model(project: Project, sync: str) -> str | None:
    config = project.config
    from_ = config.syncs[sync].from_
    segment = config.segments.get(from_)
    model = config.models.get(segment.model if segment is not None else from_)
    return model.dbt.model if model is not None and model.dbt is not None else None


def _one_asset(
    path: Path,
    sync: str,
    deps: list[dg.AssetKey],
    *,
    key_prefix: Sequence[str],
    description: str | None,
    open_project: Callable[[], Project],
    fail_on_partial: bool,
) -> dg.AssetsDefinition:
    key = dg.AssetKey([*key_prefix, sync])

    def _run_sync(context: dg.AssetExecutionContext) -> dg.MaterializeResult[Any]:
        with open_project() as project:
            outcome = project.attempt(sync)
        return surface(outcome, context.log, fail_on_partial=fail_on_partial)

    # Dagster reads the return annotation at definition time and knows the bare class only
    _run_sync.__annotations__["return"] = dg.MaterializeResult
    return dg.asset(
        key=key,
        deps=deps,
        group_name=DEFAULT_GROUP,
        description=description or f"sfsync sync {sync} ({path})",
        kinds={"salesforce"},
        check_specs=[dg.AssetCheckSpec(REJECTED_CHECK, asset=key)],
    )(_run_sync)


def sync_assets(
    project_file: str | Path = "sfsync.yml",
    *,
    syncs: Sequence[str] | None = None,
    select: Sequence[str] | None = None,
    key_prefix: Sequence[str] = DEFAULT_KEY_PREFIX,
    dbt_asset_key: Callable[[str], dg.AssetKey | None] = default_dbt_asset_key,
    fail_on_partial: bool = False,
    state_dir: str | Path | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[dg.AssetsDefinition]:
    """One Dagster asset per sync of the project (``syncs`` or the ones ``select`` picks: NAME, tag:NAME,
    model:NAME, dbt:NAME; default all). Each materialization loads the project file again (an edit is
    picked up without reloading the code location) and runs the sync through ``Project.attempt``.

    ``state_dir``: the project's state (default ``.sfsync/`` beside the project file). ``transport``: an
    httpx transport for every Salesforce call (tests mount the org emulator in-process with it)."""
    path = Path(project_file)
    with Project.load(path, state_dir=state_dir, transport=transport) as project:
        names = list(syncs or ())
        if select:
            names += [n for n in project.select(select) if n not in names]
        elif syncs is None:
            names = project.syncs
        for name in names:
            project.require_sync(name)
        parents: Mapping[str, list[str]] = project.dependencies(names)
        infos = {n: (_dbt_model(project, n), project.config.syncs[n].description or None) for n in names}

    def open_project() -> Project:
        return Project.load(path, state_dir=state_dir, transport=transport)

    assets = []
    for name in names:
        dbt_model, description = infos[name]
        deps = [dg.AssetKey([*key_prefix, p]) for p in parents[name]]
        upstream = dbt_asset_key(dbt_model) if dbt_model is not None else None
        if upstream is not None:
            deps.append(upstream)
        assets.append(
            _one_asset(
                path,
                name,
                deps,
                key_prefix=key_prefix,
                description=description,
                open_project=open_project,
                fail_on_partial=fail_on_partial,
            )
        )
    return assets


__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_KEY_PREFIX",
    "REJECTED_CHECK",
    "default_dbt_asset_key",
    "surface",
    "sync_assets",
]
