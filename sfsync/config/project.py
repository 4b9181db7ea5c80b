"""The project file as typed models: models, segments, syncs, warnings and the :class:`Project` root.

Names of sections and keys are the contract of docs/project-file.md. ``Project.resolve_sync(name)``
gives everything one sync needs (its model, the segment filter if any, source, destination and notifications).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sfsync.config.dbt import DbtModelRef
from sfsync.config.destinations import DestinationConfig, NotificationConfig
from sfsync.config.mappings import ConstantTarget, MappingEntry, MappingTarget, Target, entries
from sfsync.config.removals import OnRowRemoved
from sfsync.config.schedule import ManualSchedule, Schedule, parse_interval
from sfsync.config.sources import Planner, SourceConfig, warehouse_dialect
from sfsync.config.state import StateConfig
from sfsync.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
"""Names of sources, models, segments, destinations, notifications and syncs (they become file names)."""
_SECTIONS = ("sources", "models", "segments", "destinations", "notifications", "syncs")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")

SKIP_REFERENCES = "skip_references"
"""Validation-context key: the loader checks references itself (with line numbers)."""

Loc = tuple[str | int, ...]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Model(_Strict):
    """A SQL query or a table of a source, with what one row stands for and its unique key."""

    source: str
    kind: Literal["user", "custom", "event"] = Field(
        description="user: one row per person; custom: one row per anything; event: one row per event"
    )
    primary_key: str = Field(min_length=1, description="a unique, non-null column")
    sql: str | None = None
    table: str | None = None
    dbt: DbtModelRef | None = Field(
        default=None, description="a model of a dbt project: its relation is read from dbt's manifest.json"
    )
    description: str | None = None

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        if v is not None and not _TABLE.match(v):
            raise ValueError(
                f"{v!r} is not a plain table name: write name, schema.name or db.schema.name, "
                "or use sql: for anything else"
            )
        return v

    @model_validator(mode="after")
    def _one_of(self) -> Model:
        if sum(x is not None for x in (self.sql, self.table, self.dbt)) != 1:
            raise ValueError(
                "a model has exactly one of sql: (a query), table: (a table name) or dbt: (a dbt model)"
            )
        if self.sql is not None and not self.sql.strip():
            raise ValueError("sql: is empty")
        return self

    @property
    def base_sql(self) -> str:
        """The model's rows as one SELECT (the table read whole, or the query as written, minus a final ;).
        A dbt model's relation comes from its manifest: see :func:`sfsync.config.dbt.dbt_relation`."""
        if self.dbt is not None:
            raise ConfigError(
                "a dbt model's relation is read from its manifest",
                hint="use sfsync.config.dbt.model_sql(project, model)",
            )
        if self.table is not None:
            return f"select * from {self.table}"
        assert self.sql is not None
        return self.sql.strip().rstrip(";").strip()


class Segment(_Strict):
    """A model filtered by a SQL condition pushed down into the source query."""

    model: str
    where: str = Field(min_length=1)
    description: str | None = None


class ObjectId(_Strict):
    """The mapping that links a row to a record: ``column`` (model) → ``field`` (Id or an external id)."""

    column: str = Field(min_length=1)
    field: str = Field(min_length=1)


DEFAULT_REJECTED_ROWS_PERCENT = 0.0
"""A sync warns when a run rejects more than this share of the rows it sent, unless its ``warnings:`` says
otherwise: by default any rejected row (``rejected_rows_percent: null`` or ``false`` turns it off)."""


