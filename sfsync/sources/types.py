"""Logical column types: the warehouse-independent types mapping validation reasons about.

Every reader hands out Arrow data whose types are normalized so that :func:`logical_type` decides the
logical type from the Arrow type alone. Database types Arrow cannot carry faithfully (uuid, json,
intervals, arrays, enums, blobs, ...) are cast to text inside the source query, so they arrive as text.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa


class LogicalType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TIME = "time"
    OTHER = "other"  # binary and anything else no Salesforce field type accepts


def logical_type(t: pa.DataType) -> LogicalType:
    """The logical type of an Arrow type (decimals with scale 0 count as integers)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return LogicalType.TEXT
    if pa.types.is_dictionary(t):
        return logical_type(t.value_type)
    if pa.types.is_integer(t):
        return LogicalType.INTEGER
    if pa.types.is_decimal(t):
        return LogicalType.INTEGER if t.scale == 0 else LogicalType.DECIMAL
    if pa.types.is_floating(t):
        return LogicalType.FLOAT
    if pa.types.is_boolean(t):
        return LogicalType.BOOLEAN
    if pa.types.is_date(t):
        return LogicalType.DATE
    if pa.types.is_timestamp(t):
        return LogicalType.TIMESTAMP
    if pa.types.is_time(t):
        return LogicalType.TIME
    if pa.types.is_null(t):
        return LogicalType.TEXT
    return LogicalType.OTHER


def logical_columns(schema: pa.Schema) -> dict[str, LogicalType]:
    """Column name → logical type, in the schema's order."""
    return {f.name: logical_type(f.type) for f in schema}


__all__ = ["LogicalType", "logical_columns", "logical_type"]
