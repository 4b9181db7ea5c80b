"""Values that cross the record engine's interface: per-record results, query results, request errors.

``org`` re-exports them; they live here so the engine's parts (``store``, ``validate``, ``soql``) can use
them without importing ``org``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sfsync.emulator.metadata.model import FieldDef


@dataclass
class RecordError:
    status_code: str  # e.g. REQUIRED_FIELD_MISSING
    message: str
    fields: list[str] = field(default_factory=list)
    #: what some errors add for single-record REST answers (a DuplicateMatch for DUPLICATES_DETECTED)
    detail: Any = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}

    def to_bulk(self) -> str:
        """The ``sf__Error`` cell of Bulk failedResults as real orgs write it: ``CODE:message:Field --``,
        ``CODE:message:--`` when no field is named. Recorded from real orgs in jsforce's test/bulk2.test.ts
        (``REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --``) and salesforcecli
        plugin-data's bulk NUTs (``INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--``)."""
        fields = f"{','.join(self.fields)} --" if self.fields else "--"
        return f"{self.status_code}:{self.message}:{fields}"


@dataclass
class SaveResult:
    id: str | None
    success: bool
    errors: list[RecordError] = field(default_factory=list)
    created: bool | None = None  # set by upsert only

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        out["success"] = self.success
        out["errors"] = [e.to_json() for e in self.errors]
        if self.created is not None:
            out["created"] = self.created
        return out


class OrgError(Exception):
    """A request-level error: the HTTP layer answers ``status`` with ``[{"message", "errorCode", ...}]``."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None, body: Any = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.body = body  # when set (e.g. 300 multiple matches), sent instead of the error array

    def to_json(self) -> Any:
        if self.body is not None:
            return self.body
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]


@dataclass
class ColumnInfo:
    """One selected column of a query, for ``columns=true`` metadata and Bulk query CSV headers."""

    path: str  # as selected, e.g. "Account.Name" (exact API casing)
    field: FieldDef | None  # None for aggregates
    object: str  # object that owns the field


@dataclass
class QueryResult:
    object: str
    columns: list[ColumnInfo]
    total_size: int
    records: Iterator[dict[str, Any]]  # JSON-ready records with "attributes", parents nested
    is_count: bool = False


@dataclass
class BulkRowResult:
    id: str | None
    created: bool
    error: RecordError | None