class Warnings(_Strict):
    """When a sync's runs raise a warning, and whom to tell (names of ``notifications:``)."""

    on_failure: bool = Field(default=True, description="a run failed (could not finish)")
    rejected_rows_percent: float | None = Field(
        default=DEFAULT_REJECTED_ROWS_PERCENT,
        ge=0,
        le=100,
        description="a run rejected more than this share of the rows it sent (null or false: never)",
    )
    row_count_drop_percent: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="the model's row count fell by more than this share since last run",
    )
    slower_than: str | None = Field(default=None, description='a run took longer than this interval ("30m")')
    paused: bool = Field(default=False, description="a scheduled run was skipped because the sync is paused")
    notify: list[str] = Field(default_factory=list)

    @field_validator("rejected_rows_percent", mode="before")
    @classmethod
    def _off(cls, v: Any) -> Any:
        return None if v is False else v  # `false` reads as "off", never as 0

    @field_validator("slower_than")
    @classmethod
    def _interval(cls, v: str | None) -> str | None:
        if v is not None:
            parse_interval(v)
        return v


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")
LOG_SOURCE_TYPES = ("duckdb", "postgres")
"""Source types sync logs can be written to."""


class SyncLogs(_Strict):
    """Sync logs in the warehouse: after each run, the run and its row results are written to tables of
    ``source`` (docs/project-file.md#sync-logs-in-the-warehouse)."""

    source: str = Field(description="a duckdb or postgres source of this project")
    schema_: str | None = Field(default=None, alias="schema", description="schema of the tables")
    table_prefix: str = Field(default="sfsync_", description="tables <prefix>runs and <prefix>row_results")
    rows: Literal["all", "rejected", "none"] = Field(default="all", description="which row results to write")
    project: str | None = Field(
        default=None, description="this project's name in the tables (default: its directory's name)"
    )

    @field_validator("schema_", "table_prefix")
    @classmethod
    def _identifier(cls, v: str | None) -> str | None:
        if v is not None and not _IDENT.match(v):
            raise ValueError("use letters, digits and _ (starting with a letter or _), 40 at most")
        return v


def _schedule_shorthand(v: Any) -> Any:
    return {"manual": True} if v == "manual" or v is None else v


Mode = Literal["insert", "update", "upsert"]
RemovalMode = Literal["clear", "flag", "delete"]
"""What a row that left the model gets (``on_row_removed``): fields cleared, flagged, or record deleted."""
TargetMode = Mode | RemovalMode
"""What a load writes: a sync's mode, or a removal's."""
"""How a sync writes: create every new or changed row, update existing records, or both."""

ApiChoice = Literal["auto", "rest", "bulk"]
"""Which Salesforce API a sync uses: ``auto`` picks by the number of rows to send."""

Api = Literal["rest", "bulk"]
"""The API a run actually used: REST sObject Collections or Bulk API 2.0."""


#: ``assignment_rules`` words; anything else must be an AssignmentRule id.
ASSIGNMENT_CHOICES = ("none", "default")
_ASSIGNMENT_RULE_ID = re.compile(r"01Q[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?")
DuplicateRulesChoice = Literal["enforce", "allow_save"]


