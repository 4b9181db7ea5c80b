"""The emulated org's data: records of every object, with the rules a real org enforces.

This module is the contract between the record engine (``store``, ``validate``, ``writes``, ``soql``)
and the HTTP layer (``rest``, ``bulk``). Values crossing it are JSON values as the REST API carries them:
str, int, float, bool, None; dates ``YYYY-MM-DD``; datetimes ``YYYY-MM-DDTHH:MM:SS.000+0000``.
Thread-safe: the HTTP layer calls it from many threads at once (one lock around the SQLite connection).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sfsync.emulator.metadata import ids
from sfsync.emulator.metadata.model import FieldDef, OrgConfig
from sfsync.emulator.records.automation import OrgAutomation
from sfsync.emulator.records.bulk_rows import BulkLoader
from sfsync.emulator.records.pending import Pending, Ref, json_list
from sfsync.emulator.records.relations import json_ref
from sfsync.emulator.records.results import (
    BulkRowResult,
    ColumnInfo,
    OrgError,
    QueryResult,
    RecordError,
    SaveResult,
)
from sfsync.emulator.records.soql import run_query
from sfsync.emulator.records.store import Store, Table, quote
from sfsync.emulator.records.validate import FieldValueError, compound_value, now_utc
from sfsync.emulator.records.write_rules import WriteRules
from sfsync.emulator.records.writes import ROLLED_BACK, Plan, Writer

__all__ = [
    "BulkRowResult",
    "ColumnInfo",
    "Org",
    "OrgError",
    "QueryResult",
    "RecordError",
    "SaveResult",
]

#: One write request per object: (table, operation, upsert key field, pending records).
Group = tuple[Table, str, FieldDef | None, list[Pending]]
_NOT_FOUND = "The requested resource does not exist"
HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)


class Org:
    """All records of one emulated org, stored in SQLite (``db_path`` or in memory)."""

    def __init__(self, config: OrgConfig, db_path: str | None = None) -> None:
        self.config = config
        self.store = Store(config, db_path)
        self.writer = Writer(self.store)
        self.automation = OrgAutomation(self.store, self.writer, config)
        self.bulk = BulkLoader(self.store, self.writer, self.automation)

    # ---- helpers -----------------------------------------------------------------------------------
    def _default_user(self, user_id: str | None) -> str | None:
        if user_id is not None:
            return user_id
        return self.config.users[0].id if self.config.users else None

    def table(self, obj: str, *, status: int = 404) -> Table:
        """The table of an object; unknown → 404 NOT_FOUND (REST path) or 400 INVALID_TYPE (body type)."""
        t = self.store.table(obj)
        if t is None:
            if status == 404:
                raise OrgError(404, "NOT_FOUND", _NOT_FOUND)
            raise OrgError(400, "INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        return t

    def _convert(self, table: Table, pos: int, record: dict[str, Any], creating: bool) -> Pending:
        values: dict[str, Any] = {}
        refs: list[Ref] = []
        error: RecordError | None = None
        record_id: str | None = None
        for key, value in record.items():
            if key == "attributes":
                continue
            low = key.lower()
            if low == "id":
                record_id = value
                continue
            codec = table.codecs.get(low)
            if codec is None:
                rel = table.by_relationship.get(low)
                if rel is not None and isinstance(value, dict):
                    ref = json_ref(self.store, rel, value)
                    if isinstance(ref, Ref):
                        refs.append(ref)
                    else:
                        error = error or ref
                    continue
                raise OrgError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {table.name}"
                )
            if not codec.stored or low in table.generated:
                error = error or RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {codec.field.name}.",
                    [codec.field.name],
                )
                continue
            try:
                values[codec.field.name] = codec.from_json(value)
            except FieldValueError as e:
                error = error or e.error
        p = Pending(pos, values, refs or None, error=error)
        if creating and record_id is not None and error is None:
            p.error = RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
            )
        elif record_id is not None:
            p.id = record_id
        return p

    def _check_id(self, table: Table | None, p: Pending) -> Table | None:
        """Normalize ``p.id`` in place and find its table; sets MALFORMED_ID on a bad or foreign id."""
        raw = p.id
        norm = ids.normalize(raw) if isinstance(raw, str) else None
        target = self.store.table_for_prefix(norm[:3]) if norm else None
        if norm is None or target is None or (table is not None and target is not table):
            label = table.name if table is not None else "record"
            p.error = p.error or RecordError(
                "MALFORMED_ID", f"{label} ID: id value of incorrect type: {raw}", ["Id"]
            )
            return None
        p.id = norm
        return target

    def _run(
        self,
        groups: list[Group],
        all_or_none: bool,
        user_id: str | None,
        as_upsert: bool = False,
        rules: WriteRules | None = None,
    ) -> list[SaveResult]:
        """Plan every group, then write all of them in one transaction (or none, with all_or_none).
        ``rules``: what the org's automation does on this write (None: nothing; see ``write_rules``)."""
        user = self._default_user(user_id)
        with self.store.lock:
            plans: list[Plan] = []
            everything: list[Pending] = []
            try:
                with self.store.transaction():
                    for table, op, ext, items in groups:
                        plan = self.writer.plan(table, op, ext, items, user)
                        plans.append(self.automation.run(plan, rules))
                        everything.extend(items)
                    failed = any(p.error is not None for p in everything)
                    if all_or_none and failed:
                        raise _Rollback
                    for plan in plans:
                        self.writer.apply(plan, user)
            except _Rollback:
                for p in everything:
                    if p.error is None:
                        p.error = ROLLED_BACK
        op_of = {p.pos: op for _, op, _, items in groups for p in items}
        everything.sort(key=lambda p: p.pos)
        # An upsert item says whether it creates (or would have created) a record even when it fails:
        # jsforce's integration test against a real org (test/connection-crud.test.ts, allOrNone upsert)
        # sees ``created: true`` on every item of a rolled-back request, the failing one included.
        out = []
        for p in everything:
            keep_id = p.error is None or (op_of[p.pos] == "update" and p.id is not None)
            out.append(
                SaveResult(
                    p.id if keep_id else None,
                    p.error is None,
                    [] if p.error is None else [p.error],
                    p.created if as_upsert else None,
                )
            )
        return out

    # ---- records through REST (JSON values) -------------------------------------------------
    def create(
        self,
        obj: str,
        records: Sequence[dict[str, Any]],
        *,
        all_or_none: bool = False,
        user_id: str | None = None,
        rules: WriteRules | None = None,
    ) -> list[SaveResult]:
        default = self.table(obj)
        by_table: dict[str, tuple[Table, list[Pending]]] = {}
        for pos, rec in enumerate(records):
            attrs = rec.get("attributes")
            kind = attrs.get("type") if isinstance(attrs, dict) else None
            table = self.table(kind, status=400) if kind else default
            if not table.obj.createable:
                raise OrgError(
                    400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {table.name}"
                )
            by_table.setdefault(table.name, (table, []))[1].append(self._convert(table, pos, rec, True))
        groups: list[Group] = [(t, "insert", None, items) for t, items in by_table.values()]
        return self._run(groups, all_or_none, user_id, rules=rules)

    def update(
        self,
        records: Sequence[dict[str, Any]],
        *,
        obj: str | None = None,
        all_or_none: bool = False,
        user_id: str | None = None,
        rules: WriteRules | None = None,
    ) -> list[SaveResult]:
        fixed = self.table(obj) if obj else None
        by_table: dict[str, tuple[Table, list[Pending]]] = {}
        orphans: list[Pending] = []
        for pos, rec in enumerate(records):
            attrs = rec.get("attributes")
            kind = attrs.get("type") if isinstance(attrs, dict) else None
            table = fixed or (self.table(kind, status=400) if kind else None)
            rid = rec.get("Id", rec.get("id"))
            if table is None:
                norm = ids.normalize(rid) if isinstance(rid, str) else None
                table = self.store.table_for_prefix(norm[:3]) if norm else None
            if table is None:
                p = Pending(pos, {}, record_id=rid)
                p.error = RecordError(
                    "MISSING_ARGUMENT" if rid is None else "MALFORMED_ID",
                    "Id not specified in an update call" if rid is None else f"malformed id {rid}",
                    [] if rid is None else ["Id"],
                )
                orphans.append(p)
                continue
            p = self._convert(table, pos, rec, False)
            if p.id is None:
                p.error = p.error or RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
            else:
                self._check_id(table, p)
            by_table.setdefault(table.name, (table, []))[1].append(p)
        groups: list[Group] = [(t, "update", None, items) for t, items in by_table.values()]
        if orphans:
            first = next(iter(self.store.tables.values()))
            groups.append((first, "update", None, orphans))
        return self._run(groups, all_or_none, user_id, rules=rules)

    def upsert(
        self,
        obj: str,
        ext_field: str,
        records: Sequence[dict[str, Any]],
        *,
        all_or_none: bool = False,
        user_id: str | None = None,
        rules: WriteRules | None = None,
    ) -> list[SaveResult]:
        table = self.table(obj)
        ext = self.ext_field(table, ext_field)
        items = []
        for pos, rec in enumerate(records):
            p = self._convert(table, pos, rec, False)
            if ext.name == "Id":
                if p.id is not None:
                    self._check_id(table, p)
            else:
                if p.id is not None and p.error is None:
                    p.error = RecordError(
                        "INVALID_FIELD_FOR_INSERT_UPDATE",
                        "The Id field should not be specified in the sobject data.",
                        ["Id"],
                    )
                p.key = p.values.get(ext.name)
            items.append(p)
        return self._run([(table, "upsert", ext, items)], all_or_none, user_id, as_upsert=True, rules=rules)

    def ext_field(self, table: Table, name: str) -> FieldDef:
        """The upsert key field ``name`` of ``table`` (``Id`` or an externalId/idLookup field), else 404."""
        if name.lower() == "id":
            return table.obj.fields.get("Id") or FieldDef("Id", "id")
        codec = table.codec(name)
        if codec is None or not (codec.field.external_id or codec.field.id_lookup):
            raise OrgError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}"
            )
        return codec.field

    def delete(
        self, ids_: Sequence[str], *, all_or_none: bool = False, hard: bool = False
    ) -> list[SaveResult]:
        pendings = [Pending(pos, {}, record_id=rid) for pos, rid in enumerate(ids_)]
        by_table: dict[str, tuple[Table, list[Pending]]] = {}
        for p in pendings:
            raw = p.id
            table = self._check_id(None, p)
            if table is None:
                p.error = RecordError("MALFORMED_ID", f"malformed id {raw}", [])
                continue
            by_table.setdefault(table.name, (table, []))[1].append(p)
        with self.store.lock:
            try:
                with self.store.transaction():
                    for table, items in by_table.values():
                        self.delete_rows(table, items, hard)
                    if all_or_none and any(p.error is not None for p in pendings):
                        raise _Rollback
            except _Rollback:
                for p in pendings:
                    if p.error is None:
                        p.error = ROLLED_BACK
        return [
            SaveResult(
                p.id if ids.is_well_formed(str(p.id)) else None,
                p.error is None,
                [] if p.error is None else [p.error],
            )
            for p in pendings
        ]

    def delete_rows(self, table: Table, items: list[Pending], hard: bool) -> None:
        """Soft (or hard) delete records with normalized ids; sets errors. Inside a transaction."""
        live = [p for p in items if p.error is None]
        if not table.obj.deletable:
            for p in live:
                p.error = RecordError(
                    "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", []
                )
            return
        state = dict(
            self.store.conn.execute(
                f"SELECT Id, IsDeleted FROM {table.sql} WHERE Id IN (SELECT value FROM json_each(?))",
                (json_list(p.id for p in live),),
            ).fetchall()
        )
        seen: set[str] = set()
        for p in live:
            deleted = state.get(p.id)
            if deleted is None:
                p.error = RecordError("NOT_FOUND", f"Record not found: {table.name} {p.id}", ["Id"])
            elif (deleted and not hard) or p.id in seen:
                p.error = RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
            seen.add(str(p.id))
        self.writer.lock_faults([p for p in live if p.error is None])
        done = [(p.id,) for p in live if p.error is None]
        if hard:
            self.store.conn.executemany(f"DELETE FROM {table.sql} WHERE Id = ?", done)
        else:
            stamps = [a for a in ("LastModifiedDate", "SystemModstamp") if a in table.audit]
            sets = ", ".join(["IsDeleted = 1", *(f"{a} = ?" for a in stamps)])
            now = now_utc()
            self.store.conn.executemany(
                f"UPDATE {table.sql} SET {sets} WHERE Id = ?",
                [(*([now] * len(stamps)), rid) for (rid,) in done],
            )

    def get(
        self, obj: str, record_id: str, fields: Sequence[str] | None = None, version: str = "62.0"
    ) -> dict[str, Any]:
        table = self.table(obj)
        norm = ids.normalize(record_id)
        if norm is None or norm[:3] != table.obj.key_prefix:
            raise OrgError(404, "NOT_FOUND", _NOT_FOUND)
        if fields:
            wanted = []
            for name in fields:
                codec = table.codec(name.strip())
                if codec is None:
                    raise OrgError(
                        400, "INVALID_FIELD", f"No such column '{name}' on entity '{table.name}'. {HINT}"
                    )
                wanted.append(codec.field)
        else:
            wanted = list(table.obj.fields.values())
        stored = [f.name for f in table.stored]
        with self.store.lock:
            cur = self.store.conn.execute(
                f"SELECT {', '.join(map(quote, stored))} FROM {table.sql} WHERE Id = ?", (norm,)
            )
            row = cur.fetchone()
        if row is None:
            raise OrgError(404, "NOT_FOUND", _NOT_FOUND)
        raw = dict(zip(stored, row, strict=True))
        if raw.get("IsDeleted"):
            raise OrgError(404, "ENTITY_IS_DELETED", "entity is deleted")
        out: dict[str, Any] = {
            "attributes": {
                "type": table.name,
                "url": f"/services/data/v{version}/sobjects/{table.name}/{norm}",
            }
        }
        for fd in wanted:
            codec = table.codecs[fd.name.lower()]
            out[fd.name] = codec.to_json(raw.get(fd.name)) if codec.stored else compound_value(fd, raw)
        return out

    def query(self, soql: str, *, include_deleted: bool = False, version: str = "62.0") -> QueryResult:
        return run_query(self.store, soql, include_deleted=include_deleted, version=version)

    # ---- records through Bulk API 2.0 (CSV cells: "" leaves unchanged, "#N/A" sets null) --------
    def bulk_load(
        self,
        obj: str,
        operation: str,
        ext_field: str | None,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        user_id: str | None = None,
        rules: WriteRules | None = None,
    ) -> list[BulkRowResult]:
        table = self.table(obj, status=400)
        user = self._default_user(user_id)
        return self.bulk.load(table, operation, ext_field, header, rows, user, self, rules)

    def reset(self) -> None:
        """Delete every record except the seeded users and organization."""
        with self.store.lock:
            self.store.reset()

    def close(self) -> None:
        with self.store.lock:
            self.store.close()


class _Rollback(Exception):
    """Raised inside a transaction to undo it (all-or-none)."""
