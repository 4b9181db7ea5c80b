"""Mapping validation: a sync checked against its model's columns and the object's describe.

Runs before anything is written (``sfsync check``, and before every ``plan`` and ``run``). Each
:class:`Problem` names the sync, the column and field involved, both types where types matter, and how to
fix it. ``describe`` is the JSON dict Salesforce sends for ``GET …/sobjects/{Obj}/describe``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from sfsync.config import ConstantTarget, LookupTarget, OwnerTarget
from sfsync.config.project import Project, Sync
from sfsync.sources.types import LogicalType
from sfsync.sync.automation_check import automation_problems
from sfsync.sync.removals_check import object_describe, removal_problems
from sfsync.sync.validate_related import Related, RelatedChecks

USER_OBJECTS = frozenset({"contact", "lead"})
"""Objects that stand for people: their syncs must come from a ``user`` model (or a segment of one)."""

_TEXT = frozenset(
    {
        "string",
        "textarea",
        "email",
        "phone",
        "url",
        "picklist",
        "multipicklist",
        "combobox",
        "encryptedstring",
        "id",
        "reference",
    }
)
COMPATIBLE: dict[LogicalType, frozenset[str]] = {
    LogicalType.TEXT: _TEXT,
    LogicalType.INTEGER: frozenset({"int", "long", "double", "currency", "percent"}),
    LogicalType.DECIMAL: frozenset({"double", "currency", "percent"}),
    LogicalType.FLOAT: frozenset({"double", "currency", "percent"}),
    LogicalType.BOOLEAN: frozenset({"boolean"}),
    LogicalType.DATE: frozenset({"date"}),
    LogicalType.TIMESTAMP: frozenset({"datetime"}),
    LogicalType.TIME: frozenset({"time"}),
    LogicalType.OTHER: frozenset(),
}
"""Model column logical type → the Salesforce field types it may feed (docs/project-file.md's table)."""


@dataclass(frozen=True)
class Problem:
    """One reason a sync cannot run as configured."""

    sync: str
    message: str
    hint: str | None = None
    column: str | None = None
    field: str | None = None
    column_type: str | None = None
    field_type: str | None = None
    #: ``file:line`` of the project file where the sync (or the mapping concerned) is written
    location: str | None = None

    def __str__(self) -> str:
        where = f"{self.location}: sync {self.sync!r}" if self.location else f"sync {self.sync!r}"
        if self.column is not None:
            where += f", column {self.column!r}"
        if self.field is not None:
            where += f", field {self.field!r}"
        text = f"{where}: {self.message}"
        return f"{text} (fix: {self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compatible_field_types(column_type: LogicalType) -> frozenset[str]:
    """The Salesforce field types a column of ``column_type`` may feed."""
    return COMPATIBLE.get(column_type, frozenset())


def required_on_create(describe: Mapping[str, Any]) -> list[str]:
    """Names of the fields Salesforce requires when creating a record of this object."""
    return [
        str(f["name"])
        for f in describe.get("fields", [])
        if f.get("createable") and not f.get("nillable") and not f.get("defaultedOnCreate")
    ]


def _closest(name: str, options: Iterable[str]) -> str | None:
    pool = list(options)
    low = {o.lower(): o for o in pool}
    if name.lower() in low:
        return low[name.lower()]
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.7)
    return close[0] if close else None


