"""What a load writes and where: the send table's key columns, the target object and mode, and what
both loaders (``sfsync.sync.load_rest``, ``sfsync.sync.load``) hand back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from sfsync.config import TargetMode
from sfsync.salesforce import SaveOptions
from sfsync.salesforce.bulk import IngestOperation
from sfsync.state.rowsearch import SentField, SentManifest
from sfsync.sync.encode import FieldMap, Lookup, send_column

PK = "__pk"
KEY = "__key"

OutcomeSink = Callable[[pa.Table, str | None], None]
"""Receives each table of outcomes and, for Bulk, the job id they were collected from."""


@dataclass(frozen=True)
class Target:
    """Where and how rows are written: object, mode, key field and field mappings."""

    object: str
    #: insert | update | upsert, or a removal (sfsync.sync.removals): clear | flag (updates) | delete
    mode: TargetMode
    key_field: str | None  # "Id" for update, the external id (or Id) for upsert, None for insert
    maps: tuple[FieldMap, ...]
    assignment: str = "none"  # the sync's assignment_rules: none | default | an AssignmentRule id
    duplicates: str = "enforce"  # the sync's duplicate_rules: enforce | allow_save

    @property
    def key(self) -> FieldMap | None:
        return FieldMap(KEY, self.key_field) if self.key_field else None

    @property
    def save_options(self) -> SaveOptions:
        return SaveOptions(assignment=self.assignment, allow_save=self.duplicates == "allow_save")

    @property
    def bulk_operation(self) -> IngestOperation:
        return _BULK_OPERATION[self.mode]

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "mode": self.mode,
            "key_field": self.key_field,
            "maps": [
                [m.column, m.field]
                if m.lookup is None
                else [m.column, m.field, {"lookup": m.lookup.to_json(), "clears": m.clears}]
                for m in self.maps
            ],
            "assignment": self.assignment,
            "duplicates": self.duplicates,
        }

    def sent_manifest(self, instance_url: str) -> SentManifest:
        """How the row debugger reads this target's send table back (``StateSettings.keep_sent_values``)."""
        assert self.mode in ("insert", "update", "upsert")  # a sync's own plan, not a removal
        return SentManifest(
            object=self.object,
            mode=self.mode,
            primary_key_column=PK,
            key_column=KEY if self.key_field else None,
            key_field=self.key_field,
            fields=tuple(SentField(m.column, m.field, send_column(m.column)) for m in self.maps),
            instance_url=instance_url,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        return cls(
            object=data["object"],
            mode=data["mode"],
            key_field=data["key_field"],
            maps=tuple(_field_map(item) for item in data["maps"]),
            assignment=data.get("assignment", "none"),
            duplicates=data.get("duplicates", "enforce"),
        )


#: The Bulk operation (and REST call) of each load mode: a removal's clearing and flagging are updates by Id.
_BULK_OPERATION: dict[TargetMode, IngestOperation] = {
    "insert": "insert",
    "update": "update",
    "upsert": "upsert",
    "clear": "update",
    "flag": "update",
    "delete": "delete",
}


def _field_map(item: list[Any]) -> FieldMap:
    if len(item) == 2:
        return FieldMap(item[0], item[1])
    extra = item[2]
    return FieldMap(item[0], item[1], Lookup.from_json(extra["lookup"]), bool(extra.get("clears")))


TARGET_FILE = "target.json"


@dataclass
class LoadStats:
    jobs: list[str] = field(default_factory=list)
    failed_jobs: list[str] = field(default_factory=list)  # "job id: errorMessage"


__all__ = ["KEY", "PK", "TARGET_FILE", "LoadStats", "OutcomeSink", "Target"]
