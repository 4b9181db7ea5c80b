"""SOQL over the store: names resolved against the org's objects, compiled to one SQL query, paged lazily.

Parent paths (``Account.Name``, ``Account.Owner.Username``) become LEFT JOINs on the parent's Id; every
filter, sort, limit and offset runs in SQLite, so an ``IN`` of 200 external ids among a million rows is
an index lookup. Records are produced page by page (``QUERY_CHUNK_ROWS``), each page under the store lock:
without ORDER BY by keyset on Id (bounded by the largest Id at query time, so later inserts do not leak
in); with ORDER BY the matching Ids are fixed in order when the query runs and fetched by page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sfsync.emulator.metadata import ids
from sfsync.emulator.metadata.model import FieldDef
from sfsync.emulator.records.pending import json_list
from sfsync.emulator.records.results import ColumnInfo, QueryResult
from sfsync.emulator.records.soql_dates import date_range, range_sql
from sfsync.emulator.records.soql_parse import (
    BoolOp,
    Compare,
    Cond,
    FieldRef,
    InList,
    Literal,
    Not,
    Query,
    parse,
    query_error,
)
from sfsync.emulator.records.store import NAME_SOBJECT_COLUMN, Store, Table, quote
from sfsync.emulator.records.validate import (
    FLOAT_TYPES,
    ID_TYPES,
    INT_TYPES,
    STRING_TYPES,
    Codec,
    compound_parts,
    parse_datetime,
)

#: Records fetched from SQLite per page of a query result (Salesforce's default batch is 2,000).
QUERY_CHUNK_ROWS = 2000

_NO_COLUMN_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
_NO_RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the appropriate names."
)
_NO_OBJECT_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)


@dataclass
class _Node:
    """One object level of the output record: the root or a parent reached through a relationship."""

    table: Table
    alias: str
    id_index: int
    items: list[tuple[str, str, Any]] = field(default_factory=list)  # (kind, key, payload)
    #: For a polymorphic parent (the ``Name`` entity): index of the row's real object name, for its url.
    sobject_index: int | None = None
    children: dict[str, _Node] = field(default_factory=dict)  # lower relationship name → node


@dataclass
class _Resolved:
    alias: str
    table: Table
    codec: Codec
    node: _Node
    path: str  # exact API casing


class _Compiler:
    def __init__(self, store: Store, q: Query, include_deleted: bool) -> None:
        self.store = store
        self.q = q
        root = store.table(q.obj)
        if root is None or not root.obj.queryable:
            raise query_error(
                "INVALID_TYPE",
                q.text,
                q.obj_pos,
                f"sObject type '{q.obj}' is not supported. {_NO_OBJECT_HINT}",
            )
        self.root = root
        self.exprs: list[str] = ["t0.Id"]
        self.joins: list[str] = []
        self.node = _Node(root, "t0", 0)
        self.params: list[Any] = []
        self.columns: list[ColumnInfo] = []
        self.include_deleted = include_deleted

    # ---- names --------------------------------------------------------------------------------------
    def _parent(self, rel: FieldDef | None) -> Table | None:
        """The table a relationship leads to; a polymorphic one (``Lead.Owner``: Group or User) leads to
        the ``Name`` entity over its targets, as in real SOQL."""
        if rel is None or not rel.reference_to:
            return None
        if len(rel.reference_to) > 1:
            return self.store.name_table(tuple(rel.reference_to))
        return self.store.table(rel.reference_to[0])

    def resolve(self, ref: FieldRef) -> _Resolved:
        parts = ref.path.split(".")
        node = self.node
        if (
            len(parts) > 1
            and parts[0].lower() == self.root.name.lower()
            and (parts[0].lower() not in self.root.by_relationship)
        ):
            parts = parts[1:]
        api_path: list[str] = []
        for rel_name in parts[:-1]:
            rel = node.table.by_relationship.get(rel_name.lower())
            parent = self._parent(rel)
            if rel is None or parent is None:
                raise query_error(
                    "INVALID_FIELD",
                    self.q.text,
                    ref.pos,
                    f"Didn't understand relationship '{rel_name}' in field path. {_NO_RELATIONSHIP_HINT}",
                )
            child = node.children.get(rel_name.lower())
            if child is None:
                alias = f"t{len(self.joins) + 1}"
                self.joins.append(
                    f"LEFT JOIN {parent.sql} {alias} ON {alias}.Id = {node.alias}.{quote(rel.name)}"
                )
                self.exprs.append(f"{alias}.Id")
                child = _Node(parent, alias, len(self.exprs) - 1)
                if len(rel.reference_to) > 1:
                    self.exprs.append(f"{alias}.{NAME_SOBJECT_COLUMN}")
                    child.sobject_index = len(self.exprs) - 1
                node.children[rel_name.lower()] = child
                node.items.append(("node", rel.relationship_name or rel_name, child))
            node = child
            api_path.append(rel.relationship_name or rel_name)
        codec = node.table.codec(parts[-1])
        if codec is None:
            raise query_error(
                "INVALID_FIELD",
                self.q.text,
                ref.pos,
                f"No such column '{parts[-1]}' on entity '{node.table.name}'. {_NO_COLUMN_HINT}",
            )
        api_path.append(codec.field.name)
        return _Resolved(node.alias, node.table, codec, node, ".".join(api_path))

    # ---- SELECT -------------------------------------------------------------------------------------
    def select(self) -> None:
        seen: set[str] = set()
        for ref in self.q.fields:
            r = self.resolve(ref)
            if r.path.lower() in seen:
                raise query_error(
                    "MALFORMED_QUERY", self.q.text, ref.pos, f"duplicate field selected: {r.path}"
                )
            seen.add(r.path.lower())
            fd = r.codec.field
            self.columns.append(ColumnInfo(r.path, fd, r.table.name))
            if r.codec.stored:
                self.exprs.append(f"{r.alias}.{quote(fd.name)}")
                r.node.items.append(("field", fd.name, (len(self.exprs) - 1, r.codec.to_json)))
                continue
            parts = []
            for key, part in compound_parts(fd):
                if r.table.has(part):
                    self.exprs.append(f"{r.alias}.{quote(r.table.codecs[part.lower()].field.name)}")
                    parts.append((key, len(self.exprs) - 1))
            r.node.items.append(("compound", fd.name, parts))

    # ---- WHERE --------------------------------------------------------------------------------------
    def where(self) -> str:
        clauses = [] if self.include_deleted else ["t0.IsDeleted = 0"]
        if self.q.where is not None:
            clauses.append(self.cond(self.q.where))
        return " AND ".join(clauses) or "1"

    def cond(self, c: Cond) -> str:
        if isinstance(c, BoolOp):
            return "(" + f" {c.op} ".join(self.cond(p) for p in c.parts) + ")"
        if isinstance(c, Not):
            return f"NOT ({self.cond(c.part)})"
        r = self.resolve(c.field)
        if not r.codec.stored:
            raise query_error(
                "INVALID_FIELD", self.q.text, c.field.pos, f"can not filter on compound field: {r.path}"
            )
        col = f"{r.alias}.{quote(r.codec.field.name)}"
        if isinstance(c, InList):
            values = [self.value(r.codec.field, lit) for lit in c.values]
            if r.codec.field.type == "boolean":  # null matches false on a boolean field (below)
                values = [0 if v is None else v for v in values]
            present = [v for v in values if v is not None]
            marks = ", ".join("?" * len(present))
            self.params.extend(present)
            has_null = len(present) < len(values)
            if c.negate:
                sql = f"({col} NOT IN ({marks}))" if present else "1"
                return f"({col} IS NOT NULL AND {sql})" if has_null else f"({col} IS NULL OR {sql})"
            sql = f"{col} IN ({marks})" if present else "0"
            return f"({sql} OR {col} IS NULL)" if has_null else sql
        if c.op == "LIKE":
            self.params.append(c.value.value)
            return f"{col} LIKE ? ESCAPE '\\'"
        if c.value.kind == "dateliteral":
            return self.date_literal(col, r.codec.field, c)
        value = self.value(r.codec.field, c.value)
        if value is None and r.codec.field.type == "boolean" and c.op in ("=", "!="):
            # On a boolean field null matches false: `= null` is `= false`, `!= null` is `= true`
            # (docs/salesforce-facts.md#soql-subset, Salesforce's "Use null in WHERE" page). A missing
            # parent (`Parent.Flag = null`) still matches, as for any parent field.
            return f"({col} = 0 OR {col} IS NULL)" if c.op == "=" else f"{col} = 1"
        if value is None:
            if c.op not in ("=", "!="):
                raise query_error(
                    "MALFORMED_QUERY", self.q.text, c.value.pos, f"invalid operator on null: {c.op}"
                )
            return f"{col} IS NULL" if c.op == "=" else f"{col} IS NOT NULL"
        self.params.append(value)
        return f"{col} IS NOT ?" if c.op == "!=" else f"{col} {c.op} ?"

    def date_literal(self, col: str, fd: FieldDef, c: Compare) -> str:
        bounds = date_range(c.value.value)
        if fd.type not in ("date", "datetime") or bounds is None:
            raise query_error(
                "INVALID_FIELD",
                self.q.text,
                c.value.pos,
                f"value of filter criterion for field '{fd.name}' must be of type {fd.type} "
                "and should not be a date literal",
            )
        start, end = (d.isoformat() for d in bounds)
        if fd.type == "datetime":
            start, end = f"{start}T00:00:00.000+0000", f"{end}T00:00:00.000+0000"
        sql, params = range_sql(col, c.op, start, end)
        self.params.extend(params)
        return sql

    def value(self, fd: FieldDef, lit: Literal) -> Any:
        """The stored form of a literal compared with ``fd``, or the Salesforce error for a wrong type."""
        if lit.kind == "null":
            return None
        t = fd.type
        expected = _literal_for(t)
        if expected is None:
            raise query_error(
                "INVALID_FIELD", self.q.text, lit.pos, f"can not filter on field '{fd.name}' of type {t}"
            )
        kind, type_name, quoted = expected
        if lit.kind != kind:
            how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
            raise query_error(
                "INVALID_FIELD",
                self.q.text,
                lit.pos,
                f"value of filter criterion for field '{fd.name}' must be of type {type_name} and {how}",
            )
        if t in ID_TYPES:
            norm = ids.normalize(lit.value)
            if norm is None:
                raise query_error(
                    "INVALID_QUERY_FILTER_OPERATOR", self.q.text, lit.pos, f"invalid ID field: {lit.value}"
                )
            return norm
        if t == "boolean":
            return 1 if lit.value else 0
        if t == "datetime":
            return parse_datetime(lit.value)
        return lit.value

    # ---- ORDER BY -----------------------------------------------------------------------------------
    def order(self) -> str:
        items = []
        for o in self.q.order:
            r = self.resolve(o.field)
            if not r.codec.stored:
                raise query_error(
                    "INVALID_FIELD", self.q.text, o.field.pos, f"can not order by compound field: {r.path}"
                )
            nulls_last = o.descending if o.nulls_last is None else o.nulls_last
            items.append(
                f"{r.alias}.{quote(r.codec.field.name)} {'DESC' if o.descending else 'ASC'} "
                f"NULLS {'LAST' if nulls_last else 'FIRST'}"
            )
        return ", ".join(items)


#: Literal kind, type name in errors and whether quoted, for the field types compared by type name.
_LITERALS_BY_TYPE = {
    "time": ("string", "string", True),
    "boolean": ("boolean", "boolean", False),
    "date": ("date", "date", False),
    "datetime": ("datetime", "dateTime", False),
}


def _literal_for(field_type: str) -> tuple[str, str, bool] | None:
    """The literal kind a field of this type is compared with, the type's name in errors, and whether
    such a literal is quoted; None for types that cannot be filtered on."""
    if field_type in ID_TYPES or field_type in STRING_TYPES:
        return ("string", "string", True)
    if field_type in FLOAT_TYPES:
        return ("number", "double", False)
    if field_type in INT_TYPES:
        return ("number", "int", False)
    return _LITERALS_BY_TYPE.get(field_type)


def run_query(
    store: Store, soql: str, *, include_deleted: bool = False, version: str = "62.0"
) -> QueryResult:
    q = parse(soql)
    c = _Compiler(store, q, include_deleted)
    c.select()
    where = c.where()
    where_params = list(c.params)
    order = c.order()
    source = f"{c.root.sql} t0 {' '.join(c.joins)}"
    limit = -1 if q.limit is None else q.limit
    offset = q.offset or 0
    with store.lock:
        counted = f"SELECT 1 FROM {source} WHERE {where}"
        if q.limit is not None:  # a LIMIT bounds the count: no need to visit every matching row
            counted += f" LIMIT {q.limit + offset}"
        count = store.conn.execute(f"SELECT COUNT(*) FROM ({counted})", where_params).fetchone()[0]
        total = max(0, count - offset)
        if q.limit is not None:
            total = min(total, q.limit)
        if q.count:
            return QueryResult(c.root.name, [], total, iter(()), is_count=True)
        select = f"SELECT {', '.join(c.exprs)} FROM {source}"
        if order:
            ordered = [
                row[0]
                for row in store.conn.execute(
                    f"SELECT t0.Id FROM {source} WHERE {where} ORDER BY {order}, t0.Id LIMIT ? OFFSET ?",
                    [*where_params, limit, offset],
                )
            ]
            records = _by_ids(store, select, ordered, c.node, version)
            return QueryResult(c.root.name, c.columns, len(ordered), records)
        max_id = store.conn.execute(f"SELECT max(Id) FROM {c.root.sql}").fetchone()[0]
    records = _by_keyset(store, select, where, where_params, max_id, total, offset, c.node, version)
    return QueryResult(c.root.name, c.columns, total, records)


def _by_keyset(
    store: Store,
    select: str,
    where: str,
    params: list[Any],
    max_id: str | None,
    total: int,
    offset: int,
    node: _Node,
    version: str,
) -> Iterator[dict[str, Any]]:
    build = _builder(node, version)
    remaining = total
    last: str | None = None
    while remaining > 0 and max_id is not None:
        n = min(QUERY_CHUNK_ROWS, remaining)
        with store.lock:
            if last is None:
                rows = store.conn.execute(
                    f"{select} WHERE {where} AND t0.Id <= ? ORDER BY t0.Id LIMIT ? OFFSET ?",
                    [*params, max_id, n, offset],
                ).fetchall()
            else:
                rows = store.conn.execute(
                    f"{select} WHERE {where} AND t0.Id > ? AND t0.Id <= ? ORDER BY t0.Id LIMIT ?",
                    [*params, last, max_id, n],
                ).fetchall()
        for row in rows:
            yield build(row)
        if len(rows) < n:
            return
        remaining -= n
        last = rows[-1][0]


def _by_ids(
    store: Store, select: str, ordered: list[str], node: _Node, version: str
) -> Iterator[dict[str, Any]]:
    build = _builder(node, version)
    for start in range(0, len(ordered), QUERY_CHUNK_ROWS):
        page = ordered[start : start + QUERY_CHUNK_ROWS]
        with store.lock:
            rows = store.conn.execute(
                f"{select} WHERE t0.Id IN (SELECT value FROM json_each(?))", (json_list(page),)
            ).fetchall()
        by_id = {row[0]: row for row in rows}
        for rid in page:
            row = by_id.get(rid)
            if row is not None:
                yield build(row)


def _builder(root: _Node, version: str) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    base = f"/services/data/v{version}/sobjects/"

    def build(node: _Node, row: tuple[Any, ...]) -> dict[str, Any]:
        name = node.table.name  # "Name" for a polymorphic parent, whose url names the real object
        target = name if node.sobject_index is None else row[node.sobject_index]
        out: dict[str, Any] = {"attributes": {"type": name, "url": f"{base}{target}/{row[node.id_index]}"}}
        for kind, key, payload in node.items:
            if kind == "field":
                out[key] = payload[1](row[payload[0]])
            elif kind == "node":
                out[key] = None if row[payload.id_index] is None else build(payload, row)
            else:
                parts = {k: row[i] for k, i in payload}
                out[key] = parts if any(v is not None for v in parts.values()) else None
        return out

    return lambda row: build(root, row)
