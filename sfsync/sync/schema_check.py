"""What a sync's mapping was last validated against, so that a run with nothing to send still notices a
model column whose type changed (or an edited mapping) without spending an API call when nothing did.

A run validates the mapping against the object's describe whenever it has rows to send. A run with
nothing to send calls Salesforce only if the *mapping schema* differs from the one stored with the sync's
snapshot (``SnapshotInfo.extra[SCHEMA_KEY]``): the sync's own settings that validation reads, its
model's kind, its destination, and the warehouse type of every column the sync reads. Reading those costs
a query of the model's schema (no rows) in the warehouse, no Salesforce call; so an unchanged rerun still
spends zero API calls, and the rerun after ``ALTER TABLE … TYPE`` validates again and refuses a mapping
that no longer fits.
"""

from __future__ import annotations

import json

from sfsync.config import Project, ResolvedSync
from sfsync.sources import open_source, query_for
from sfsync.state import StateStore

SCHEMA_KEY = "validated_schema"
"""Key of the mapping schema in the snapshot's ``extra``."""

RULES_VERSION = 1
"""Bumped when sfsync's mapping rules change, so every sync is validated again once after an upgrade."""


def mapping_schema(project: Project, resolved: ResolvedSync, columns: list[str]) -> str:
    """The mapping schema of a sync as canonical JSON (compared as text).

    ``columns``: the model columns the sync reads (primary key, object id column, mapped columns).
    """
    with open_source(project, resolved.source_name) as source:
        arrow = source.schema(query_for(project, resolved.sync.from_))
    types = {f.name: str(f.type) for f in arrow}
    dest = resolved.destination
    sync = resolved.sync.model_dump(
        mode="json", by_alias=True, exclude={"schedule", "warnings", "description", "api"}
    )
    return json.dumps(
        {
            "rules": RULES_VERSION,
            "sync": sync,
            "model_kind": resolved.model.kind,
            "destination": [
                resolved.destination_name,
                getattr(dest, "login_url", None),
                getattr(dest, "instance_url", None),
            ],
            "columns": {c: types.get(c, "missing") for c in columns},
        },
        sort_keys=True,
        default=str,
    )


def last_validated(store: StateStore, sync: str) -> str | None:
    """The mapping schema the sync's current snapshot was validated against (None: unknown)."""
    current = store.snapshots.current(sync)
    return current.extra.get(SCHEMA_KEY) if current is not None else None


__all__ = ["RULES_VERSION", "SCHEMA_KEY", "last_validated", "mapping_schema"]
