"""Numbers Salesforce cannot take: NaN and ±Infinity are refused before anything is sent.

JSON has no NaN or Infinity (RFC 8259), so a REST write could not even carry them, and Salesforce's
number fields hold none; in Bulk CSV they would be rejected row by row as
``INVALID_TYPE_ON_FIELD_IN_RECORD``. sfsync refuses them itself, at plan time, the same way whichever API
sends the rest: the row gets the error code :data:`INVALID_NUMBER`, a message naming the field and the
column, and is sent again (like every rejected row) once the model has a real number or null.

Decimals are never a problem here: the REST encoder writes them digit for digit
(``sfsync.salesforce.collections.dumps``) and the Bulk CSV writer prints them exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from sfsync.config import Mode
from sfsync.sync import outcomes
from sfsync.sync.diff import q
from sfsync.sync.encode import FieldMap, send_column

INVALID_NUMBER = "INVALID_NUMBER"
_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def refuse_non_finite(
    con: duckdb.DuckDBPyConnection, table: str, pk: str, maps: Sequence[FieldMap], mode: Mode
) -> pa.Table:
    """Delete from ``table`` the rows that would send NaN or ±Infinity to a field; their outcomes."""
    types = {str(name): str(kind).upper() for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall()}
    floats = [m for m in maps if types.get(m.column, "").startswith(_FLOAT_TYPES)]
    if not floats:
        return outcomes.empty()
    keys: list[str] = []
    messages: list[str] = []
    fields: list[str] = []
    for m in floats:
        c, send = q(m.column), q(send_column(m.column))
        bad = con.execute(
            f"SELECT {q(pk)}, CAST({c} AS VARCHAR) FROM {table} "
            f"WHERE coalesce({send}, false) AND (isnan({c}) OR isinf({c})) ORDER BY {q(pk)}"
        ).fetchall()
        for key, value in bad:
            if key in keys:
                continue  # one outcome per row: the first bad field names it
            keys.append(str(key))
            fields.append(m.field)
            messages.append(
                f"{m.field}: {value} (column {m.column}) is not a number Salesforce can store; "
                "fix it in the model, or make it null to clear the field"
            )
    if not keys:
        return outcomes.empty()
    con.execute(f"DELETE FROM {table} WHERE {q(pk)} IN (SELECT unnest(?))", [keys])
    n = len(keys)
    return pa.table(
        [
            keys,
            [False] * n,
            [outcomes.ATTEMPTED[mode]] * n,
            [None] * n,
            [INVALID_NUMBER] * n,
            messages,
            fields,
        ],
        schema=outcomes.OUTCOME_SCHEMA,
    )


__all__ = ["INVALID_NUMBER", "refuse_non_finite"]
