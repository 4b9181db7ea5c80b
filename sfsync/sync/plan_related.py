"""The planner's steps for related records, on the ``rows`` table of a plan being built (DuckDB).

Run by ``build_plan`` after the rows to send are known and before they are written to the send file:

1. ``resolve_sfsync_references``: record type and owner columns hold names; each distinct value sent is
   resolved to a record id (``sfsync.sync.references``) and written over the name. Rows whose value
   resolves to nothing are refused (``INVALID_CROSS_REFERENCE_KEY``, Salesforce's code for a reference to
   a record that is not there) with the reason, and sent again next run.
2. ``refuse_children_of_rejected``: a row whose lookup names a parent that another sync rejected earlier
   in the same pass is refused (``PARENT_REJECTED``) with a message naming that sync, and sent again next
   run; Salesforce would only have answered that the parent does not exist.
3. ``mark_clears``: lookups that some row clears (a value changed to null) get the reference field's own
   column in Bulk CSV (see ``sfsync.sync.encode``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import duckdb
import pyarrow as pa

from sfsync.config import Mode
from sfsync.salesforce import SalesforceClient
from sfsync.salesforce.describe import ObjectDescribe
from sfsync.sync import outcomes
from sfsync.sync.diff import q
from sfsync.sync.encode import send_column
from sfsync.sync.references import MapSpec, RejectedParents, Resolution, resolve_owners, resolve_record_types
from sfsync.sync.target import PK

UNRESOLVED_CODE = "INVALID_CROSS_REFERENCE_KEY"
PARENT_REJECTED_CODE = "PARENT_REJECTED"


def _sent_values(con: duckdb.DuckDBPyConnection, column: str) -> list[str]:
    c, s = q(column), q(send_column(column))
    rows = con.execute(
        f"SELECT DISTINCT CAST({c} AS VARCHAR) FROM rows"
        f" WHERE {s} AND {c} IS NOT NULL AND CAST({c} AS VARCHAR) <> ''"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _refuse(
    con: duckdb.DuckDBPyConnection,
    column: str,
    messages: dict[str, str],
    mode: Mode,
    code: str,
    field: str,
) -> pa.Table:
    """Refuse (and remove) the rows sending one of ``messages``' values; their outcomes."""
    if not messages:
        return outcomes.empty()
    bad = pa.table({"v": list(messages), "m": list(messages.values())})
    con.register("__bad", bad)
    c, s = q(column), q(send_column(column))
    hit = con.execute(
        f"SELECT r.{PK}, b.m FROM rows r JOIN __bad b ON CAST(r.{c} AS VARCHAR) = b.v WHERE r.{s}"
    ).fetchall()
    con.execute(f"DELETE FROM rows WHERE {s} AND CAST({c} AS VARCHAR) IN (SELECT v FROM __bad)")
    con.unregister("__bad")
    return outcomes.rejections_each([r[0] for r in hit], mode, code, [r[1] for r in hit], field)


def resolve_sfsync_references(
    con: duckdb.DuckDBPyConnection,
    specs: Sequence[MapSpec],
    describe: ObjectDescribe,
    client: SalesforceClient | None,
    mode: Mode,
) -> tuple[list[pa.Table], int]:
    """Replace record type and owner names by record ids; refuse rows whose name resolves to nothing.
    Returns the refusals and the API calls spent (owners are looked up with SOQL)."""
    refused: list[pa.Table] = []
    calls = 0
    for spec in specs:
        if spec.resolve is None:
            continue
        col = spec.map.column
        values = _sent_values(con, col)
        if not values:
            continue
        if spec.resolve == "record_type":
            res: Resolution = resolve_record_types(describe, values)
        else:
            assert client is not None, "owners are looked up in the org"
            before = client.stats.calls
            res = resolve_owners(client, values, spec.owner_by)
            calls += client.stats.calls - before
        refused.append(_refuse(con, col, res.refused, mode, UNRESOLVED_CODE, spec.map.field))
        if res.ids:
            con.register("__ids", pa.table({"v": list(res.ids), "id": list(res.ids.values())}))
            c = q(col)
            con.execute(f"ALTER TABLE rows ALTER {c} TYPE VARCHAR")
            con.execute(f"UPDATE rows SET {c} = __ids.id FROM __ids WHERE rows.{c} = __ids.v")
            con.unregister("__ids")
    return refused, calls


def refuse_children_of_rejected(
    con: duckdb.DuckDBPyConnection, specs: Sequence[MapSpec], rejected: RejectedParents | None, mode: Mode
) -> list[pa.Table]:
    """Refuse rows whose lookup names a parent row rejected earlier in this pass."""
    if not rejected:
        return []
    out: list[pa.Table] = []
    for spec in specs:
        lk = spec.map.lookup
        if lk is None:
            continue
        who: Callable[[str], str | None] = rejected.lookup(lk.parent_object, lk.parent_field)
        messages = {}
        for v in _sent_values(con, spec.map.column):
            sync = who(v)
            if sync is not None:
                messages[v] = (
                    f"its parent {lk.parent_object} with {lk.parent_field} {v!r} was rejected earlier in "
                    f"this run by sync {sync!r}, so it was not sent; it is sent again next run"
                )
        out.append(_refuse(con, spec.map.column, messages, mode, PARENT_REJECTED_CODE, lk.reference_field))
    return out


def mark_clears(con: duckdb.DuckDBPyConnection, specs: list[MapSpec]) -> list[MapSpec]:
    """Lookups some row clears carry ``clears=True`` (their Bulk CSV has the reference field's column)."""
    out = []
    for spec in specs:
        if spec.map.lookup is not None:
            c, s = q(spec.map.column), q(send_column(spec.map.column))
            row = con.execute(
                f"SELECT count(*) FROM rows WHERE {s} AND ({c} IS NULL OR CAST({c} AS VARCHAR) = '')"
            ).fetchone()
            if row and row[0]:
                spec = replace(spec, map=replace(spec.map, clears=True))
        out.append(spec)
    return out


__all__ = [
    "PARENT_REJECTED_CODE",
    "UNRESOLVED_CODE",
    "mark_clears",
    "refuse_children_of_rejected",
    "resolve_sfsync_references",
]
