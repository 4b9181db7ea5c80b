"""The JSON shapes of the HTTP API (they also document it in the OpenAPI schema). No secrets in any."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sfsync.config import Api, Mode

SYNC_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]{0,99}$"

SyncState = Literal["healthy", "warning", "failing", "paused", "never run", "running"]


class DestinationOut(BaseModel):
    name: str
    type: str
    login_url: str | None = None
    instance_url: str | None = None
    auth_flow: str
    username: str | None = None
    api_version: str


class ConnectionTestOut(BaseModel):
    destination: str
    ok: bool
    error: str | None = None
    objects: int = 0


class ObjectOut(BaseModel):
    name: str
    label: str
    custom: bool
    createable: bool
    updateable: bool


class FieldOut(BaseModel):
    name: str
    label: str
    type: str
    createable: bool
    updateable: bool
    external_id: bool
    id_lookup: bool
    required_on_create: bool
    reference_to: list[str] = Field(default_factory=list)


class ObjectFieldsOut(BaseModel):
    destination: str
    object: str
    fields: list[FieldOut]


class ModelOut(BaseModel):
    name: str
    kind: Literal["model", "segment"]
    model_kind: str
    source: str
    primary_key: str
    model: str | None = None
    where: str | None = None
    sql: str | None = None
    table: str | None = None
    dbt_model: str | None = None  # the dbt model it reads (dbt: in the project file)


class ColumnOut(BaseModel):
    name: str
    type: str


class PreviewOut(BaseModel):
    name: str
    columns: list[ColumnOut]
    rows: list[list[Any]]
    row_count: int


class RunOut(BaseModel):
    """One run: ``status`` is succeeded, partial, failed, interrupted or running; ``reason`` says in one
    line why a finished run is not a plain success, ``warning`` whether its sync's warnings fire on it."""

    id: int
    sync: str
    trigger: str
    status: Literal["running", "succeeded", "partial", "failed", "interrupted"]
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    api: Api | None
    error: str | None
    rows_read: int
    new: int
    changed: int
    unchanged: int
    created: int
    updated: int
    rejected: int
    api_calls: int
    #: records cleared, flagged or deleted because their rows left the model (on_row_removed)
    removed: int = 0
    rejected_percent: float = 0.0
    warning: bool = False
    reason: str | None = None
    progress: dict[str, Any] | None = Field(
        default=None,
        description="a running run's phase, rows read, rows with an outcome of to_send, Bulk jobs",
    )


class SyncSummaryOut(BaseModel):
    name: str
    from_: str = Field(serialization_alias="from")
    to: str
    object: str
    mode: Mode
    state: SyncState
    reason: str | None = Field(default=None, description="why the sync is in this state, in one line")
    paused: bool
    pause_cause: str | None = None
    status_text: str = ""
    warnings_firing: list[str] = Field(default_factory=list)
    active_jobs: list[str] = Field(default_factory=list, description="runs/plans started from this UI")
    schedule: str
    next_run: datetime | None = None
    last_run: RunOut | None = None
    running_run: RunOut | None = Field(default=None, description="the run in progress, from any process")


class SyncDetailOut(SyncSummaryOut):
    config: dict[str, Any]
    runs: list[RunOut]
    #: how each mapping is written: "company_id → Account.External_Id__c (lookup)", constants, owners
    mappings: list[str] = Field(default_factory=list)


class ObjectIdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str = Field(min_length=1)
    field: str = Field(min_length=1)


