"""``sfsync check``: every source and destination the syncs use is tested, then every sync is validated
(``sfsync.sync.validate``) against its model's columns and the object's describe; what the org's own rules
and the fields' decimal places will do to the rows is reported as warnings that never fail a check."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from dataclasses import field as dataclass_field
from typing import Any, Protocol

import pyarrow as pa

from sfsync.config import Mode
from sfsync.config.project import Project, ResolvedSync, Sync
from sfsync.errors import ConfigError, SfsyncError
from sfsync.sources import Source, open_source, query_for
from sfsync.sources.types import LogicalType
from sfsync.sync.automation_check import AutomationAccess, automation_warnings
from sfsync.sync.order import cycle_error, dependencies, find_cycle, parent_objects
from sfsync.sync.validate import Problem, validate_sync
from sfsync.sync.validate_related import SourceRelated


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
    "CheckReport",
    "ConnectionCheck",
    "OrgAccess",
    "SyncCheck",
    "check_project",
    "decimal_place_warnings",
]
