"""The emulated org's data: records of every object, with the rules a real org enforces.

This module is the contract between the record engine (``store``, ``validate``, ``soql``) and the HTTP
layer (``rest``, ``bulk``). Values crossing it are JSON values as the REST API carries them: str, int,
float, bool, None; dates ``YYYY-MM-DD``; datetimes ``YYYY-MM-DDTHH:MM:SS.000+0000``.
Thread-safe: the HTTP layer calls it from many threads at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sfsync.emulator.model import FieldDef, OrgConfig


@dataclass
class RecordError:
    status_code: str            # e.g. REQUIRED_FIELD_MISSING
    message: str
    fields: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}

    def to_bulk(self) -> str:
        """The ``sf__Error`` cell of Bulk failedResults: ``CODE:message[:fields]``."""
        text = f"{self.status_code}:{self.message}"
        return f"{text}:{','.join(self.fields)}" if self.fields else text


@dataclass
class SaveResult:
    id: str | None
    success: bool
    errors: list[RecordError] = field(default_factory=list)
    created: bool | None = None      # set by upsert only

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
    """A request-level error: the HTTP layer answers ``status`` with ``[{"message", "errorCode", "fields"}]``."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None,
                 body: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.body = body             # when set (e.g. 300 multiple matches), sent instead of the error array

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

    path: str                      # as selected, e.g. "Account.Name"
    field: FieldDef | None         # None for aggregates
    object: str                    # object that owns the field


@dataclass
class QueryResult:
    object: str
    columns: list[ColumnInfo]
    total_size: int
    records: Iterator[dict[str, Any]]   # JSON-ready records with "attributes", parents nested
    is_count: bool = False


@dataclass
class BulkRowResult:
    id: str | None
    created: bool
    error: RecordError | None


class Org:
    """All records of one emulated org, stored in SQLite (``db_path`` or in memory)."""

    def __init__(self, config: OrgConfig, db_path: str | None = None) -> None:
        raise NotImplementedError

    # ---- records through REST (JSON values) -------------------------------------------------
    def create(self, obj: str, records: Sequence[dict[str, Any]], *, all_or_none: bool = False,
               user_id: str | None = None) -> list[SaveResult]:
        raise NotImplementedError

    def update(self, records: Sequence[dict[str, Any]], *, obj: str | None = None,
               all_or_none: bool = False, user_id: str | None = None) -> list[SaveResult]:
        raise NotImplementedError

    def upsert(self, obj: str, ext_field: str, records: Sequence[dict[str, Any]], *,
               all_or_none: bool = False, user_id: str | None = None) -> list[SaveResult]:
        raise NotImplementedError

    def delete(self, ids: Sequence[str], *, all_or_none: bool = False) -> list[SaveResult]:
        raise NotImplementedError

    def get(self, obj: str, record_id: str, fields: Sequence[str] | None = None,
            version: str = "62.0") -> dict[str, Any]:
        raise NotImplementedError

    def query(self, soql: str, *, include_deleted: bool = False, version: str = "62.0") -> QueryResult:
        raise NotImplementedError

    # ---- records through Bulk API 2.0 (CSV cells: "" leaves unchanged, "#N/A" sets null) --------
    def bulk_load(self, obj: str, operation: str, ext_field: str | None, header: Sequence[str],
                  rows: Sequence[Sequence[str]], *, user_id: str | None = None) -> list[BulkRowResult]:
        raise NotImplementedError

    def reset(self) -> None:
        """Delete every record except the seeded users and organization."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