class SyncIn(BaseModel):
    """A sync as the API creates or replaces it (the same keys as ``syncs.<name>`` in ``sfsync.yml``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    object: str = Field(min_length=1)
    mode: Literal["insert", "update", "upsert"]
    object_id: ObjectIdIn | None = None
    mappings: dict[str, str | dict[str, Any]] = Field(min_length=1)
    api: Literal["auto", "rest", "bulk"] = "auto"
    record_type: str | None = None
    schedule: dict[str, Any] | str | None = None
    warnings: dict[str, Any] | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    assignment_rules: str = "none"
    duplicate_rules: Literal["enforce", "allow_save"] = "enforce"
    on_row_removed: str | dict[str, Any] | None = None

    def to_yaml_data(self) -> dict[str, Any]:
        """The entry as written to the project file (defaults left out, key order as documented)."""
        data: dict[str, Any] = {"from": self.from_, "to": self.to, "object": self.object, "mode": self.mode}
        if self.object_id is not None:
            data["object_id"] = {"column": self.object_id.column, "field": self.object_id.field}
        data["mappings"] = dict(self.mappings)
        if self.api != "auto":
            data["api"] = self.api
        if self.schedule is not None:
            data["schedule"] = self.schedule
        if self.warnings:
            data["warnings"] = self.warnings
        if self.description:
            data["description"] = self.description
        if self.tags:
            data["tags"] = list(self.tags)
        if self.assignment_rules != "none":
            data["assignment_rules"] = self.assignment_rules
        if self.duplicate_rules != "enforce":
            data["duplicate_rules"] = self.duplicate_rules
        if self.record_type:
            data["record_type"] = self.record_type
        if self.on_row_removed not in (None, "keep", {"action": "keep"}):
            data["on_row_removed"] = self.on_row_removed
        return data


class ProblemOut(BaseModel):
    message: str
    path: str | None = None
    line: int | None = None
    hint: str | None = None
    column: str | None = None
    field: str | None = None


class RefusedOut(BaseModel):
    detail: str
    problems: list[ProblemOut]


class SavedOut(BaseModel):
    sync: str
    created: bool
    file: str


class RejectedRowOut(BaseModel):
    primary_key: str
    operation: str
    error_code: str | None
    message: str | None
    fields: list[str]


class RunDetailOut(RunOut):
    rejected_by_code: dict[str, int]
    rejected_rows: list[RejectedRowOut]
    code: str | None = None
    offset: int = 0
    limit: int = 0


class JobOut(BaseModel):
    id: str
    kind: Literal["run", "plan"]
    sync: str
    state: Literal["queued", "running", "done", "failed"]
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    run_id: int | None = None
    result: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    progress_text: str | None = None


class RunIn(BaseModel):
    """Options of a run started through the API."""

    model_config = ConfigDict(extra="forbid")
    full_resync: bool = Field(default=False, description="ignore the last snapshot: send every row")
    confirm: bool = Field(
        default=False, description="confirm a full resync of an insert sync (it creates every row again)"
    )


class RowQuery(BaseModel):
    """A search of a sync's row results (query parameters of ``GET /api/syncs/{name}/rows``)."""

    model_config = ConfigDict(extra="forbid")
    q: str | None = Field(default=None, max_length=200, description="text in key, code, message or record id")
    outcome: Literal["all", "rejected", "accepted"] = "all"
    run: int | None = Field(default=None, ge=1, description="only this run's rows")
    sort: Literal["run", "key", "code"] = "run"
    order: Literal["asc", "desc"] = "desc"
    limit: int | None = Field(default=None, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)

    @field_validator("q", "run", "limit", mode="before")
    @classmethod
    def _blank(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v  # an empty form field: not given


class RowHitOut(BaseModel):
    run_id: int
    primary_key: str
    operation: str
    success: bool
    record_id: str | None = None
    error_code: str | None = None
    message: str | None = None
    fields: list[str] = Field(default_factory=list)


class RowPageOut(BaseModel):
    rows: list[RowHitOut]
    total: int
    offset: int
    limit: int


class SentValueOut(BaseModel):
    field: str
    column: str
    value: Any = None
    written: bool


class RowRunOut(RowHitOut):
    """One row in one run: its outcome and the values that run sent (``written``: the field was sent)."""

    started_at: datetime
    trigger: str
    run_status: str
    object: str | None = None
    record_url: str | None = None
    key_field: str | None = None
    key_value: Any = None
    values: list[SentValueOut] = Field(default_factory=list)


class RowStoryOut(BaseModel):
    sync: str
    primary_key: str
    runs: list[RowRunOut]


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cause: str | None = Field(default=None, max_length=500)


class SyncStatusOut(BaseModel):
    sync: str
    paused: bool
    pause_cause: str | None = None
