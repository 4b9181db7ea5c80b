"""Every statement of the warehouse planner, built as sqlglot expressions and rendered per dialect.

Identifiers and values never enter SQL text by string concatenation: fixed-shape statements are
templates whose ``:placeholders`` are replaced by sqlglot identifier, table and literal nodes; the
variable parts (one projection per mapped column) are built node by node. The model's own SQL (the
project file's ``sql:`` or ``table:`` and a segment's ``where``) is parsed by sqlglot in the source's
dialect and embedded as a subquery.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from sfsync.errors import ConfigError
from sfsync.sync.diff import KIND_CHANGED, KIND_COLUMN, KIND_NEW, RESEND_COLUMN
from sfsync.sync.encode import send_column

#: Name of the table (in the planner schema) recording each sync's snapshot generation there.
META_TABLE = "sfsync_snapshots"
#: Column of the rejected-keys and accepted-keys tables: primary keys as text.
KEY_COLUMN = "k"
_MODEL = "sfsync_m0"
_TEXT = exp.DataType.build("varchar")
_SAFE = re.compile(r"[^a-z0-9_]")


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def as_text(e: exp.Expr) -> exp.Expr:
    return exp.cast(e, _TEXT)


def _template(text: str, **values: exp.Expr) -> exp.Expr:
    return exp.replace_placeholders(sqlglot.parse_one(text, read="postgres"), **values)


@dataclass(frozen=True)
class Tables:
    """The tables one sync owns in the planner schema (names short enough for PostgreSQL's 63)."""

    schema: str
    sync: str

    @property
    def tag(self) -> str:
        digest = hashlib.sha256(self.sync.encode()).hexdigest()[:8]
        return f"{_SAFE.sub('_', self.sync.lower())[:24]}_{digest}"

    def table(self, name: str) -> exp.Table:
        return exp.table_(name, db=self.schema, quoted=True)

    @property
    def meta(self) -> exp.Table:
        return self.table(META_TABLE)

    @property
    def snapshot_name(self) -> str:
        return f"snap_{self.tag}"

    @property
    def snapshot(self) -> exp.Table:
        return self.table(self.snapshot_name)

    @property
    def rejected(self) -> exp.Table:
        return self.table(f"rej_{self.tag}")

    def diff_prefixes(self) -> tuple[str, ...]:
        """Prefixes of the per-diff tables (rows to send, gone keys, accepted keys, rebuilt snapshot)."""
        return tuple(f"{p}_{self.tag}_" for p in ("send", "gone", "acc", "next"))

    def send(self, diff_key: str) -> exp.Table:
        return self.table(f"send_{self.tag}_{diff_key}")

    def gone(self, diff_key: str) -> exp.Table:
        return self.table(f"gone_{self.tag}_{diff_key}")

    def accepted(self, diff_key: str) -> exp.Table:
        return self.table(f"acc_{self.tag}_{diff_key}")

    def rebuilt_name(self, diff_key: str) -> str:
        return f"next_{self.tag}_{diff_key}"


class Sql:
    """Renders the planner's statements in one sqlglot dialect (``postgres``, ``snowflake``, ...)."""

    def __init__(self, dialect: str, tables: Tables) -> None:
        self.dialect = dialect
        self.t = tables

    def render(self, e: exp.Expr) -> str:
        return e.sql(dialect=self.dialect)

    # ---- owned schema and bookkeeping ----------------------------------------------------------------
    def create_schema(self) -> str:
        return self.render(_template("CREATE SCHEMA IF NOT EXISTS :s", s=ident(self.t.schema)))

    def use_schema(self, database: str, schema: str) -> str:
        """Snowflake: back to the session's schema (``CREATE SCHEMA`` makes the new one current)."""
        use = sqlglot.parse_one("USE SCHEMA :s", read="snowflake")
        return self.render(exp.replace_placeholders(use, s=exp.table_(schema, db=database, quoted=True)))

    def current_schema(self) -> str:
        return self.render(sqlglot.parse_one("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()", read="snowflake"))

    def create_meta(self) -> str:
        return self.render(
            _template(
                "CREATE TABLE IF NOT EXISTS :m (sync VARCHAR PRIMARY KEY, generation BIGINT NOT NULL,"
                " diff VARCHAR)",
                m=self.t.meta,
            )
        )

    def read_meta(self) -> str:
        return self.render(
            _template(
                "SELECT generation, diff FROM :m WHERE sync = :v", m=self.t.meta, v=self._str(self.t.sync)
            )
        )

    def set_meta(self, generation: int, diff: str | None) -> list[str]:
        delete = _template("DELETE FROM :m WHERE sync = :v", m=self.t.meta, v=self._str(self.t.sync))
        insert = _template(
            "INSERT INTO :m (sync, generation, diff) VALUES (:v, :g, :d)",
            m=self.t.meta,
            v=self._str(self.t.sync),
            g=exp.Literal.number(generation),
            d=exp.null() if diff is None else self._str(diff),
        )
        return [self.render(delete), self.render(insert)]

    def list_tables(self) -> str:
        return self.render(
            _template(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = :s",
                s=self._str(self.t.schema),
            )
        )

    def analyze(self, table: exp.Table) -> str:
        """PostgreSQL: fresh planner statistics for a table sfsync just rewrote."""
        return self.render(_template("ANALYZE :t", t=table))

    def drop(self, table: exp.Table) -> str:
        return self.render(_template("DROP TABLE IF EXISTS :t", t=table))

    def count(self, table: exp.Table) -> str:
        return self.render(_template("SELECT COUNT(*) FROM :t", t=table))

    def create_rejected(self) -> str:
        return self.render(
            _template(
                "CREATE TABLE IF NOT EXISTS :t (:k VARCHAR NOT NULL)", t=self.t.rejected, k=ident(KEY_COLUMN)
            )
        )

    def create_table(self, table: exp.Table, columns: Mapping[str, str], from_dialect: str) -> str:
        """``CREATE TABLE`` with columns whose types are named in ``from_dialect`` (e.g. DuckDB's)."""
        defs = [
            exp.ColumnDef(this=ident(c), kind=exp.DataType.build(t, dialect=from_dialect))
            for c, t in columns.items()
        ]
        return self.render(exp.Create(this=exp.Schema(this=table, expressions=defs), kind="TABLE"))

    def copy_into(self, table: exp.Table, columns: Sequence[str]) -> str:
        """PostgreSQL: ``COPY <table> (<columns>) FROM STDIN`` (names rendered by sqlglot)."""
        names = ", ".join(self.render(ident(c)) for c in columns)
        return "COPY " + self.render(table) + " (" + names + ") FROM STDIN"

    def select_all(self, table: exp.Table) -> str:
        return self.render(exp.select("*").from_(table))

    def delete_all(self, table: exp.Table) -> str:
        return self.render(exp.delete(table))

    def create_keys_table(self, table: exp.Table) -> str:
        return self.render(_template("CREATE TABLE :t (:k VARCHAR NOT NULL)", t=table, k=ident(KEY_COLUMN)))

    def insert_keys(self, table: exp.Table) -> str:
        """A parameterised insert of one key (DBAPI ``%s`` style) for warehouses without COPY."""
        return self.render(
            _template("INSERT INTO :t (:k) VALUES (:v)", t=table, k=ident(KEY_COLUMN), v=exp.Placeholder())
        ).replace("?", "%s")

    def insert_row(self, table: exp.Table, columns: Sequence[str]) -> str:
        """A parameterised insert of one row (DBAPI ``%s`` style) for warehouses without COPY."""
        values = exp.Tuple(expressions=[exp.Placeholder() for _ in columns])
        insert = exp.insert(exp.Values(expressions=[values]), table, columns=[ident(c) for c in columns])
        return self.render(insert).replace("?", "%s")

    def copy_keys(self, table: exp.Table) -> str:
        return self.copy_into(table, [KEY_COLUMN])

    def _str(self, value: str) -> exp.Literal:
        return exp.Literal.string(value)

    # ---- the model -----------------------------------------------------------------------------------
    def model(
        self,
        model_sql: str,
        stored: Sequence[str],
        text_columns: set[str],
        primary_key: str,
        constants: Mapping[str, object],
    ) -> exp.Select:
        """The model's rows as the diff sees them: its columns (text columns as text, empty text as null
        except in the key) plus one literal column per constant."""
        try:
            inner = sqlglot.parse_one(model_sql, read=self.dialect)
        except SqlglotError as exc:
            raise ConfigError(
                f"the warehouse planner cannot parse the model's SQL in the {self.dialect} dialect: {exc}",
                hint="simplify the model's sql, or set `planner: local` on its source",
            ) from exc
        if not isinstance(inner, exp.Query):
            raise ConfigError(
                "the warehouse planner needs the model's SQL to be a query",
                hint="set `planner: local` on its source",
            )
        projections: list[exp.Expr] = []
        for c in stored:
            if c in constants:
                projections.append(exp.alias_(literal(constants[c]), ident(c)))
                continue
            e: exp.Expr = col(c, _MODEL)
            if c in text_columns:
                e = as_text(e)
                if c != primary_key:
                    e = exp.Nullif(this=e, expression=exp.Literal.string(""))
            projections.append(exp.alias_(e, ident(c)))
        return exp.select(*projections).from_(inner.subquery(ident(_MODEL)))


def literal(value: object) -> exp.Expr:
    """A constant's value as a typed SQL literal (the types ``sfsync.sync.references`` gives it)."""
    if value is None:
        return exp.cast(exp.null(), _TEXT)
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int):
        return exp.cast(exp.Literal.number(value), exp.DataType.build("bigint"))
    if isinstance(value, float):
        return exp.cast(exp.Literal.number(repr(value)), exp.DataType.build("double"))
    if isinstance(value, dt.datetime):
        kind = "timestamptz" if value.tzinfo else "timestamp"
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build(kind))
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("date"))
    return exp.cast(exp.Literal.string(str(value)), _TEXT)


