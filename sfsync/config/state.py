"""``state:``: where a project keeps its state when several workers share it.

::

    state:
      url: "postgresql://sfsync:${STATE_PG_PASSWORD}@db.internal:5432/sfsync"
      schema: acme_prod           # default public; one schema per project
      files: /mnt/shared/sfsync   # snapshots, row results, work files: shared by every worker
      # or on object storage (docs/deployment.md#object-storage):
      # files: {url: "s3://acme-sfsync/prod", region: eu-west-1}
      lease_seconds: 30           # a dead worker's sync is taken over within this
      lease_heartbeat_seconds: 5
      diff_memory_limit: 512MB    # the local planner's DuckDB (diff and snapshot advance); spills beyond
      diff_threads: 4             # its threads (default: every core)

Without ``state:`` (or without ``url``) the state is SQLite in ``.sfsync/`` beside the project file.
The URL is a secret: its password must come through ``${NAME}`` (docs/state.md#backends-sqlite-or-postgresql).
``diff_memory_limit`` and ``diff_threads`` bound the DuckDB in which the local planner diffs models and
advances snapshots, whatever the backend (docs/state.md#the-diff).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sfsync.config.env import Secret, SecretUrl
from sfsync.config.sources import duckdb_size

#: Name of the state directory created beside the project file.
STATE_DIR_NAME = ".sfsync"
#: Its folder for scratch files (DuckDB's spill files: the diff's and the DuckDB sources').
STATE_TMP_NAME = "tmp"

#: DuckDB ``memory_limit`` of the local planner (the diff and the snapshot advance) unless
#: ``state.diff_memory_limit`` says otherwise.
DEFAULT_DIFF_MEMORY_LIMIT = "512MB"

_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: Filesystems ``state.files`` reaches besides a local directory (through ``pyarrow.fs``).
OBJECT_SCHEMES = ("s3", "gs", "gcs", "hdfs", "abfs", "abfss")


class FilesConfig(BaseModel):
    """``state: files:``: where snapshots and row results live. A plain string is the ``url``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        min_length=1,
        description="a directory every worker mounts (relative to the project directory), or "
        "s3://bucket/prefix (also gs://, hdfs://, abfs:// through pyarrow.fs)",
    )
    endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint, e.g. https://minio.internal:9000 (default AWS)"
    )
    region: str | None = Field(default=None, description="the bucket's region (default: the AWS chain's)")
    access_key_id: Secret | None = Field(
        default=None, description='"${AWS_ACCESS_KEY_ID}"; absent: the standard AWS credential chain'
    )
    secret_access_key: Secret | None = Field(default=None, description='"${AWS_SECRET_ACCESS_KEY}"')
    session_token: Secret | None = Field(default=None, description='"${AWS_SESSION_TOKEN}" (optional)')

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        m = _URL_SCHEME.match(v)
        if m and m.group(1).lower() not in (*OBJECT_SCHEMES, "file"):
            raise ValueError(
                f"{m.group(1)}:// is not a filesystem sfsync can keep state on: use a directory, "
                "s3://bucket/prefix, gs://bucket/prefix, hdfs://… or abfs://…"
            )
        if m and m.group(1).lower() != "file" and not urlsplit(v).netloc:
            raise ValueError(f"{v!r} names no bucket: write {m.group(1)}://bucket/prefix")
        return v

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("endpoint_url is http(s)://host[:port]")
        return v

    @model_validator(mode="after")
    def _object_only(self) -> FilesConfig:
        if self.scheme is None and any(
            x is not None
            for x in (
                self.endpoint_url,
                self.region,
                self.access_key_id,
                self.secret_access_key,
                self.session_token,
            )
        ):
            raise ValueError("endpoint_url, region and credentials apply to s3:// urls only")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give access_key_id and secret_access_key together (or neither: the AWS chain)")
        if self.scheme not in (None, "s3") and self.endpoint_url is not None:
            raise ValueError("endpoint_url applies to s3:// urls only")
        return self

    @property
    def scheme(self) -> str | None:
        """``s3``, ``gs``…; None for a local directory (a path, or ``file://``)."""
        m = _URL_SCHEME.match(self.url)
        scheme = m.group(1).lower() if m else None
        return None if scheme == "file" else scheme

    @property
    def local_path(self) -> str | None:
        """The directory, when the files are on a local (or mounted) filesystem."""
        if self.scheme is not None:
            return None
        return self.url[len("file://") :] if self.url.lower().startswith("file://") else self.url


class StateConfig(BaseModel):
    """Where run history, journal, sync status and run leases live (snapshots and row results stay in
    the state directory)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: SecretUrl | None = Field(
        default=None,
        description="postgresql://user:${PG_PASSWORD}@host:5432/dbname; absent: SQLite in .sfsync/",
    )
    schema_: str = Field(default="public", alias="schema", description="PostgreSQL schema of the tables")
    files: FilesConfig | None = Field(
        default=None,
        description="where snapshots, row results and work files are shared by the workers: a directory "
        "(relative to the project directory) or s3://bucket/prefix (default .sfsync/ beside the project)",
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="how long a run lease outlives its last heartbeat"
    )
    lease_heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="how often a held run lease is renewed"
    )
    diff_memory_limit: str = Field(
        default=DEFAULT_DIFF_MEMORY_LIMIT,
        description="DuckDB memory_limit of the local planner's diff and snapshot advance, e.g. 2GB "
        "(DuckDB spills to .sfsync/tmp beyond it)",
    )
    diff_threads: int | None = Field(
        default=None, ge=1, description="DuckDB threads of the local planner's diff (default: every core)"
    )

    @field_validator("diff_memory_limit", mode="before")
    @classmethod
    def _diff_memory(cls, v: object) -> str:
        return duckdb_size(v)

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


__all__ = ["OBJECT_SCHEMES", "STATE_DIR_NAME", "STATE_TMP_NAME", "FilesConfig", "StateConfig"]
