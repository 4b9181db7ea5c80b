"""``on_row_removed``: what a sync does to the record of a row that left its model or segment.

Shapes (docs/project-file.md, "on_row_removed")::

    on_row_removed: keep                                  # the default: the record stays as it is
    on_row_removed: delete                                # shorthand for {action: delete}
    on_row_removed: {action: clear}                       # null every mapped field (not the object id)
    on_row_removed: {action: clear, fields: [Segment__c]} # null only these mapped fields
    on_row_removed: {action: set, values: {Active__c: false}}
    on_row_removed: {action: delete, max_percent: 5, max_rows: 500}

``max_percent`` and ``max_rows`` form the guard: a run that would remove more than ``max_percent`` of
the rows of the last snapshot, or more than ``max_rows`` rows, stops before writing anything. An
``insert`` sync may only ``keep`` (checked by :class:`sfsync.config.project.Sync`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sfsync.config.mappings import ConstantValue

RemovalAction = Literal["keep", "clear", "set", "delete"]
"""keep the record as it is; clear mapped fields; set given values; delete the record (recycle bin)."""

#: Default guard: a run may remove at most this share of the sync's rows (of the last snapshot).
DEFAULT_MAX_REMOVED_PERCENT = 10.0
#: Default guard: a run may remove at most this many rows, whatever the share.
DEFAULT_MAX_REMOVED_ROWS = 10_000


class OnRowRemoved(BaseModel):
    """What happens to the record of a row that left the sync's model or segment, and the guard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: RemovalAction = Field(
        default="keep",
        description="keep (default): nothing; clear: null mapped fields; set: write `values`; "
        "delete: delete the record (to the recycle bin)",
    )
    fields: list[str] | None = Field(
        default=None,
        description="clear: the mapped fields to null (default: every mapped field but the object id)",
    )
    values: dict[str, ConstantValue] | None = Field(
        default=None, description="set: field → value written to the record of each removed row"
    )
    max_percent: float = Field(
        default=DEFAULT_MAX_REMOVED_PERCENT,
        ge=0,
        le=100,
        description="guard: stop before writing when more than this share of the sync's rows left",
    )
    max_rows: int = Field(
        default=DEFAULT_MAX_REMOVED_ROWS,
        ge=0,
        description="guard: stop before writing when more than this many rows left",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"action": v} if isinstance(v, str) else v

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError(
                "list at least one field to clear, or leave `fields` out to clear every mapped field"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> OnRowRemoved:
        if self.action == "set" and not self.values:
            raise ValueError("action `set` needs `values`: {Field: value, ...} to write on each removed row")
        if self.action != "set" and self.values is not None:
            raise ValueError(f"`values` only goes with action `set` (this one is `{self.action}`)")
        if self.action != "clear" and self.fields is not None:
            raise ValueError(f"`fields` only goes with action `clear` (this one is `{self.action}`)")
        return self

    @property
    def removes(self) -> bool:
        """Whether rows that leave change anything in Salesforce."""
        return self.action != "keep"


__all__ = [
    "DEFAULT_MAX_REMOVED_PERCENT",
    "DEFAULT_MAX_REMOVED_ROWS",
    "OnRowRemoved",
    "RemovalAction",
]
