"""Find in the org what rows of a lost write became: the crash-safety step for REST batches whose answers
never arrived and for Bulk jobs Salesforce no longer knows.

Both leave rows *in flight*: sent (or maybe sent), outcome unknown. Sending them again is harmless for
``update`` and ``upsert`` (the same values are written again) but would duplicate an ``insert``. So before
anything is sent again, the org is asked what those rows became, and every row found written gets the
outcome it would have had (accepted, with its record id): it is not sent again, and the run history
counts it.

- ``insert``: the records the integration user created on the object since the rows were journaled
  (``CreatedById`` = the user, ``CreatedDate`` at or after the journal time minus
  ``clock_skew_seconds``), minus the records whose ids the state store already knows, are paired with
  the rows by the values sent (every field a row sent must be equal; fields it did not send are
  ignored). Rows with the same values are interchangeable, so pairing them in any order is exact (as
  for Bulk results).
- ``update`` / ``upsert``: the record each row's key names is read; the row was written when every field
  it sent holds the value sent. An upsert's record counts as created when the user created it inside the
  window and no stored result knows its id.

Values are compared in a canonical form per field type (numbers as numbers, datetimes as instants, e-mail
addresses case-insensitively, multi-select picklists as sets). Limits (docs/state.md): a trigger, flow or
rule that rewrites a value on insert makes the record unrecognisable (the row is sent again: a duplicate),
and another program creating identical records as the same user inside the window could be taken for ours.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from sfsync.config import TargetMode
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.describe import ObjectDescribe
from sfsync.sync import outcomes
from sfsync.sync.encode import BULK_NULL
from sfsync.sync.lookup import _in_batches, soql_literal
from sfsync.sync.target import Target

log = logging.getLogger(__name__)

NOT_SENT = object()
"""A field a row did not send (an empty cell): not compared."""

#: Field types whose values can go into a SOQL IN list as quoted text (to narrow the candidates).
_TEXT_FILTER_TYPES = frozenset({"string", "email", "phone", "url", "picklist", "combobox", "id", "reference"})
_NUMBER_TYPES = frozenset({"int", "long", "double", "currency", "percent"})


@dataclass(frozen=True)
class ReconcileSettings:
    """Tuning of the search for rows whose outcome was lost."""

    #: How far Salesforce's clock may lag behind this machine's. Records created since the journal time
    #: minus this are candidates; a wider window only costs query rows (known record ids are excluded).
    clock_skew_seconds: float = 300.0


@dataclass(frozen=True)
class InFlight:
    """Rows whose outcome is unknown: primary keys, the cells sent (Bulk CSV text, one column per field
    of ``csv_fields``; null or empty = not sent, ``#N/A`` = cleared), and when they were journaled."""

    keys: list[str]
    cells: pa.Table
    since: datetime


@dataclass(frozen=True)
class Found:
    """What the org says about rows in flight: outcomes of the rows found written; keys of the others."""

    written: pa.Table
    missing: list[str]


def user_id(client: SalesforceClient) -> str:
    """The integration user's id: from the session's identity URL, else ``userinfo``."""
    uid = client.authenticate().user_id
    if uid:
        return uid
    info = client.request("GET", "/services/oauth2/userinfo", new_work=False, what="read userinfo").json()
    return str(info.get("user_id") or info.get("sub", "").rstrip("/").rsplit("/", 1)[-1])


def find_written(
    client: SalesforceClient,
    target: Target,
    rows: InFlight,
    *,
    known_ids: Iterable[str],
    settings: ReconcileSettings | None = None,
) -> Found:
    """Ask the org which of ``rows`` were written (see the module docstring)."""
    settings = settings or ReconcileSettings()
    if not rows.keys:
        return Found(outcomes.empty(), [])
    if target.mode in outcomes.REMOVAL_DONE:
        # a removal is safe to repeat (a clear or flag writes the same values again; a delete of a record
        # in the recycle bin answers ENTITY_IS_DELETED, counted as done): its rows stay in the snapshot
        # and are removed again next run rather than looked for
        return Found(outcomes.empty(), list(rows.keys))
    describe = client.describe(target.object)
    # a lookup's cell holds the parent's key, the record its id: lookups are not compared (so rows that
    # differ only by their lookups look alike; docs/state.md, "Limits")
    types = {m.field: _field_type(describe, m.field) for m in target.maps if m.lookup is None}
    sent = _sent_values(rows, target, types)
    since = rows.since.astimezone(UTC) - timedelta(seconds=settings.clock_skew_seconds)
    known = set(known_ids)
    if target.mode == "insert":
        pairs = _match_inserts(client, target, describe, types, sent, since, known)
        ops = {k: "created" for k in pairs}
    else:
        pairs, ops = _match_keys(client, target, describe, types, rows, sent, since, known)
    written = [k for k in rows.keys if k in pairs]
    table = pa.table(
        [
            pa.array(written, pa.string()),
            pa.array([True] * len(written)),
            pa.array([ops[k] for k in written], pa.string()),
            pa.array([pairs[k] for k in written], pa.string()),
            pa.nulls(len(written), pa.string()),
            pa.nulls(len(written), pa.string()),
            pa.nulls(len(written), pa.string()),
        ],
        schema=outcomes.OUTCOME_SCHEMA,
    )
    missing = [k for k in rows.keys if k not in pairs]
    log.info(
        "%s: %d of %d row(s) in flight found written in %s; %d not found",
        target.object,
        len(written),
        len(rows.keys),
        target.object,
        len(missing),
    )
    return Found(table, missing)


# ---- values -------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Number:
    """A number compared within half a unit of its field's last decimal place (exactly without a scale)."""

    value: Decimal
    scale: int | None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Number):
            return NotImplemented
        if not (self.value.is_finite() and other.value.is_finite()):
            return self.value == other.value
        scale = self.scale if self.scale is not None else other.scale
        if scale is None:
            return self.value == other.value
        return abs(self.value - other.value) <= Decimal(5).scaleb(-(scale + 1))

    def __hash__(self) -> int:
        return hash(("number", self.scale))  # equal numbers may differ: one bucket (never a pivot)


