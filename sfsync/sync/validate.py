"""Mapping validation: a sync checked against its model's columns and the object's describe.

Runs before anything is written (``sfsync check``, and before every ``plan`` and ``run``). Each
:class:`Problem` names the sync, the column and field involved, both types where types matter, and how to
fix it. ``describe`` is the JSON dict Salesforce sends for ``GET …/sobjects/{Obj}/describe``.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from dataclasses import field as dataclass_field
from typing import Any, Protocol

import pyarrow as pa

from sfsync.config import ConstantTarget, LookupTarget, Mode, OwnerTarget
from sfsync.config.project import Project, ResolvedSync, Sync
from sfsync.errors import ConfigError, SfsyncError
from sfsync.sources import Source, open_source, query_for
from sfsync.sources.types import LogicalType
from sfsync.sync.automation_check import AutomationAccess, automation_problems, automation_warnings
from sfsync.sync.order import cycle_error, dependencies, find_cycle, parent_objects
from sfsync.sync.removals_check import object_describe, removal_problems
from sfsync.sync.validate_related import Related, RelatedChecks, SourceRelated

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


class OrgAccess(Protocol):
    """How :func:`check_project` reaches the orgs (the CLI wires it to the Salesforce client)."""

    def test(self, destination: str) -> None:
        """Log in to ``destination``; raise SfsyncError saying what is wrong."""

    def describe(self, destination: str, object_name: str) -> Mapping[str, Any]:
        """The describe JSON dict of ``object_name``; raise SfsyncError for an unknown object."""


@dataclass(frozen=True)
class ConnectionCheck:
    kind: str  # "source" | "destination"
    name: str
    type: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SyncCheck:
    name: str
    source_object: str  # "model -> Object"
    mode: Mode
    problems: list[Problem] = dataclass_field(default_factory=list)
    error: str | None = None  # the sync could not be checked (source or destination unreachable)
    #: what the org's own rules will do to the sync's rows (duplicate, assignment); never fails a check
    warnings: list[str] = dataclass_field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems


@dataclass(frozen=True)
class CheckReport:
    """What ``sfsync check`` found: every connection tested and every sync validated."""

    connections: list[ConnectionCheck]
    syncs: list[SyncCheck]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.connections) and all(s.ok for s in self.syncs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "connections": [{**asdict(c), "ok": c.ok} for c in self.connections],
            "syncs": [
                {
                    "name": s.name,
                    "from_to": s.source_object,
                    "mode": s.mode,
                    "ok": s.ok,
                    "error": s.error,
                    "problems": [p.to_dict() for p in s.problems],
                    "warnings": s.warnings,
                }
                for s in self.syncs
            ],
        }


def check_project(project: Project, sync_names: Sequence[str] | None, org: OrgAccess) -> CheckReport:
    """Test the sources and destinations the syncs use, then validate each sync (all when none named).

    Unknown sync names raise ConfigError; everything else found is reported, never raised.
    """
    names = list(sync_names) if sync_names else list(project.syncs)
    unknown = [n for n in names if n not in project.syncs]
    if unknown:
        raise ConfigError(
            f"there is no sync {', '.join(map(repr, unknown))}",
            hint=f"syncs in this project: {', '.join(sorted(project.syncs)) or 'none'}",
        )
    resolved = [project.resolve_sync(n) for n in names]
    source_names = sorted({r.source_name for r in resolved} if sync_names else set(project.sources))
    dest_names = sorted({r.destination_name for r in resolved} if sync_names else set(project.destinations))

    opened: dict[str, Source] = {}
    try:
        connections, failed = _test_connections(project, org, source_names, dest_names, opened)
        columns: dict[str, Mapping[str, LogicalType] | str] = {}
        describes: dict[str, Mapping[str, Any]] = {}
        syncs = [_check_sync(project, org, r, opened, failed, columns, describes) for r in resolved]
        syncs = _order_problems(project, syncs, describes)
    finally:
        for src in opened.values():
            src.close()
    return CheckReport(connections, syncs)


def _order_problems(
    project: Project, syncs: list[SyncCheck], describes: Mapping[str, Mapping[str, Any]]
) -> list[SyncCheck]:
    """Syncs whose lookups name each other's objects in a cycle cannot be ordered: a problem of each."""
    names = [s.name for s in syncs if s.name in describes]
    parents = {n: parent_objects(project.syncs[n], describes[n]) for n in names}
    cycle = find_cycle(dependencies(project.syncs, parents, names))
    if not cycle:
        return syncs
    err = cycle_error(cycle, project.syncs)
    return [
        replace(s, problems=[*s.problems, Problem(s.name, err.message, err.hint)]) if s.name in cycle else s
        for s in syncs
    ]