class Checker:
    def __init__(
        self, name: str, sync: Sync, describe: Mapping[str, Any], columns: Mapping[str, LogicalType]
    ):
        self.name = name
        self.sync = sync
        self.describe = describe
        self.object = str(describe.get("name") or sync.object)
        self.fields: dict[str, Mapping[str, Any]] = {
            str(f["name"]).lower(): f for f in describe.get("fields", [])
        }
        self.field_names = [str(f["name"]) for f in describe.get("fields", [])]
        self.columns = columns
        self.problems: list[Problem] = []

    def add(self, message: str, hint: str | None = None, **where: str | None) -> None:
        self.problems.append(Problem(self.name, message, hint, **where))

    @staticmethod
    def closest(name: str, options: Iterable[str]) -> str | None:
        return _closest(name, options)

    def column(self, column: str, role: str) -> LogicalType | None:
        if column in self.columns:
            return self.columns[column]
        close = _closest(column, self.columns)
        hint = f"did you mean {close!r}? " if close else ""
        self.add(
            f"{role} column {column!r} is not a column of model {self.sync.from_!r}",
            f"{hint}the model's columns are: {', '.join(self.columns) or '(none)'}",
            column=column,
        )
        return None

    def field(self, column: str | None, field: str) -> Mapping[str, Any] | None:
        f = self.fields.get(field.lower())
        if f is None:
            close = _closest(field, self.field_names)
            self.add(
                f"{self.object} has no field {field!r}; sfsync never creates fields",
                (f"did you mean {close!r}? " if close else "")
                + f"map to an existing field (`sfsync describe {self.object}` lists them) "
                "or create it in Salesforce",
                column=column,
                field=field,
            )
        return f

    def types(
        self, column: str | None, ctype: LogicalType | None, f: Mapping[str, Any], role: str | None = None
    ) -> None:
        ftype = str(f.get("type"))
        if ctype is None or ftype in compatible_field_types(ctype):
            return
        ok = sorted(compatible_field_types(ctype))
        fits = sorted(t.value for t, types in COMPATIBLE.items() if ftype in types)
        what = f"{role}: " if role else ""
        self.add(
            f"{what}{'value' if column is None else 'column'} type {ctype.value} "
            f"cannot feed field type {ftype}",
            f"a {ctype.value} column feeds only {', '.join(ok) or 'no field type'}; field type {ftype} takes "
            f"{' or '.join(fits) or 'no column type sfsync writes'} columns: "
            "CAST the column in the model's SQL "
            "or map another field",
            column=column,
            field=str(f["name"]),
            column_type=ctype.value,
            field_type=ftype,
        )

    def writable(self, column: str | None, f: Mapping[str, Any]) -> None:
        mode, fname = self.sync.mode, str(f["name"])
        if mode in ("insert", "upsert") and not f.get("createable"):
            self.add(
                f"field {fname} of {self.object} is not createable, and mode {mode} creates records",
                "remove this mapping (read-only, formula, auto-number or system field) "
                "or check field-level security",
                column=column,
                field=fname,
            )
        if mode in ("update", "upsert") and not f.get("updateable"):
            self.add(
                f"field {fname} of {self.object} is not updateable, and mode {mode} updates records",
                "remove this mapping, or use mode insert if it is set only when a record is created",
                column=column,
                field=fname,
            )


def _kind(check: Checker, kind: str) -> None:
    needs = "user" if check.object.lower() in USER_OBJECTS else "custom"
    if kind != needs:
        check.add(
            f"{check.object} records must come from a {needs} model, "
            f"but {check.sync.from_!r} is a {kind} model",
            f"set kind: {needs} on the model if each row is "
            + ("one person" if needs == "user" else "one record of anything")
            + ", or sync this model to "
            + ("Account, Case, Contract or another object" if kind == "custom" else "another object"),
        )


def _object_id(check: Checker) -> str | None:
    """Check the object id mapping; return the field it writes (None when nothing)."""
    oid, mode = check.sync.object_id, check.sync.mode
    if oid is None:
        if mode in ("update", "upsert"):
            check.add(
                f"mode {mode} needs object_id to find the record each row goes to",
                "add object_id: {column: <model column>, field: Id or an external id field}",
            )
        return None
    ctype = check.column(oid.column, "object_id")
    f = check.field(oid.column, oid.field)
    if f is None:
        return None
    fname = str(f["name"])
    if fname == "Id":
        if mode == "insert":
            check.add(
                "mode insert creates records, so it cannot write Id",
                "remove object_id, or use mode update/upsert to write to existing records",
                column=oid.column,
                field=fname,
            )
    else:
        if not (f.get("externalId") or f.get("idLookup")):
            check.add(
                f"object_id field {fname} is neither Id nor an external id (externalId or idLookup) "
                f"on {check.object}",
                f"use Id, or mark {fname} as External ID in Salesforce, or pick a field `sfsync describe "
                f"{check.object}` shows as external id",
                column=oid.column,
                field=fname,
            )
        if mode in ("insert", "upsert") and not f.get("createable"):
            check.add(
                f"object_id field {fname} of {check.object} is not createable, "
                f"and mode {mode} creates records "
                "carrying it",
                "use an external id field that is createable (check field-level security)",
                column=oid.column,
                field=fname,
            )
    check.types(oid.column, ctype, f)
    return fname


