"""Find record ids by external id, for ``update`` syncs whose object id is an External ID / idLookup field.

Salesforce matches External ID text case-insensitively unless the field is case-sensitive, so keys are
compared the same way. Few keys go through batched SOQL ``IN`` queries (each kept well under the URL
limit); many keys through one Bulk API 2.0 query of the whole key column.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from sfsync.salesforce import SalesforceClient

#: Keys per SOQL query are bounded by the length of the IN list (Salesforce URIs stop near 16 KB).
MAX_IN_CHARS = 8000


@dataclass(frozen=True)
class LookupSettings:
    #: Above this many distinct keys, one Bulk query reads the whole key column instead of IN queries.
    bulk_query_above: int = 20_000


def soql_literal(value: str) -> str:
    """A SOQL string literal: backslash and single quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in_batches(values: Sequence[str]) -> list[list[str]]:
    batches: list[list[str]] = []
    current: list[str] = []
    size = 0
    for v in values:
        lit = len(soql_literal(v)) + 1
        if current and size + lit > MAX_IN_CHARS:
            batches.append(current)
            current, size = [], 0
        current.append(v)
        size += lit
    if current:
        batches.append(current)
    return batches


def lookup_ids(
    client: SalesforceClient,
    object_name: str,
    field: str,
    keys: Sequence[str],
    *,
    case_sensitive: bool = False,
    settings: LookupSettings | None = None,
) -> pa.Table:
    """One row per distinct input key: ``key``, ``record_id`` (first match or null), ``matches`` (count)."""
    settings = settings or LookupSettings()
    distinct = list(dict.fromkeys(k for k in keys if k is not None and k != ""))

    def norm(v: str) -> str:
        return v if case_sensitive else v.lower()

    found: dict[str, list[str]] = defaultdict(list)
    if len(distinct) > settings.bulk_query_above:
        table = client.bulk_query.run(f"SELECT Id, {field} FROM {object_name} WHERE {field} != null")
        for rid, value in zip(table.column("Id").to_pylist(), table.column(field).to_pylist(), strict=True):
            if value:
                found[norm(value)].append(rid)
    else:
        for batch in _in_batches(distinct):
            values = ",".join(map(soql_literal, batch))
            soql = f"SELECT Id, {field} FROM {object_name} WHERE {field} IN ({values})"
            for rec in client.query(soql):
                value = rec.get(field)
                if value is not None:
                    found[norm(str(value))].append(str(rec["Id"]))
    ids = [found.get(norm(k), []) for k in distinct]
    return pa.table(
        {
            "key": pa.array(distinct, pa.string()),
            "record_id": pa.array([i[0] if i else None for i in ids], pa.string()),
            "matches": pa.array([len(i) for i in ids], pa.int32()),
        }
    )