class Sync(_Strict):
    """One model or segment → one Salesforce object."""

    from_: str = Field(alias="from", description="a model or a segment")
    to: str = Field(description="a destination")
    object: str = Field(min_length=1, description="the Salesforce object's API name")
    mode: Mode
    object_id: ObjectId | None = None
    mappings: dict[str, MappingTarget] = Field(
        description="model column → Salesforce field or lookup; Field → {value: constant}"
    )
    api: ApiChoice = "auto"
    schedule: Annotated[Schedule, BeforeValidator(_schedule_shorthand)] = Field(
        default_factory=ManualSchedule
    )
    warnings: Warnings = Field(default_factory=Warnings)
    description: str | None = None
    tags: list[str] = Field(
        default_factory=list, description="words to pick syncs by: sfsync run --select tag:NAME"
    )
    # What the org's own automation does with the sync's writes (docs/salesforce-automation.md).
    assignment_rules: str = Field(
        default="none",
        description="Lead/Case/Account assignment rules on each write: none (owners stay as sent), "
        "default (the object's active rule), or the 15/18-character id of an AssignmentRule (01Q…)",
    )
    duplicate_rules: DuplicateRulesChoice = Field(
        default="enforce",
        description="enforce: rows the org's duplicate rules flag are rejected (DUPLICATES_DETECTED); "
        "allow_save: save past rules that only alert (block rules still refuse)",
    )
    on_row_removed: OnRowRemoved = Field(
        default_factory=OnRowRemoved,
        description="what happens to the record of a row that leaves the model or segment "
        "(docs/syncing.md#rows-that-leave-the-model)",
    )
    planner: Planner | None = Field(
        default=None,
        description="where this sync's diff runs: local (DuckDB) or warehouse (in its SQL source); "
        "default: its source's planner (docs/warehouse-planner.md)",
    )

    @field_validator("mappings")
    @classmethod
    def _mappings(cls, v: dict[str, Target]) -> dict[str, Target]:
        if not v:
            raise ValueError("a sync maps at least one column: mappings: {column: Field}")
        return v

    @model_validator(mode="after")
    def _removals_need_a_key(self) -> Sync:
        # insert creates a record for every new or changed row, so one row may own several records: there
        # is no one record to clear, flag or delete when it leaves (docs/syncing.md#rows-that-leave-the-model)
        if self.mode == "insert" and self.on_row_removed.removes:
            raise ValueError(
                f"on_row_removed `{self.on_row_removed.action}` needs an update or upsert sync: an insert "
                "sync creates a new record each time a row changes, so a row that leaves has no one record "
                "to change; use mode: upsert with an object_id, or on_row_removed: keep"
            )
        return self

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not _NAME.match(t)]
        if bad:
            raise ValueError(
                f"tag {bad[0]!r} is not a plain word: letters, digits, _ and - (at most 64 characters)"
            )
        return v

    @field_validator("assignment_rules")
    @classmethod
    def _assignment_rules(cls, v: str) -> str:
        if v in ASSIGNMENT_CHOICES or _ASSIGNMENT_RULE_ID.fullmatch(v):
            return v
        raise ValueError(
            f"{v!r} is not none, default or an assignment rule id (15 or 18 characters starting with "
            "01Q: SELECT Id, Name FROM AssignmentRule in the org)"
        )

    # ---- related records (lookups, constants, record types, owners): sfsync/config/mappings.py ----
    record_type: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="DeveloperName of the record type every record of this sync gets",
    )

    @property
    def entries(self) -> list[MappingEntry]:
        """The mappings, parsed: fields, lookups, owners and constants."""
        return entries(self.mappings)

    @property
    def mapped_columns(self) -> list[str]:
        """The model columns the mappings read (constants read none)."""
        return [k for k, t in self.mappings.items() if not isinstance(t, ConstantTarget)]


@dataclass(frozen=True)
class ResolvedSync:
    """Everything one sync refers to, looked up. ``where`` is the segment's filter (None for a model)."""

    name: str
    sync: Sync
    model_name: str
    model: Model
    segment_name: str | None
    where: str | None
    source_name: str
    source: SourceConfig
    destination_name: str
    destination: DestinationConfig
    notifications: dict[str, NotificationConfig]


def _names(data: Mapping[str, Any], section: str) -> set[str]:
    value = data.get(section)
    return {str(k) for k in value} if isinstance(value, Mapping) else set()


def _entries(data: Mapping[str, Any], section: str) -> list[tuple[str, Mapping[str, Any]]]:
    value = data.get(section)
    if not isinstance(value, Mapping):
        return []
    return [(str(k), v) for k, v in value.items() if isinstance(v, Mapping)]