def _is_null(e: exp.Expr) -> exp.Expr:
    return exp.Is(this=e, expression=exp.null())


def _or(parts: Sequence[exp.Expr]) -> exp.Expr:
    return exp.or_(*parts) if parts else exp.false()


@dataclass(frozen=True)
class Layout:
    """What the diff compares: the model's columns and types against the snapshot's (``None``: none)."""

    primary_key: str
    #: primary key first, then the mapped columns (constants included)
    stored: tuple[str, ...]
    #: mapped columns (the send flags), in the order given
    columns: tuple[str, ...]
    #: DuckDB type of every stored column in the model
    types: Mapping[str, str]
    #: DuckDB types of the snapshot's columns (None: no snapshot, every row is new)
    base_types: Mapping[str, str] | None
    full_resync: bool

    @property
    def same_key(self) -> bool:
        return (
            self.base_types is not None
            and self.base_types.get(self.primary_key) == self.types[self.primary_key]
        )

    def same_layout(self) -> bool:
        """True when the snapshot table has exactly the model's columns and types (advance in place)."""
        return self.base_types is not None and dict(self.base_types) == dict(self.types)


class DiffSql(Sql):
    """The diff and the snapshot advance."""

    def key_checks(self, model: exp.Select, pk: str, sample: int) -> tuple[str, str]:
        """(rows and null keys, up to ``sample`` repeated keys with the number of repeated keys)."""
        m = model.subquery(ident("m"))
        counts = _template("SELECT COUNT(*), COUNT(*) - COUNT(:k) FROM :m", k=col(pk), m=m)
        dups = _template(
            "SELECT CAST(dk AS VARCHAR) AS key, n, total FROM (SELECT dk, n, COUNT(*) OVER () AS total"
            " FROM (SELECT :k AS dk, COUNT(*) AS n FROM :m GROUP BY :k HAVING COUNT(*) > 1) AS d) AS x"
            " ORDER BY n DESC, key LIMIT :n",
            k=col(pk),
            m=model.subquery(ident("m")),
            n=exp.Literal.number(sample),
        )
        return self.render(counts), self.render(dups)

    def _differs(self, c: str, lay: Layout) -> exp.Expr:
        """Does column ``c`` of model row ``m`` differ from snapshot row ``s`` (the local rules)?"""
        assert lay.base_types is not None
        old = lay.base_types.get(c)
        if old is None:  # a mapping added since the snapshot: a value is a change, a null is not
            return exp.not_(_is_null(col(c, "m")))
        if old == lay.types[c]:
            return exp.NullSafeNEQ(this=col(c, "m"), expression=col(c, "s"))
        return exp.NullSafeNEQ(this=as_text(col(c, "m")), expression=as_text(col(c, "s")))

    def send_table(self, model: exp.Select, lay: Layout, diff_key: str) -> str:
        """``CREATE TABLE send_… AS``: rows to send, with kind, resend flag and a send flag per column."""
        pk = lay.primary_key
        values = [exp.alias_(col(c, "m"), ident(c)) for c in lay.stored]
        if lay.base_types is None:
            select = exp.select(
                *values,
                exp.alias_(exp.Literal.string(KIND_NEW), ident(KIND_COLUMN)),
                exp.alias_(exp.false(), ident(RESEND_COLUMN)),
                *(exp.alias_(exp.true(), ident(send_column(c))) for c in lay.columns),
            ).from_(model.subquery(ident("m")))
        else:
            absent = _is_null(col(pk, "s"))
            resent = exp.not_(_is_null(col(KEY_COLUMN, "r")))
            diffs = {c: self._differs(c, lay) for c in lay.columns}
            changed = exp.paren(_or(list(diffs.values())))
            full = exp.true() if lay.full_resync else exp.false()
            sends = [
                exp.alias_(
                    exp.paren(_or([absent, full, exp.and_(resent, exp.not_(changed)), diffs[c]])),
                    ident(send_column(c)),
                )
                for c in lay.columns
            ]
            kind = exp.Case(
                ifs=[exp.If(this=absent, true=exp.Literal.string(KIND_NEW))],
                default=exp.Literal.string(KIND_CHANGED),
            )
            mk, sk = col(pk, "m"), col(pk, "s")
            on_snap = (
                exp.EQ(this=mk, expression=sk)
                if lay.same_key
                else exp.EQ(this=as_text(mk), expression=as_text(sk))
            )
            select = (
                exp.select(
                    *values,
                    exp.alias_(kind, ident(KIND_COLUMN)),
                    exp.alias_(exp.paren(resent), ident(RESEND_COLUMN)),
                    *sends,
                )
                .from_(model.subquery(ident("m")))
                .join(self.t.snapshot.as_(ident("s")), on=on_snap, join_type="left")
                .join(
                    self.t.rejected.as_(ident("r")),
                    on=exp.EQ(this=as_text(mk), expression=col(KEY_COLUMN, "r")),
                    join_type="left",
                )
            )
            if not lay.full_resync:
                select = select.where(_or([absent, changed, resent]))
        return self.render(exp.Create(this=self.t.send(diff_key), kind="TABLE", expression=select))

    def gone_table(self, model: exp.Select, lay: Layout, diff_key: str) -> str:
        """``CREATE TABLE gone_… AS``: snapshot keys no longer in the model (as text)."""
        pk = lay.primary_key
        sk, mk = col(pk, "s"), col(pk, "m")
        match = (
            exp.EQ(this=mk, expression=sk)
            if lay.same_key
            else exp.EQ(this=as_text(mk), expression=as_text(sk))
        )
        inner = exp.select(exp.Literal.number(1)).from_(model.subquery(ident("m"))).where(match)
        select = (
            exp.select(exp.alias_(as_text(sk), ident(KEY_COLUMN)))
            .from_(self.t.snapshot.as_(ident("s")))
            .where(exp.not_(exp.Exists(this=inner)))
        )
        return self.render(exp.Create(this=self.t.gone(diff_key), kind="TABLE", expression=select))

    def diff_counts(self, diff_key: str) -> str:
        """new, changed, resent of the rows to send."""
        kind = col(KIND_COLUMN)

        def count_if(cond: exp.Expr) -> exp.Expr:
            case = exp.Case(
                ifs=[exp.If(this=cond, true=exp.Literal.number(1))], default=exp.Literal.number(0)
            )
            return exp.func("COALESCE", exp.Sum(this=case), exp.Literal.number(0))

        return self.render(
            exp.select(
                count_if(exp.EQ(this=kind, expression=exp.Literal.string(KIND_NEW))),
                count_if(exp.EQ(this=kind, expression=exp.Literal.string(KIND_CHANGED))),
                count_if(col(RESEND_COLUMN)),
            ).from_(self.t.send(diff_key))
        )

    def select_send(self, diff_key: str) -> str:
        """The rows to send, read out of the warehouse."""
        return self.render(exp.select("*").from_(self.t.send(diff_key)))

    def column_types(self, table: str) -> str:
        return self.render(
            _template(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = :s AND table_name = :t",
                s=self._str(self.t.schema),
                t=self._str(table),
            )
        )

    # ---- advance -------------------------------------------------------------------------------------
    def _accepted_in(self, pk: str, diff_key: str, negate: bool = False) -> exp.Expr:
        """Is send row ``p`` among the keys Salesforce accepted? (NOT EXISTS for the negation: PostgreSQL
        plans ``NOT IN (subquery)`` as a nested loop once the keys outgrow work_mem.)"""
        if negate:
            return _absent(as_text(col(pk, "p")), self.t.accepted(diff_key), col(KEY_COLUMN, "x"))
        keys = exp.select(col(KEY_COLUMN)).from_(self.t.accepted(diff_key))
        return as_text(col(pk, "p")).isin(query=keys)

    def advance(
        self, lay: Layout, diff_key: str, send_types: Mapping[str, str], generation: int
    ) -> list[str]:
        """Statements (one transaction) moving the snapshot: accepted rows take their new values, gone rows
        leave, rejected keys are replaced; the bookkeeping row moves to ``generation``."""
        pk = lay.primary_key
        send = self.t.send(diff_key).as_(ident("p"))
        accepted_rows = (
            exp.select(*(col(c, "p") for c in lay.stored)).from_(send).where(self._accepted_in(pk, diff_key))
        )
        out: list[str] = []
        if lay.same_layout():
            gone = exp.select(col(KEY_COLUMN)).from_(self.t.gone(diff_key))
            acc = exp.select(col(pk, "p")).from_(send.copy()).where(self._accepted_in(pk, diff_key))
            for cond in (
                as_text(col(pk)).isin(query=gone),
                col(pk).isin(query=acc),
            ):
                out.append(self.render(exp.delete(self.t.snapshot, where=cond)))
            out.append(
                self.render(
                    exp.insert(accepted_rows, self.t.snapshot, columns=[ident(c) for c in lay.stored])
                )
            )
        else:
            out += self._rebuild(lay, diff_key, accepted_rows, send_types)
        out.append(self.render(exp.delete(self.t.rejected)))
        rejected_keys = (
            exp.select(as_text(col(pk, "p")))
            .from_(send.copy())
            .where(self._accepted_in(pk, diff_key, negate=True))
        )
        out.append(self.render(exp.insert(rejected_keys, self.t.rejected, columns=[ident(KEY_COLUMN)])))
        out += self.set_meta(generation, diff_key)
        out += [
            self.drop(t) for t in (self.t.send(diff_key), self.t.gone(diff_key), self.t.accepted(diff_key))
        ]
        return out

    def _rebuild(
        self, lay: Layout, diff_key: str, accepted_rows: exp.Select, send_types: Mapping[str, str]
    ) -> list[str]:
        """The snapshot's columns changed (or there was none): write it afresh, then swap it in."""
        nxt = self.t.table(self.t.rebuilt_name(diff_key))
        out = [self.drop(nxt), self.render(exp.Create(this=nxt, kind="TABLE", expression=accepted_rows))]
        if lay.base_types is not None:
            pk = lay.primary_key
            old: list[exp.Expr] = []
            for c in lay.stored:
                before = lay.base_types.get(c)
                target = _warehouse_type(send_types.get(c), self.dialect)
                if before == lay.types[c]:
                    old.append(col(c, "s"))
                elif before is None or target is None:
                    old.append(exp.null())
                else:  # its type changed: carried over as text, cast to the new type
                    old.append(exp.cast(as_text(col(c, "s")), target))
            # kept: snapshot rows still in the model and not replaced by an accepted row (those are in nxt)
            s_key, n_key = (
                (col(pk, "s"), col(pk, "x"))
                if lay.same_key
                else (
                    as_text(col(pk, "s")),
                    as_text(col(pk, "x")),
                )
            )
            kept = (
                exp.select(*old)
                .from_(self.t.snapshot.as_(ident("s")))
                .where(_absent(as_text(col(pk, "s")), self.t.gone(diff_key), col(KEY_COLUMN, "x")))
                .where(_absent(s_key, nxt, n_key))
            )
            out.append(self.render(exp.insert(kept, nxt, columns=[ident(c) for c in lay.stored])))
        out.append(self.drop(self.t.snapshot))
        rename = _template("ALTER TABLE :a RENAME TO :b", a=nxt, b=ident(self.t.snapshot_name))
        out.append(self.render(rename))
        return out


def _absent(key: exp.Expr, table: exp.Table, other: exp.Expr) -> exp.Expr:
    """``NOT EXISTS (SELECT 1 FROM table AS x WHERE other = key)`` (``other`` is a column of ``x``)."""
    inner = (
        exp.select(exp.Literal.number(1))
        .from_(table.copy().as_(ident("x")))
        .where(exp.EQ(this=other, expression=key))
    )
    return exp.not_(exp.Exists(this=inner))


def _warehouse_type(name: str | None, dialect: str) -> exp.DataType | None:
    if name is None:
        return None
    try:
        return exp.DataType.build(name, dialect=dialect)
    except (SqlglotError, ValueError):
        return None


__all__ = [
    "KEY_COLUMN",
    "META_TABLE",
    "DiffSql",
    "Layout",
    "Sql",
    "Tables",
    "as_text",
    "col",
    "ident",
    "literal",
]