@dataclass(frozen=True)
class FieldKind:
    """What comparing a field's values needs from describe: its type and, for numbers, its scale."""

    type: str
    scale: int | None = None


def _field_type(describe: ObjectDescribe, name: str) -> FieldKind:
    f = describe.field(name)
    if f is None:
        return FieldKind("string")
    scale = f.raw.get("scale")
    return FieldKind(f.type, int(scale) if f.type in _NUMBER_TYPES and scale is not None else None)


def canonical(kind: FieldKind, value: Any) -> Any:
    """A value as compared: what the row sent (CSV text) and what the org returns (JSON) meet here.

    Numbers are equal within half a unit of the field's last decimal place, whether the org kept the
    digits sent (what Salesforce does through the API) or rounded them to the field's scale, either way
    (docs/salesforce-facts.md, "Numbers beyond a field's decimal places")."""
    if value is None:
        return None
    ftype = kind.type
    if ftype == "boolean":
        return str(value).lower() == "true" if isinstance(value, str) else bool(value)
    if ftype in _NUMBER_TYPES:
        try:
            number = Decimal(repr(value) if isinstance(value, float) else str(value))
        except InvalidOperation:
            return str(value)
        return _Number(number, kind.scale)
    if ftype == "datetime":
        try:
            return datetime.fromisoformat(str(value)).astimezone(UTC)
        except ValueError:
            return str(value)
    if ftype == "date":
        return str(value)[:10]
    if ftype == "time":
        text = str(value).rstrip("Z")
        return text if "." in text else text + ".000"
    if ftype == "email":
        return str(value).casefold()
    if ftype == "multipicklist":
        return frozenset(v for v in str(value).split(";") if v)
    return str(value)


def _sent_values(rows: InFlight, target: Target, types: Mapping[str, FieldKind]) -> dict[str, dict[str, Any]]:
    """Per primary key: field → canonical value sent (None: cleared). Unsent fields are left out."""
    out: dict[str, dict[str, Any]] = {}
    columns = {fld: rows.cells.column(fld).to_pylist() for fld in types}
    for i, key in enumerate(rows.keys):
        values: dict[str, Any] = {}
        for fld, cells in columns.items():
            cell = cells[i]
            if cell is None or cell == "":
                continue
            values[fld] = None if cell == BULK_NULL else canonical(types[fld], cell)
        out[key] = values
    return out


def _record_values(record: Mapping[str, Any], types: Mapping[str, FieldKind]) -> dict[str, Any]:
    return {fld: canonical(kind, record.get(fld)) for fld, kind in types.items()}