def reference_problems(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Problems across entries (dangling references, a missing object_id) in plain project data.

    ``data`` is raw YAML data or ``model_dump(by_alias=True)``.

    Works on partially invalid data too, so the loader reports these with every other problem.
    """
    problems = _name_problems(data)
    sources, models = _names(data, "sources"), _names(data, "models")
    segments, destinations = _names(data, "segments"), _names(data, "destinations")
    notifications = _names(data, "notifications")
    for name in sorted(models & segments):
        problems.append((("segments", name), f"{name!r} is both a model and a segment: rename one"))
    for name, model in _entries(data, "models"):
        problems += _missing(("models", name, "source"), "source", model.get("source"), sources, "sources")
    for name, segment in _entries(data, "segments"):
        problems += _missing(("segments", name, "model"), "model", segment.get("model"), models, "models")
    for name, sync in _entries(data, "syncs"):
        problems += _missing(
            ("syncs", name, "from"), "model or segment", sync.get("from"), models | segments, "models"
        )
        problems += _missing(
            ("syncs", name, "to"), "destination", sync.get("to"), destinations, "destinations"
        )
        problems += _object_id_problems(name, sync)
        problems += _notify_problems(name, sync, notifications)
        problems += _planner_problems(name, sync, data)
    return problems + _logs_problems(data)


def _planner_problems(name: str, sync: Mapping[str, Any], data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """``planner: warehouse`` on a sync whose model reads a source the warehouse planner cannot diff in."""
    if sync.get("planner") != "warehouse":
        return []
    source_name, source = _source_of(sync.get("from"), data)
    if not isinstance(source, Mapping) or warehouse_dialect(dict(source)) is not None:
        return []
    return [
        (
            ("syncs", name, "planner"),
            f"planner: warehouse needs a source the warehouse planner runs on (type postgres or snowflake); "
            f"source {source_name!r} is type {source.get('type')}: use planner: local",
        )
    ]


def _source_of(from_: Any, data: Mapping[str, Any]) -> tuple[str | None, Any]:
    """The source (name, raw config) a sync's ``from:`` reads, through its segment and model."""
    if not isinstance(from_, str):
        return None, None
    segment = dict(_entries(data, "segments")).get(from_)
    model_name = segment.get("model") if segment is not None else from_
    model = dict(_entries(data, "models")).get(model_name) if isinstance(model_name, str) else None
    source_name = model.get("source") if model is not None else None
    if not isinstance(source_name, str):
        return None, None
    return source_name, dict(_entries(data, "sources")).get(source_name)


def _logs_problems(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    logs = data.get("logs")
    if not isinstance(logs, Mapping):
        return []
    source = logs.get("source")
    problems = _missing(("logs", "source"), "source", source, _names(data, "sources"), "sources")
    config = dict(_entries(data, "sources")).get(source) if isinstance(source, str) else None
    if isinstance(config, Mapping) and config.get("type") not in LOG_SOURCE_TYPES:
        problems.append(
            (
                ("logs", "source"),
                f"sync logs can be written to a {' or '.join(LOG_SOURCE_TYPES)} source, not to "
                f"{source!r} (type {config.get('type')})",
            )
        )
    return problems


def _missing(loc: Loc, what: str, name: Any, known: set[str], section: str) -> list[tuple[Loc, str]]:
    """A reference ``name`` to an entry of ``section`` that does not exist (nothing if it is not text)."""
    if isinstance(name, str) and name not in known:
        choice = ", ".join(sorted(known)) if known else f"none: add one under {section}:"
        return [(loc, f"{what} {name!r} does not exist (defined: {choice})")]
    return []


def _name_problems(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Entry names that are not valid names, section by section."""
    return [
        (
            (section, name),
            f"{name!r} is not a valid name: use letters, digits, _ and - (64 at most), "
            "starting with a letter or _",
        )
        for section in _SECTIONS
        for name in sorted(_names(data, section))
        if not _NAME.match(name)
    ]


def _object_id_problems(name: str, sync: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    if sync.get("mode") in ("update", "upsert") and sync.get("object_id") is None:
        return [
            (
                ("syncs", name, "object_id"),
                f"mode {sync['mode']} needs object_id: "
                "{column: <model column>, field: <Id or an external id field>}",
            )
        ]
    return []


def _notify_problems(name: str, sync: Mapping[str, Any], notifications: set[str]) -> list[tuple[Loc, str]]:
    warnings = sync.get("warnings")
    notify = warnings.get("notify") if isinstance(warnings, Mapping) else None
    if not isinstance(notify, list):
        return []
    return [
        problem
        for i, target in enumerate(notify)
        for problem in _missing(
            ("syncs", name, "warnings", "notify", i), "notification", target, notifications, "notifications"
        )
    ]


class Project(_Strict):
    """The root of ``sfsync.yml``. Build it with :func:`sfsync.config.load_project`."""

    version: Literal[1]
    sources: dict[str, SourceConfig] = Field(min_length=1)
    models: dict[str, Model] = Field(default_factory=dict)
    segments: dict[str, Segment] = Field(default_factory=dict)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    notifications: dict[str, NotificationConfig] = Field(default_factory=dict)
    syncs: dict[str, Sync] = Field(default_factory=dict)
    logs: SyncLogs | None = None
    state: StateConfig = Field(default_factory=StateConfig)

    _path: Path | None = PrivateAttr(default=None)
    _lines: dict[tuple[str | int, ...], int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Project:
        if info.context and info.context.get(SKIP_REFERENCES):
            return self
        problems = reference_problems(self.model_dump(by_alias=True))
        if problems:
            raise ValueError("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
        return self

    @property
    def path(self) -> Path | None:
        """The project file this was loaded from (None when built in code)."""
        return self._path

    def line_of(self, *keys: str | int) -> int | None:
        """The line of the project file where key path ``keys`` (e.g. ``"syncs", "x", "mappings"``) is
        written, or of its closest written parent; None when built in code."""
        for end in range(len(keys), 0, -1):
            line = self._lines.get(tuple(keys[:end]))
            if line is not None:
                return line
        return None

    def where(self, *keys: str | int) -> str | None:
        """``file:line`` of key path ``keys`` (see :meth:`line_of`), for messages; None when unknown."""
        if self._path is None:
            return None
        line = self.line_of(*keys)
        return f"{self._path.name}:{line}" if line is not None else self._path.name

    @property
    def root(self) -> Path:
        """The directory relative paths (DuckDB files, CSV folders, ca_bundle) are resolved against."""
        return self._path.parent if self._path is not None else Path.cwd()

    def resolve_path(self, path: str) -> Path:
        """A path from the project file, made absolute against :attr:`root`."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p

    def resolve_from(self, name: str) -> tuple[str, Model, str | None, str | None]:
        """A sync's ``from:`` → (model name, model, segment name or None, segment filter or None)."""
        if name in self.segments:
            segment = self.segments[name]
            return segment.model, self.models[segment.model], name, segment.where
        if name in self.models:
            return name, self.models[name], None, None
        raise ConfigError(
            f"{name!r} is neither a model nor a segment",
            hint=f"models: {', '.join(sorted(self.models)) or '-'}; "
            f"segments: {', '.join(sorted(self.segments)) or '-'}",
        )

    def resolve_sync(self, name: str) -> ResolvedSync:
        """Look up everything sync ``name`` refers to. Raises ConfigError naming the known syncs."""
        if name not in self.syncs:
            known = ", ".join(sorted(self.syncs)) or "none are defined"
            raise ConfigError(f"there is no sync {name!r}", hint=f"syncs in this project: {known}")
        sync = self.syncs[name]
        model_name, model, segment_name, where = self.resolve_from(sync.from_)
        return ResolvedSync(
            name=name,
            sync=sync,
            model_name=model_name,
            model=model,
            segment_name=segment_name,
            where=where,
            source_name=model.source,
            source=self.sources[model.source],
            destination_name=sync.to,
            destination=self.destinations[sync.to],
            notifications={n: self.notifications[n] for n in sync.warnings.notify},
        )


__all__ = [
    "Model",
    "ObjectId",
    "Project",
    "ResolvedSync",
    "Segment",
    "Sync",
    "Warnings",
    "reference_problems",
]