def validate_sync(
    project: Project,
    sync_name: str,
    describe: Mapping[str, Any],
    columns: Mapping[str, LogicalType],
    related: Related | None = None,
) -> list[Problem]:
    """Every problem with sync ``sync_name`` given the object's ``describe`` and its model's ``columns``.

    ``columns`` maps the model's column names to logical types
    (``Source.columns(query_for(project, sync.from_))``). ``related`` reads the describes of parent
    objects and samples of columns (lookups and reference fields; ``sfsync.sync.validate_related``);
    without it, lookups are checked against the object's own describe only.
    An empty list means the sync may run.
    """
    sync = project.syncs[sync_name]
    _model_name, model, _segment, _where = project.resolve_from(sync.from_)
    check = Checker(sync_name, sync, describe, columns)
    _kind(check, model.kind)
    if model.primary_key not in columns:
        check.column(model.primary_key, "primary key")

    written: dict[str, list[str]] = {}
    oid_field = _object_id(check)
    if oid_field is not None and sync.object_id is not None:
        written.setdefault(oid_field.lower(), []).append(sync.object_id.column)

    _check_mappings(check, sync, RelatedChecks(check, related, written), written)

    for key, cols in written.items():
        if len(cols) > 1:
            fname = str(check.fields[key]["name"])
            check.add(
                f"field {fname} is written by {len(cols)} columns ({', '.join(cols)})",
                "map each field from one column only (the object_id field, lookups, owners, constants "
                "and record_type count as mapped)",
                field=fname,
            )

    for message, hint in automation_problems(sync, check.object):
        check.add(message, hint)

    if sync.mode in ("insert", "upsert"):
        for fname in required_on_create(describe):
            if fname.lower() not in written:
                check.add(
                    f"{check.object} requires {fname} to create a record, and no column is mapped to it",
                    f"add a mapping <column>: {fname} (mode {sync.mode} creates records)",
                    field=fname,
                    field_type=str(check.fields[fname.lower()].get("type")),
                )
    if sync.on_row_removed.removes and not check.problems:  # needs the mappings valid first
        for message in removal_problems(sync, object_describe(describe)):
            check.add(message, 'see docs/syncing.md, "Rows that leave the model"')
    return [_located(project, sync_name, p) for p in check.problems]


def _check_mappings(
    check: Checker, sync: Sync, related: RelatedChecks, written: dict[str, list[str]]
) -> None:
    """Every mapping entry (fields here; lookups, owners, constants and record types in ``related``)."""
    for entry in sync.entries:
        target = entry.target
        if isinstance(target, ConstantTarget):
            related.constant(entry.key, target)
            continue
        column = entry.key
        ctype = check.column(column, "mapped")
        if isinstance(target, LookupTarget):
            related.lookup(column, target, ctype)
            continue
        if isinstance(target, OwnerTarget):
            related.owner(column, target, ctype)
            continue
        f = check.field(column, target)
        if f is None:
            continue
        written.setdefault(str(f["name"]).lower(), []).append(column)
        check.writable(column, f)
        check.types(column, ctype, f)
        if f.get("type") == "reference" and ctype in (None, LogicalType.TEXT):
            related.plain_reference(column, f)
    if sync.record_type is not None:
        related.record_type(sync.record_type)


def _located(project: Project, sync_name: str, problem: Problem) -> Problem:
    """``problem`` with the project file's ``file:line`` of what it is about (the mapping of its column,
    the object id, or the sync's entry)."""
    sync = project.syncs[sync_name]
    keys: tuple[str, ...] = ("syncs", sync_name)
    if problem.column is not None and problem.column in sync.mappings:
        keys = (*keys, "mappings", problem.column)
    elif problem.column is None and problem.field is not None and problem.field in sync.mappings:
        keys = (*keys, "mappings", problem.field)  # a constant: its key is the field
    elif sync.object_id is not None and problem.column == sync.object_id.column:
        keys = (*keys, "object_id")
    elif problem.column is None and problem.field is not None:
        keys = (*keys, "mappings")
    return replace(problem, location=project.where(*keys))


__all__ = [
    "COMPATIBLE",
    "USER_OBJECTS",
    "Problem",
    "compatible_field_types",
    "required_on_create",
    "validate_sync",
]
