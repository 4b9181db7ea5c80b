"""Per-row outcomes as Arrow tables, in the column layout the state store takes (``sfsync.state.results``).

Every row sent (or rejected before sending) ends as one outcome: the model's primary key, success, the
operation done (``created`` / ``updated``) or attempted (``insert`` / ``update`` / ``upsert``), the record id,
and on failure Salesforce's error code, message and fields.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from sfsync.config import TargetMode
from sfsync.salesforce.results import RecordResult
from sfsync.state.results import PART_SCHEMA

#: The columns the state store keeps for each row (``sfsync.state.results``).
OUTCOME_SCHEMA = PART_SCHEMA

#: The operation attempted in each mode (what a rejected row was trying to do).
ATTEMPTED = {
    "insert": "insert",
    "update": "update",
    "upsert": "upsert",
    "clear": "clear",
    "flag": "flag",
    "delete": "delete",
}

#: Modes that act on the records of rows that left the model (``on_row_removed``, sfsync.sync.removals),
#: and the operation an accepted row of each ends as: removals are their own operations in row results.
REMOVAL_DONE = {"clear": "cleared", "flag": "flagged", "delete": "deleted"}

#: What Salesforce answers to a delete of a record already in the recycle bin: for a removal that is
#: done, not a failure (a delete repeated after a crash changes nothing).
ENTITY_IS_DELETED = "ENTITY_IS_DELETED"


#: Salesforce's code for a row a duplicate rule refused; its message is only the rule's alert text
#: ("Use one of these records?" for the standard rules), so the stored message says what happened.
DUPLICATES_DETECTED = "DUPLICATES_DETECTED"


def explain(code: str | None, message: str) -> str:
    """The message stored for a rejected row: Salesforce's own, with plain words where it says too little."""
    if code == DUPLICATES_DETECTED:
        return (
            "refused as a duplicate: a duplicate rule of the org matched an existing record "
            f'(Salesforce says "{message}"); merge or link the records in Salesforce, or set '
            "duplicate_rules: allow_save on the sync to save it anyway (rules that block still refuse)"
        )
    return message


def done_operation(mode: TargetMode, created: bool | None) -> str:
    """What happened to an accepted row: ``created`` or ``updated`` (or a removal's own operation)."""
    if mode in REMOVAL_DONE:
        return REMOVAL_DONE[mode]
    if mode == "insert":
        return "created"
    if mode == "update":
        return "updated"
    return "created" if created else "updated"


def from_record_results(keys: Sequence[str], results: Sequence[RecordResult], mode: TargetMode) -> pa.Table:
    """Outcomes of REST results; ``results[i]`` belongs to ``keys[i]``."""
    ok: list[bool] = []
    ops: list[str] = []
    ids: list[str | None] = []
    codes: list[str | None] = []
    msgs: list[str | None] = []
    fields: list[str | None] = []
    for r in results:
        ok.append(r.success)
        ids.append(r.id)
        if r.success:
            ops.append(done_operation(mode, r.created))
            codes.append(None)
            msgs.append(None)
            fields.append(None)
        else:
            first = r.errors[0] if r.errors else None
            ops.append(ATTEMPTED[mode])
            codes.append(first.status_code if first else "UNKNOWN_EXCEPTION")
            text = "; ".join(e.message for e in r.errors) if r.errors else "no error reported"
            msgs.append(explain(first.status_code if first else None, text))
            fields.append(",".join(first.fields) if first and first.fields else None)
    return already_deleted(
        pa.table([list(keys), ok, ops, ids, codes, msgs, fields], schema=OUTCOME_SCHEMA), mode
    )


def already_deleted(table: pa.Table, mode: str) -> pa.Table:
    """For a ``delete`` removal, rows answered ``ENTITY_IS_DELETED`` (the record is in the recycle bin
    already: deleted by an earlier attempt whose answer a crash lost, or by someone) count as deleted."""
    if mode != "delete" or not table.num_rows:
        return table
    gone = pc.fill_null(pc.equal(table.column("error_code"), ENTITY_IS_DELETED), False)
    if not pc.any(gone).as_py():
        return table
    none = pa.nulls(table.num_rows, pa.string())
    return pa.table(
        [
            table.column("primary_key"),
            pc.or_(table.column("success"), gone),
            pc.if_else(gone, REMOVAL_DONE["delete"], table.column("operation")),
            table.column("record_id"),
            pc.if_else(gone, none, table.column("error_code")),
            pc.if_else(gone, "already in the recycle bin", table.column("message")),
            pc.if_else(gone, none, table.column("fields")),
        ],
        schema=OUTCOME_SCHEMA,
    )


def rejections(
    keys: Sequence[str], mode: TargetMode, code: str, message: str, field: str | None = None
) -> pa.Table:
    """Outcomes for rows refused before any call (e.g. ``NOT_FOUND`` from the id lookup)."""
    n = len(keys)
    return pa.table(
        [list(keys), [False] * n, [ATTEMPTED[mode]] * n, [None] * n, [code] * n, [message] * n, [field] * n],
        schema=OUTCOME_SCHEMA,
    )


def rejections_each(
    keys: Sequence[str], mode: TargetMode, code: str, messages: Sequence[str], field: str | None = None
) -> pa.Table:
    """Like :func:`rejections`, with one message per row."""
    n = len(keys)
    return pa.table(
        [list(keys), [False] * n, [ATTEMPTED[mode]] * n, [None] * n, [code] * n, list(messages), [field] * n],
        schema=OUTCOME_SCHEMA,
    )


def empty() -> pa.Table:
    return OUTCOME_SCHEMA.empty_table()
