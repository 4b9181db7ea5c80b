"""Warehouse readers: stream a model's (or segment's) rows as Arrow record batches.

::

    from sfsync.sources import open_source, query_for

    query = query_for(project, "french_vips", columns=["customer_id", "email"])
    with open_source(project, query.source) as source:
        source.columns(query)        # {"customer_id": LogicalType.INTEGER, "email": LogicalType.TEXT}
        source.count_rows(query)     # counted in the warehouse, filter pushed down
        for batch in source.read(query, batch_rows=50_000):   # pa.RecordBatchReader
            ...

Readers: DuckDB file (embedded default), PostgreSQL (psycopg 3, COPY parsed by Arrow), Snowflake (its
connector; tested on fakesnow only), any SQLAlchemy URL
(Snowflake, BigQuery, Databricks with their extras), CSV / Parquet files through DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sfsync.config.dbt import model_sql
from sfsync.config.project import Project
from sfsync.config.sources import (
    CsvSource,
    DuckDBSource,
    ParquetSource,
    PostgresSource,
    SnowflakeSource,
    SourceConfig,
    SqlAlchemySource,
)
from sfsync.errors import ConfigError
from sfsync.sources.base import DEFAULT_BATCH_ROWS, DEFAULT_PREVIEW_ROWS, ModelQuery, Source
from sfsync.sources.types import LogicalType, logical_columns, logical_type


def open_source(project: Project, name: str, *, spill_dir: Path | None = None) -> Source:
    """Open the source ``name`` of ``project`` (relative paths resolve against the project directory).

    ``spill_dir``: where a source read through DuckDB (duckdb, csv, parquet) spills beyond its
    ``memory_limit``, in a folder of its own removed on close; pass the state store's ``paths.tmp``.
    Default: the project's ``.sfsync/tmp`` when it exists, else the system's temporary directory
    (``sfsync.sources.duck.default_spill_parent``)."""
    if name not in project.sources:
        known = ", ".join(sorted(project.sources))
        raise ConfigError(f"there is no source {name!r}", hint=f"sources in this project: {known}")
    return open_source_config(name, project.sources[name], project, spill_dir=spill_dir)


def open_source_config(
    name: str, config: SourceConfig, project: Project, *, spill_dir: Path | None = None
) -> Source:
    """Open a source from its configuration (``spill_dir``: see :func:`open_source`)."""
    if isinstance(config, DuckDBSource | CsvSource | ParquetSource):
        from sfsync.sources.duck import (
            DuckDBLimits,
            DuckDBReader,
            default_spill_parent,
            open_files,
            spill_directory,
        )

        parent = spill_dir if spill_dir is not None else default_spill_parent(project.root)
        path = project.resolve_path(config.path)
        database = path if isinstance(config, DuckDBSource) else None
        limits = DuckDBLimits.of(config, spill_directory(parent, database), project.where("sources", name))
        if isinstance(config, DuckDBSource):
            return DuckDBReader.open(name, config, path, limits)
        return open_files(name, config, str(path), limits)
    if isinstance(config, PostgresSource):
        from sfsync.sources.postgres import PostgresReader

        return PostgresReader(name, config)
    if isinstance(config, SnowflakeSource):
        from sfsync.sources.snowflake import SnowflakeReader

        return SnowflakeReader(name, config)
    if isinstance(config, SqlAlchemySource):
        from sfsync.sources.sqlalchemy_source import SqlAlchemyReader

        return SqlAlchemyReader(name, config)
    raise ConfigError(f"source {name!r} has an unsupported type")  # pragma: no cover (the union is closed)


def query_for(project: Project, from_name: str, columns: Sequence[str] | None = None) -> ModelQuery:
    """The query for a model or segment name (a sync's ``from:``), reading ``columns`` (None = all)."""
    model_name, model, segment_name, where = project.resolve_from(from_name)
    return ModelQuery(
        source=model.source,
        model=model_name,
        sql=model_sql(project, model_name),
        where=where,
        segment=segment_name,
        columns=None if columns is None else tuple(dict.fromkeys(columns)),
    )


__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_PREVIEW_ROWS",
    "LogicalType",
    "ModelQuery",
    "Source",
    "logical_columns",
    "logical_type",
    "open_source",
    "open_source_config",
    "query_for",
]