def _agrees(sent: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    return all(record.get(f) == v for f, v in sent.items())


# ---- insert: records the user created in the window ---------------------------------------------------


def _match_inserts(
    client: SalesforceClient,
    target: Target,
    describe: ObjectDescribe,
    types: Mapping[str, FieldKind],
    sent: Mapping[str, Mapping[str, Any]],
    since: datetime,
    known: set[str],
) -> dict[str, str]:
    """Primary key → id of the record created for it, for the rows found."""
    records = [
        (str(r["Id"]), _record_values(r, types))
        for r in _created_since(client, target, describe, types, sent, since)
        if str(r["Id"]) not in known and str(r["Id"])[:15] not in known
    ]
    by_value: dict[tuple[str, Any], list[int]] = defaultdict(list)
    for n, (_rid, values) in enumerate(records):
        for fld, v in values.items():
            by_value[(fld, _hashable(v))].append(n)
    used: set[int] = set()
    pairs: dict[str, str] = {}
    # most specific rows first, so a row sending fewer fields cannot take the record of one sending more
    for key in sorted(sent, key=lambda k: -len(sent[k])):
        want = sent[key]
        if not want:
            continue
        pivot = next(((f, v) for f, v in want.items() if not isinstance(v, _Number)), None)
        pool = by_value.get((pivot[0], _hashable(pivot[1])), []) if pivot else range(len(records))
        candidates = [n for n in pool if n not in used]
        exact = [n for n in candidates if _agrees(want, records[n][1])]
        if not exact:
            continue
        # prefer a record whose other mapped fields are empty, as the row left them
        exact.sort(key=lambda n: sum(v is not None for f, v in records[n][1].items() if f not in want))
        used.add(exact[0])
        pairs[key] = records[exact[0]][0]
    return pairs


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _created_since(
    client: SalesforceClient,
    target: Target,
    describe: ObjectDescribe,
    types: Mapping[str, FieldKind],
    sent: Mapping[str, Mapping[str, Any]],
    since: datetime,
) -> Iterator[dict[str, Any]]:
    """Records the user created on the object since ``since``, narrowed by one text field's values when
    every row sent one (fewer rows to read back after a large run)."""
    fields = ", ".join(["Id", *types])
    where = (
        f"CreatedById = {soql_literal(user_id(client))}"
        f" AND CreatedDate >= {since.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    pivot = _narrowing_field(describe, types, sent)
    if pivot is None:
        yield from client.query(f"SELECT {fields} FROM {target.object} WHERE {where}")
        return
    values = sorted({str(v) for row in sent.values() if (v := row.get(pivot)) is not None})
    for batch in _in_batches(values):
        listed = ",".join(map(soql_literal, batch))
        yield from client.query(
            f"SELECT {fields} FROM {target.object} WHERE {where} AND {pivot} IN ({listed})"
        )


def _narrowing_field(
    describe: ObjectDescribe, types: Mapping[str, FieldKind], sent: Mapping[str, Mapping[str, Any]]
) -> str | None:
    for fld, kind in types.items():
        f = describe.field(fld)
        ftype = kind.type
        if ftype not in _TEXT_FILTER_TYPES or ftype == "email" or f is None or not f.raw.get("filterable"):
            continue
        if all(row.get(fld) is not None for row in sent.values()):
            return fld
    return None


# ---- update / upsert: the record each key names -------------------------------------------------------


def _match_keys(
    client: SalesforceClient,
    target: Target,
    describe: ObjectDescribe,
    types: Mapping[str, FieldKind],
    rows: InFlight,
    sent: Mapping[str, Mapping[str, Any]],
    since: datetime,
    known: set[str],
) -> tuple[dict[str, str], dict[str, str]]:
    """(primary key → record id, primary key → created/updated) for the rows whose record holds what
    they sent."""
    column = target.key_field or "Id"  # the cells are named as the loader wrote them
    f = describe.field(column)
    key_field = f.name if f is not None else column
    case_sensitive = key_field.lower() == "id" or bool(f is not None and f.raw.get("caseSensitive"))

    def norm(v: str) -> str:
        return v[:15] if key_field.lower() == "id" else (v if case_sensitive else v.lower())

    row_keys = rows.cells.column(column).to_pylist()
    wanted = {k: str(v) for k, v in zip(rows.keys, row_keys, strict=True) if v}
    found: dict[str, dict[str, Any]] = {}
    fields = ", ".join(dict.fromkeys(["Id", "CreatedById", "CreatedDate", key_field, *types]))
    for batch in _in_batches(sorted(set(wanted.values()))):
        listed = ",".join(map(soql_literal, batch))
        for rec in client.query(f"SELECT {fields} FROM {target.object} WHERE {key_field} IN ({listed})"):
            value = rec.get(key_field)
            if value is not None:
                found[norm(str(value))] = rec
    me = user_id(client)[:15]
    pairs: dict[str, str] = {}
    ops: dict[str, str] = {}
    for pk, key in wanted.items():
        hit = found.get(norm(key))
        if hit is None or not _agrees(sent[pk], _record_values(hit, types)):
            continue
        rid = str(hit["Id"])
        pairs[pk] = rid
        created = (
            target.mode == "upsert"
            and str(hit.get("CreatedById") or "")[:15] == me
            and _instant(hit.get("CreatedDate")) >= since
            and rid not in known
            and rid[:15] not in known
        )
        ops[pk] = "created" if created else "updated"
    return pairs, ops


def _instant(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def not_found(keys: Sequence[str], mode: TargetMode, why: str) -> pa.Table:
    """Outcomes for rows in flight that the org does not hold: they are sent again next run."""
    return outcomes.rejections(
        list(keys),
        mode,
        "NOT_PROCESSED",
        f"{why}; the org does not hold what this row sent, so it is sent again next run",
    )


__all__ = [
    "FieldKind",
    "Found",
    "InFlight",
    "ReconcileSettings",
    "canonical",
    "find_written",
    "not_found",
    "user_id",
]
