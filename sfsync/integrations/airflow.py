"""Airflow: the callable an Airflow task runs to sync (docs/deployment.md#airflow has the DAG).

Airflow itself is not imported: a ``@task`` (or ``PythonOperator``) calls :func:`run_syncs` in a worker
where sfsync is installed. A task fails by raising, and what it returns goes to XCom, so
:func:`run_syncs` runs the syncs in sfsync's order (parents before the children whose lookups name
them, sharing the rejected parents as ``sfsync run`` does), returns each run as JSON-ready data (the
shape of ``sfsync run --json``), and raises ``SfsyncError`` naming every sync whose run failed, after the
others ran. A partial run (rows rejected, each stored with Salesforce's reason) is logged as a warning
and returned; ``fail_on_partial=True`` fails the task for those too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from sfsync.api import OutcomeKind, Project, run_outcome_view
from sfsync.errors import SfsyncError

log = logging.getLogger(__name__)


def run_syncs(
    project_file: str | Path = "sfsync.yml",
    syncs: Sequence[str] | None = None,
    *,
    select: Sequence[str] | None = None,
    fail_on_partial: bool = False,
    state_dir: str | Path | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[dict[str, Any]]:
    """Run ``syncs`` and the ones ``select`` picks (NAME, tag:NAME, model:NAME, dbt:NAME; all when both
    are empty) of the project; see the module's docstring for what it returns and raises."""
    with Project.load(project_file, state_dir=state_dir, transport=transport) as project:
        names = list(syncs or ())
        if select:
            names += [n for n in project.select(select) if n not in names]
        elif not names:
            names = project.syncs
        rejected = project.new_pass()
        results: list[dict[str, Any]] = []
        failed: list[str] = []
        for name in project.run_order(names):
            outcome = project.attempt(name, rejected_parents=rejected)
            results.append(run_outcome_view(outcome))
            text = (
                (outcome.verdict.reason if outcome.verdict else None) or outcome.error or outcome.kind.value
            )
            if outcome.kind is OutcomeKind.PARTIAL:
                log.warning("sync %s: run %s partial: %s", name, outcome.run_id, text)
            if outcome.kind not in (OutcomeKind.SUCCEEDED, OutcomeKind.PARTIAL) or (
                fail_on_partial and outcome.kind is OutcomeKind.PARTIAL
            ):
                failed.append(f"{name} (run {outcome.run_id or '-'}) {outcome.kind.value}: {text}")
    if failed:
        raise SfsyncError(
            f"{len(failed)} of {len(results)} sync run(s) did not succeed: {'; '.join(failed)}",
            problems=failed,
            hint="see them with `sfsync runs` (rejected rows: `sfsync show-run RUN_ID --rejected`)",
        )
    return results


__all__ = ["run_syncs"]
