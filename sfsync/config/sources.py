"""``sources:``: where models read from. Discriminated by ``type``.

::

    duckdb      {path: warehouse.duckdb}                         the embedded default (a DuckDB file)
    postgres    {url: "postgresql://user:${PG_PASSWORD}@host:5432/db"}
    snowflake   {account: org-acct, user: sfsync, password: "${SNOWFLAKE_PASSWORD}", database: DB, schema: S}
    sqlalchemy  {url: "snowflake://user:${SF_PW}@account/db/schema?warehouse=wh"}  any SQLAlchemy URL
    csv         {path: data/}     every *.csv under path becomes a table named after the file
    parquet     {path: data/}     same for *.parquet (path may also be one file or a glob)

Relative paths are relative to the project file's directory. Connection URLs are secrets: a password in
a URL must come through ``${NAME}``. ``duckdb``, ``csv`` and ``parquet`` sources are read through a DuckDB
bounded by their ``memory_limit`` (:data:`DEFAULT_SOURCE_MEMORY_LIMIT`; ``null``: DuckDB's own default).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sfsync.config.env import Secret, SecretUrl


class _SourceBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = None


#: DuckDB ``memory_limit`` of the DuckDB that reads a ``duckdb``, ``csv`` or ``parquet`` source, unless the
#: source sets its own: the same as the diff's (``sfsync.sync.diff.DiffSettings``), so a run's memory is
#: bounded by sfsync's settings and not by the size of the warehouse file. Beyond it DuckDB evicts the
#: blocks it cached and spills joins, aggregates and sorts to disk (docs/project-file.md#sources).
DEFAULT_SOURCE_MEMORY_LIMIT = "512MB"

#: A DuckDB size: a number and a unit, 1000-based (KB, MB, GB, TB) or 1024-based (KiB, MiB, GiB, TiB).
_DUCKDB_SIZE = re.compile(r"^\s*[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def duckdb_size(v: object, otherwise: str = "") -> str:
    """``v`` if it is a size DuckDB's ``memory_limit`` takes (``512MB``, ``2GB``, ``1.5GiB``), else the
    error saying what to write (``otherwise``: the other forms the key accepts)."""
    if isinstance(v, str) and _DUCKDB_SIZE.match(v):
        return v
    raise ValueError(
        "a DuckDB size such as 512MB, 2GB or 1.5GiB (units KB, MB, GB, TB or KiB, MiB, GiB, TiB)"
        + (f", {otherwise}" if otherwise else "")
    )


class _DuckDBReads(_SourceBase):
    """What bounds the DuckDB sfsync reads a source through."""

    memory_limit: str | None = Field(
        default=DEFAULT_SOURCE_MEMORY_LIMIT,
        description="DuckDB memory_limit for reads, e.g. 2GB (DuckDB spills to disk beyond it); "
        "null: DuckDB's own default, 80% of RAM",
    )
    threads: int | None = Field(default=None, ge=1, description="DuckDB threads for reads")

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _size(cls, v: object) -> object:
        return v if v is None else duckdb_size(v, "or null for DuckDB's own default (80% of RAM)")


class DuckDBSource(_DuckDBReads):
    """A DuckDB database file, opened read-only."""

    type: Literal["duckdb"]
    path: str = Field(min_length=1, description="database file; relative to the project directory")


#: Where a sync's diff runs: ``local`` streams the model into DuckDB; ``warehouse`` diffs in the source's
#: database against a snapshot kept there (docs/warehouse-planner.md).
Planner = Literal["local", "warehouse"]
#: The schema the warehouse planner creates and owns, when the source does not name one.
DEFAULT_PLANNER_SCHEMA = "sfsync"


class _PlannerSource(_SourceBase):
    """A SQL source the warehouse planner can diff in."""

    planner: Planner = Field(
        default="local",
        description="where syncs from this source diff by default: local (DuckDB) or warehouse "
        "(a sync's own `planner:` overrides it)",
    )
    planner_schema: str = Field(
        default=DEFAULT_PLANNER_SCHEMA,
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="schema the warehouse planner creates and owns (snapshots, staging tables)",
    )


class PostgresSource(_PlannerSource):
    """A PostgreSQL database, streamed with psycopg 3 (COPY parsed by Arrow)."""

    type: Literal["postgres"]
    url: SecretUrl = Field(description="postgresql://user:${PG_PASSWORD}@host:5432/dbname")
    connect_timeout_seconds: int = Field(default=10, ge=1, description="seconds to wait for a connection")
    planner_work_mem: str = Field(
        default="256MB",
        pattern=r"^[0-9]+\s*(kB|MB|GB)$",
        description="PostgreSQL work_mem for the warehouse planner's session (its hash joins and "
        "aggregates over the model and the snapshot spill to disk beyond it)",
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: object) -> object:
        text = v.get_secret_value() if hasattr(v, "get_secret_value") else str(v)
        if not text.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "a postgres source url starts with postgresql:// (for other drivers use type: sqlalchemy)"
            )
        return v


class SqlAlchemySource(_SourceBase):
    """Any database SQLAlchemy has a dialect for (extras: sfsync[snowflake|bigquery|databricks])."""

    type: Literal["sqlalchemy"]
    url: SecretUrl = Field(
        description="a SQLAlchemy URL, e.g. snowflake://user:${SNOWFLAKE_PASSWORD}@account/db"
    )
    connect_args: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="extra keyword arguments for the DBAPI connect()"
    )


class SnowflakeSource(_PlannerSource):
    """Snowflake through its Python connector (``pip install 'sfsync[snowflake]'``). Tested only on
    fakesnow, a local Snowflake fake (docs/warehouse-planner.md#dialects)."""

    type: Literal["snowflake"]
    account: str = Field(min_length=1, description="the account identifier, e.g. myorg-myaccount")
    user: str = Field(min_length=1)
    password: Secret = Field(description="${SNOWFLAKE_PASSWORD}: through the environment or .env")
    database: str = Field(min_length=1)
    schema_: str = Field(alias="schema", min_length=1, description="the schema models' tables are in")
    warehouse: str | None = Field(default=None, description="the virtual warehouse queries run on")
    role: str | None = None
    login_timeout_seconds: int = Field(default=30, ge=1, description="seconds to wait for a login")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CsvSource(_DuckDBReads):
    """CSV files read through DuckDB; each file is a table named after its stem."""

    type: Literal["csv"]
    path: str = Field(min_length=1, description="a .csv file, a directory of them, or a glob")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    header: bool = True
    encoding: Literal["utf-8", "utf-16", "latin-1"] = Field(
        default="utf-8", description="the files' text encoding (DuckDB reads these three natively)"
    )


class ParquetSource(_DuckDBReads):
    """Parquet files read through DuckDB; each file is a table named after its stem."""

    type: Literal["parquet"]
    path: str = Field(min_length=1, description="a .parquet file, a directory of them, or a glob")


#: Source types the warehouse planner runs on → the sqlglot dialect its SQL is rendered in.
WAREHOUSE_DIALECTS = {"postgres": "postgres", "snowflake": "snowflake"}


def warehouse_dialect(source: object) -> str | None:
    """The sqlglot dialect the warehouse planner uses on ``source`` (a source config, or its raw
    mapping), or None when the warehouse planner cannot diff there."""
    kind = source.get("type") if isinstance(source, dict) else getattr(source, "type", None)
    return WAREHOUSE_DIALECTS.get(kind) if isinstance(kind, str) else None


SourceConfig = Annotated[
    DuckDBSource | PostgresSource | SnowflakeSource | SqlAlchemySource | CsvSource | ParquetSource,
    Field(discriminator="type"),
]

__all__ = [
    "DEFAULT_PLANNER_SCHEMA",
    "DEFAULT_SOURCE_MEMORY_LIMIT",
    "WAREHOUSE_DIALECTS",
    "CsvSource",
    "DuckDBSource",
    "ParquetSource",
    "Planner",
    "PostgresSource",
    "SnowflakeSource",
    "SourceConfig",
    "SqlAlchemySource",
    "warehouse_dialect",
]
