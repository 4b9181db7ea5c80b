"""Related records at run time: how each mapping is written, what sfsync resolves itself, and which
parent rows a run rejected.

- ``map_specs`` turns a sync's mappings into the loaders' ``FieldMap`` list: plain fields; lookups that
  Salesforce resolves (``Account.External_Id__c``: the parent's indexed field travels with the row, see
  ``sfsync.sync.encode``); and references sfsync resolves itself because Salesforce cannot: record types
  by DeveloperName (from describe's ``recordTypeInfos``, no API call) and owners by username, e-mail or
  queue name (SOQL on User and Group). Constants are columns the engine adds to every row before the
  diff (``add_constants``), so changing a constant changes every row, and only then is it sent again.
- ``resolve_owners`` / ``record_type_ids`` give the record ids those columns' values stand for.
- ``RejectedParents`` collects, over one pass of several syncs, the indexed-field values of rows a sync
  rejected, so a child row pointing at one of them is refused with a message saying so (and retried next
  run) instead of being sent to fail.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from sfsync.config import ConstantTarget, LookupTarget, OwnerTarget, Sync
from sfsync.config.mappings import OWNER_FIELD, RECORD_TYPE_FIELD, OwnerKey
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.describe import FieldInfo, ObjectDescribe
from sfsync.sync.encode import FieldMap, Lookup
from sfsync.sync.lookup import MAX_IN_CHARS, soql_literal

CONST_PREFIX = "__const__"
"""Columns the engine adds for constants: ``__const__LeadSource``."""


def constant_column(field_name: str) -> str:
    return CONST_PREFIX + field_name


def constants(sync: Sync) -> dict[str, object]:
    """Column name → value of every constant of ``sync`` (``record_type:`` included, as a DeveloperName)."""
    out: dict[str, object] = {
        constant_column(key): t.value for key, t in sync.mappings.items() if isinstance(t, ConstantTarget)
    }
    if sync.record_type is not None:
        out[constant_column(RECORD_TYPE_FIELD)] = sync.record_type
    return out


def _arrow_type(value: object) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, dt.datetime):
        return pa.timestamp("us", tz="UTC" if value.tzinfo else None)
    if isinstance(value, dt.date):
        return pa.date32()
    return pa.string()


def add_constants(reader: pa.RecordBatchReader, values: Mapping[str, object]) -> pa.RecordBatchReader:
    """``reader`` with one more column per constant (the same value on every row)."""
    if not values:
        return reader
    fields = [pa.field(name, _arrow_type(v)) for name, v in values.items()]
    schema = reader.schema
    for f in fields:
        schema = schema.append(f)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            cols = list(batch.columns)
            for f, v in zip(fields, values.values(), strict=True):
                cols.append(pa.array([v] * batch.num_rows, f.type))
            yield pa.RecordBatch.from_arrays(cols, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


@dataclass(frozen=True)
class MapSpec:
    """One mapping as the planner handles it: what it sends, and what sfsync resolves first."""

    map: FieldMap
    resolve: str | None = None  # None | "record_type" | "owner"
    owner_by: tuple[OwnerKey, ...] = ()
    display: str = ""  # how plan and runs name it ("company_id → Account.External_Id__c (lookup)")


def map_specs(sync: Sync, describe: ObjectDescribe) -> list[MapSpec]:
    """The mappings of a validated sync, with exact API names from ``describe``."""

    def exact(name: str) -> str:
        f = describe.field(name)
        return f.name if f is not None else name

    out: list[MapSpec] = []
    for entry in sync.entries:
        t = entry.target
        if isinstance(t, ConstantTarget):
            col = constant_column(entry.key)
            out.append(MapSpec(FieldMap(col, exact(entry.key)), display=entry.describe_text))
        elif isinstance(t, OwnerTarget):
            out.append(MapSpec(FieldMap(entry.key, OWNER_FIELD), "owner", t.by, display=entry.describe_text))
        elif isinstance(t, LookupTarget):
            ref = _reference_field(describe, t)
            if t.is_record_type:
                spec = MapSpec(
                    FieldMap(entry.key, RECORD_TYPE_FIELD), "record_type", display=entry.describe_text
                )
                out.append(spec)
                continue
            targets = ref.reference_to if ref is not None else ()
            rel = (ref.relationship_name if ref is not None else None) or t.relationship or ""
            parent = t.object or (targets[0] if targets else rel)
            lk = Lookup(
                relationship=rel,
                parent_field=t.parent_field,
                reference_field=ref.name if ref is not None else f"{rel}Id",
                parent_object=parent,
                polymorphic=len(targets) > 1,
            )
            out.append(MapSpec(FieldMap(entry.key, lk.header, lk), display=entry.describe_text))
        else:
            out.append(MapSpec(FieldMap(entry.key, exact(t.field)), display=entry.describe_text))
    if sync.record_type is not None:
        col = constant_column(RECORD_TYPE_FIELD)
        out.append(
            MapSpec(
                FieldMap(col, RECORD_TYPE_FIELD), "record_type", display=f"record_type {sync.record_type}"
            )
        )
    return out


def _reference_field(describe: ObjectDescribe, t: LookupTarget) -> FieldInfo | None:
    if t.field is not None:
        return describe.field(t.field)
    rel = (t.relationship or "").lower()
    return next(
        (f for f in describe.fields if (f.relationship_name or "").lower() == rel and f.type == "reference"),
        None,
    )


# ---- record types and owners, resolved by sfsync ------------------------------------------------------
@dataclass(frozen=True)
class Resolution:
    """Value → record id, and value → why it was refused (values are matched case-insensitively)."""

    ids: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def resolve_record_types(describe: ObjectDescribe, values: Iterable[str]) -> Resolution:
    infos = [
        i
        for i in describe.raw.get("recordTypeInfos") or ()
        if not i.get("master") and i.get("active", True) and i.get("developerName")
    ]
    known = {str(i["developerName"]).lower(): str(i["recordTypeId"]) for i in infos}
    names = ", ".join(sorted(str(i["developerName"]) for i in infos)) or "none"
    res = Resolution()
    for v in values:
        rid = known.get(v.lower())
        if rid is not None:
            res.ids[v] = rid
        else:
            res.refused[v] = (
                f"{describe.name} has no active record type with DeveloperName {v!r} (record types: {names})"
            )
    return res


def _in_batches(values: Sequence[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for v in values:
        lit = len(soql_literal(v)) + 1
        if batch and size + lit > MAX_IN_CHARS:
            yield batch
            batch, size = [], 0
        batch.append(v)
        size += lit
    if batch:
        yield batch


_WHAT = {"username": "username", "email": "e-mail", "queue": "name"}


Candidates = dict[str, dict[str, list[tuple[str, bool]]]]
"""Per owner kind: lower-case value → (record id, active) of every record it names."""


def _owner_candidates(client: SalesforceClient, values: list[str], by: Sequence[OwnerKey]) -> Candidates:
    found: Candidates = {k: {} for k in by}
    for kind in by:
        for batch in _in_batches(values):
            literals = ",".join(soql_literal(v) for v in batch)
            if kind == "queue":
                soql = (
                    "SELECT Id, Name, DeveloperName FROM Group WHERE Type = 'Queue' AND "
                    f"(Name IN ({literals}) OR DeveloperName IN ({literals}))"
                )
                for rec in client.query(soql):
                    names = {str(rec.get("Name") or "").lower(), str(rec.get("DeveloperName") or "").lower()}
                    for key in names:
                        found[kind].setdefault(key, []).append((str(rec["Id"]), True))
                continue
            column = "Username" if kind == "username" else "Email"
            soql = f"SELECT Id, {column}, IsActive FROM User WHERE {column} IN ({literals})"
            for rec in client.query(soql):
                key = str(rec.get(column) or "").lower()
                found[kind].setdefault(key, []).append((str(rec["Id"]), bool(rec.get("IsActive"))))
    return found


def _pick_owner(value: str, found: Candidates, by: Sequence[OwnerKey]) -> tuple[str | None, str]:
    """The owner id of ``value`` (the first kind that names exactly one active record), or why none."""
    reasons: list[str] = []
    for kind in by:
        matches = found[kind].get(value.lower(), [])
        active = [rid for rid, ok in matches if ok]
        if len(active) == 1:
            return active[0], ""
        if len(active) > 1:
            who = "queues" if kind == "queue" else "active users"
            return None, f"{len(active)} {who} have this {_WHAT[kind]}"
        if matches:
            reasons.append(f"the user with this {_WHAT[kind]} is inactive")
    if not reasons:
        reasons = [
            " and ".join(f"no {'queue' if k == 'queue' else 'active user'} has this {_WHAT[k]}" for k in by)
        ]
    return None, "; ".join(reasons)


def resolve_owners(client: SalesforceClient, values: Iterable[str], by: Sequence[OwnerKey]) -> Resolution:
    """Owner ids for owner column values: the active user with that username or e-mail, or the queue
    with that name or developer name, tried in the order of ``by``. A value that matches nobody, only
    inactive users, or several records of the first kind that matches is refused."""
    todo = sorted({v for v in values if v})
    found = _owner_candidates(client, todo, by)
    res = Resolution()
    for v in todo:
        rid, why = _pick_owner(v, found, by)
        if rid is not None:
            res.ids[v] = rid
        else:
            res.refused[v] = f"owner {v!r}: {why}"
    return res


# ---- parents rejected earlier in a pass ------------------------------------------------------------------
class RejectedParents:
    """Values of indexed fields (object, field) of rows that syncs rejected earlier in one pass.

    Thread-safe: the scheduler may run unrelated syncs of a pass at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], dict[str, str]] = {}  # folded value -> sync that rejected it
        self._case_sensitive: dict[tuple[str, str], bool] = {}

    def add(
        self, sync: str, object_name: str, field_name: str, values: Iterable[str], case_sensitive: bool
    ) -> None:
        key = (object_name.lower(), field_name.lower())
        with self._lock:
            self._case_sensitive.setdefault(key, case_sensitive)
            bucket = self._values.setdefault(key, {})
            for v in values:
                bucket.setdefault(v if case_sensitive else v.lower(), sync)

    def lookup(self, object_name: str, field_name: str) -> Callable[[str], str | None]:
        """A function: value → the sync that rejected that parent row in this pass (or None)."""
        key = (object_name.lower(), field_name.lower())
        with self._lock:
            bucket = dict(self._values.get(key, {}))
            cs = self._case_sensitive.get(key, False)
        return lambda v: bucket.get(v if cs else v.lower())

    def __bool__(self) -> bool:
        with self._lock:
            return any(self._values.values())


__all__ = [
    "CONST_PREFIX",
    "MapSpec",
    "RejectedParents",
    "Resolution",
    "add_constants",
    "constant_column",
    "constants",
    "map_specs",
    "resolve_owners",
    "resolve_record_types",
]
