"""What the write planner works on: one incoming record (``Pending``) and the parent references it names.

Kept apart from ``writes`` so ``relations`` (reference resolution) and ``writes`` (the planner) can both
use them without importing each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sfsync.emulator.metadata.model import FieldDef
from sfsync.emulator.records.results import RecordError
from sfsync.emulator.records.store import Table


@dataclass
class Ref:
    """A parent named by external id: ``"Account": {"External_Id__c": "x"}`` or ``Account.External_Id__c``."""

    field: FieldDef  # the child's reference field (AccountId)
    parent: Table
    ext: FieldDef  # the parent's external-id field
    value: Any


class Pending:
    """One incoming record on its way to the table."""

    __slots__ = ("created", "error", "id", "key", "pos", "refs", "values")

    def __init__(
        self,
        pos: int,
        values: dict[str, Any],
        refs: list[Ref] | None = None,
        record_id: str | None = None,
        key: Any = None,
        error: RecordError | None = None,
        created: bool = False,
    ) -> None:
        self.pos = pos
        self.values = values
        self.refs = refs
        self.id = record_id
        self.key = key
        self.error = error
        self.created = created


def json_list(values: Iterable[Any]) -> str:
    return json.dumps(list(values))


def fold(value: Any, case_sensitive: bool) -> Any:
    """The matching key of a unique/external id value (case-insensitive unless the field is caseSensitive)."""
    return value.lower() if isinstance(value, str) and not case_sensitive else value
