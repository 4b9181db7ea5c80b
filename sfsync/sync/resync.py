"""What a full resync of an ``insert`` sync would do: every row of its model creates a new record (the web
UI and the API ask for confirmation with this)."""

from __future__ import annotations

from dataclasses import dataclass

from sfsync.config import Project
from sfsync.sources import open_source, query_for
from sfsync.state import StateStore


@dataclass(frozen=True)
class FullResyncRisk:
    """What ``--full-resync`` of an ``insert`` sync does: every row of its model creates a new record."""

    sync: str
    object: str
    rows: int  # rows of the model (or segment) now: the records a full resync creates
    created_before: int  # records earlier runs of the sync created (they stay: the new ones duplicate them)

    def text(self) -> str:
        before = f"; earlier runs created {self.created_before:,}" if self.created_before else ""
        return (
            f"sync {self.sync} inserts: a full resync creates a new {self.object} record for every one of "
            f"its {self.rows:,} rows, even rows that have a record already (duplicates{before})"
        )


def full_resync_risk(project: Project, store: StateStore | None, sync: str) -> FullResyncRisk | None:
    """For an ``insert`` sync, the rows a full resync would create and the records earlier runs created
    (``store`` None: the project has no state yet); None for update and upsert syncs."""
    cfg = project.syncs[sync]
    if cfg.mode != "insert":
        return None
    query = query_for(project, cfg.from_)
    with open_source(project, query.source) as source:
        rows = source.count_rows(query)
    created = sum(r.counts.created for r in store.runs(sync, 1_000_000)) if store is not None else 0
    return FullResyncRisk(sync, cfg.object, rows, created)


__all__ = ["FullResyncRisk", "full_resync_risk"]