def _test_connections(
    project: Project,
    org: OrgAccess,
    source_names: list[str],
    dest_names: list[str],
    opened: dict[str, Source],
) -> tuple[list[ConnectionCheck], dict[str, str]]:
    """Open and test each source (left open in ``opened``, to read columns) and each destination.

    Returns the checks, and the error of each connection that failed (destinations as
    ``destination:<name>``).
    """
    connections: list[ConnectionCheck] = []
    failed: dict[str, str] = {}
    for name in source_names:
        try:
            src = open_source(project, name)
            opened[name] = src
            src.test_connection()
            connections.append(ConnectionCheck("source", name, project.sources[name].type))
        except SfsyncError as e:
            failed[name] = str(e)
            connections.append(ConnectionCheck("source", name, project.sources[name].type, str(e)))
    for name in dest_names:
        try:
            org.test(name)
            connections.append(ConnectionCheck("destination", name, project.destinations[name].type))
        except SfsyncError as e:
            failed[f"destination:{name}"] = str(e)
            connections.append(ConnectionCheck("destination", name, project.destinations[name].type, str(e)))
    return connections, failed


def _check_sync(
    project: Project,
    org: OrgAccess,
    r: ResolvedSync,
    opened: dict[str, Source],
    failed: dict[str, str],
    columns: dict[str, Mapping[str, LogicalType] | str],
    describes: dict[str, Mapping[str, Any]],
) -> SyncCheck:
    """Validate one sync against its model's columns and the object's describe (and its lookups' parents),
    unless a connection it needs failed (then it says which). The describe goes into ``describes``."""
    label = f"{r.sync.from_} -> {r.sync.object}"
    if r.source_name in failed or f"destination:{r.destination_name}" in failed:
        down = r.source_name if r.source_name in failed else r.destination_name
        return SyncCheck(r.name, label, r.sync.mode, error=f"not checked: {down!r} is unreachable")
    cols = _model_columns(project, r, opened, columns)
    if isinstance(cols, str):
        return SyncCheck(r.name, label, r.sync.mode, error=cols)
    try:
        describe = org.describe(r.destination_name, r.sync.object)
    except SfsyncError as e:
        return SyncCheck(r.name, label, r.sync.mode, error=str(e))
    describes[r.name] = describe
    related = SourceRelated(
        functools.partial(org.describe, r.destination_name),
        opened[r.source_name],
        query_for(project, r.sync.from_),
    )
    warnings: list[str] = []
    if isinstance(org, AutomationAccess):
        name = str(describe.get("name") or r.sync.object)
        warnings = automation_warnings(r.sync, name, org.active_rules(r.destination_name, name))
    problems = validate_sync(project, r.name, describe, cols, related)
    try:
        schema = opened[r.source_name].schema(query_for(project, r.sync.from_))
    except SfsyncError:
        schema = None  # the columns were read above; a second look that fails only skips these warnings
    if schema is not None:
        warnings += decimal_place_warnings(r.sync, describe, schema)
    return SyncCheck(r.name, label, r.sync.mode, problems, warnings=warnings)


def decimal_place_warnings(sync: Sync, describe: Mapping[str, Any], schema: pa.Schema) -> list[str]:
    """Mappings whose column carries more decimal places than the number field it feeds.

    Salesforce does not round a number written through the API to the field's decimal places: the value
    is stored and returned as sent, but its pages, list views and reports show it rounded (Salesforce
    Help, knowledge articles 000212661 and 000387302, docs/salesforce-facts.md "Exact numbers"). So a
    ``decimal(18,2)`` amount mapped to a ``currency(18,0)`` field shows no cents where people look.
    """
    fields = {str(f["name"]).lower(): f for f in describe.get("fields", [])}
    types = {f.name: f.type for f in schema}
    out: list[str] = []
    for column, field_name in sync.mappings.items():
        f = fields.get(str(field_name).lower())
        ctype = types.get(column)
        if f is None or ctype is None or str(f.get("type")) not in ("currency", "double", "percent"):
            continue
        scale = int(f.get("scale") or 0)
        ftext = f"{f['type']}({f.get('precision') or 0},{scale})"
        if pa.types.is_decimal(ctype) and ctype.scale > scale:
            sent = f"{ctype.scale} decimal place{'s' if ctype.scale != 1 else ''} ({ctype})"
        elif pa.types.is_floating(ctype) and scale == 0:
            sent = f"fractions ({ctype})"
        else:
            continue
        out.append(
            f"column {column!r} carries {sent} but field {f['name']} is {ftext}: Salesforce stores what the "
            f"API sends, yet its pages and reports show the value rounded to {scale} decimal place"
            f"{'s' if scale != 1 else ''}; round the column in the model, or give the field more decimal "
            "places"
        )
    return out


def _model_columns(
    project: Project,
    r: ResolvedSync,
    opened: dict[str, Source],
    cache: dict[str, Mapping[str, LogicalType] | str],
) -> Mapping[str, LogicalType] | str:
    """The columns of the sync's model or segment (read once per model), or why they could not be read."""
    if r.sync.from_ not in cache:
        try:
            cache[r.sync.from_] = opened[r.source_name].columns(query_for(project, r.sync.from_))
        except SfsyncError as e:
            cache[r.sync.from_] = str(e)
    return cache[r.sync.from_]


__all__ = [
    "COMPATIBLE",
    "USER_OBJECTS",
    "CheckReport",
    "ConnectionCheck",
    "OrgAccess",
    "Problem",
    "SyncCheck",
    "check_project",
    "compatible_field_types",
    "decimal_place_warnings",
    "required_on_create",
    "validate_sync",
]
