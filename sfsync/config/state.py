"""``state:``: where a project keeps its state when several workers share it.

::

    state:
      url: "postgresql://sfsync:${STATE_PG_PASSWORD}@db.internal:5432/sfsync"
      schema: acme_prod           # default public; one schema per project
      files: /mnt/shared/sfsync   # snapshots, row results, work files: shared by every worker
      lease_seconds: 30           # a dead worker's sync is taken over within this
      lease_heartbeat_seconds: 5

Without ``state:`` (or without ``url``) the state is SQLite in ``.sfsync/`` beside the project file.
The URL is a secret: its password must come through ``${NAME}`` (docs/state.md#backends-sqlite-or-postgresql).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sfsync.config.env import SecretUrl

_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class StateConfig(BaseModel):
    """Where run history, journal, sync status and run leases live (snapshots and row results stay in
    the state directory)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: SecretUrl | None = Field(
        default=None,
        description="postgresql://user:${PG_PASSWORD}@host:5432/dbname; absent: SQLite in .sfsync/",
    )
    schema_: str = Field(default="public", alias="schema", description="PostgreSQL schema of the tables")
    files: str | None = Field(
        default=None,
        description="directory of snapshots, row results and work files, shared by the workers "
        "(default .sfsync/ beside the project file); relative to the project directory",
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="how long a run lease outlives its last heartbeat"
    )
    lease_heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="how often a held run lease is renewed"
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: object) -> object:
        text = v.get_secret_value() if hasattr(v, "get_secret_value") else str(v)
        if not text.startswith(("postgresql://", "postgres://")):
            raise ValueError("the state url is a PostgreSQL URL: postgresql://user:${PASSWORD}@host/db")
        return v

    @field_validator("schema_")
    @classmethod
    def _schema(cls, v: str) -> str:
        if not _SCHEMA.match(v) or v.lower().startswith("pg_"):
            raise ValueError("use letters, digits and _ (starting with a letter or _, not pg_), 63 at most")
        return v

    @model_validator(mode="after")
    def _heartbeat(self) -> StateConfig:
        if self.files is not None and self.url is None:
            raise ValueError(
                "files: needs url: too (workers share files only together with a PostgreSQL state store)"
            )
        if self.lease_heartbeat_seconds >= self.lease_seconds:
            raise ValueError(
                f"lease_heartbeat_seconds ({self.lease_heartbeat_seconds:g}) must be below lease_seconds "
                f"({self.lease_seconds:g}); a third of it or less is safe"
            )
        return self

    @property
    def shared(self) -> bool:
        """True when the state is in PostgreSQL (shared by workers)."""
        return self.url is not None


__all__ = ["StateConfig"]
