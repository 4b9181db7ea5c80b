"""SOQL text → syntax tree, for the subset the emulator answers (docs/salesforce-facts.md#soql-subset).

``SELECT f, Parent.f | COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …]
[LIMIT n] [OFFSET n]``; conditions with ``= != <> < <= > >= LIKE IN NOT IN``, ``AND``/``OR``/``NOT`` and
parentheses (like SOQL, AND and OR cannot be mixed at one level without parentheses). Errors are
``MALFORMED_QUERY`` with Salesforce's ``ERROR at Row:r:Column:c`` layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sfsync.emulator.records.results import OrgError
from sfsync.emulator.records.soql_dates import FIXED as DATE_LITERALS
from sfsync.emulator.records.soql_dates import date_range

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
   |(?P<string>'(?:[^'\\]|\\.)*')
   |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
   |(?P<date>\d{4}-\d{2}-\d{2})
   |(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))
   |(?P<dateliteral>[A-Za-z_]+:\d+)
   |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
   |(?P<op><=|>=|!=|<>|=|<|>)
   |(?P<punct>[(),])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_KEYWORDS = frozenset(
    [
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "in",
        "like",
        "order",
        "by",
        "asc",
        "desc",
        "nulls",
        "first",
        "last",
        "limit",
        "offset",
        "null",
        "true",
        "false",
    ]
)


@dataclass
class Token:
    kind: str  # string datetime date number ident op punct eof
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass
class FieldRef:
    path: str  # as written, e.g. "account.name"
    pos: int


@dataclass
class Literal:
    kind: str  # string number boolean null date datetime dateliteral (TODAY, LAST_N_DAYS:7, ...)
    value: Any
    pos: int
    raw: str = ""  # string literals: text between the quotes, escapes undecoded (LIKE needs them)


@dataclass
class Compare:
    field: FieldRef
    op: str  # = != < <= > >= LIKE
    value: Literal


@dataclass
class InList:
    field: FieldRef
    values: list[Literal]
    negate: bool


@dataclass
class BoolOp:
    op: str  # AND | OR
    parts: list[Cond]


@dataclass
class Not:
    part: Cond


Cond = Compare | InList | BoolOp | Not


@dataclass
class OrderItem:
    field: FieldRef
    descending: bool = False
    nulls_last: bool | None = None  # None: SOQL's default (first for ASC, last for DESC)


@dataclass
class Query:
    text: str
    obj: str
    obj_pos: int
    fields: list[FieldRef] = field(default_factory=list)
    count: bool = False
    where: Cond | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


def query_error(code: str, soql: str, pos: int, message: str) -> OrgError:
    """An error in Salesforce's layout: query line, caret, ``ERROR at Row:r:Column:c``, message."""
    before = soql[:pos]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    col = pos - line_start + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : line_end if line_end >= 0 else len(soql)]
    return OrgError(400, code, f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}")


def tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(soql):
        m = _TOKEN.match(soql, pos)
        if m is None:
            if soql[pos] == "'":
                raise query_error(
                    "MALFORMED_QUERY", soql, pos, "unterminated string literal: the closing quote is missing"
                )
            raise query_error("MALFORMED_QUERY", soql, pos, f"unexpected token: '{soql[pos]}'")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "<EOF>", len(soql)))
    return tokens


def decode_string(raw: str, soql: str, pos: int, like: bool = False) -> str:
    """Decode a string literal's escapes; in LIKE patterns ``\\%``, ``\\_`` and ``\\\\`` stay escaped."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = raw[i + 1] if i + 1 < len(raw) else ""
        if like and nxt in ("%", "_", "\\"):
            out.append("\\" + nxt)
            i += 2
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[i + 2 : i + 6]):
            out.append(chr(int(raw[i + 2 : i + 6], 16)))
            i += 6
        else:
            seq = raw[i : i + 2]
            raise query_error(
                "MALFORMED_QUERY",
                soql,
                pos,
                f"Invalid string literal '{raw}'. Illegal character sequence '{seq}' in string literal.",
            )
    return "".join(out)


class Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = tokenize(soql)
        self.i = 0

    # ---- token helpers ------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def at(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "ident" and tok.upper in words

    def error(self, tok: Token | None = None) -> OrgError:
        tok = tok or self.peek()
        return query_error("MALFORMED_QUERY", self.soql, tok.pos, f"unexpected token: {_show(tok)}")

    def expect_word(self, word: str) -> Token:
        if not self.at(word):
            raise self.error()
        return self.next()

    def expect_punct(self, text: str) -> Token:
        tok = self.peek()
        if tok.kind != "punct" or tok.text != text:
            raise self.error()
        return self.next()

    def field_ref(self) -> FieldRef:
        tok = self.peek()
        if tok.kind != "ident" or tok.text.lower() in _KEYWORDS:
            raise self.error()
        self.i += 1
        return FieldRef(tok.text, tok.pos)

    # ---- grammar --------------------------------------------------------------------------------------
    def parse(self) -> Query:
        self.expect_word("SELECT")
        fields: list[FieldRef] = []
        count = False
        if self.at("COUNT") and self.peek(1).text == "(":
            self.i += 1
            self.expect_punct("(")
            self.expect_punct(")")
            count = True
        else:
            fields.append(self.field_ref())
            while self.peek().text == ",":
                self.i += 1
                fields.append(self.field_ref())
        self.expect_word("FROM")
        obj = self.peek()
        if obj.kind != "ident" or "." in obj.text or obj.text.lower() in _KEYWORDS:
            raise self.error(obj)
        self.i += 1
        q = Query(self.soql, obj.text, obj.pos, fields, count)
        if self.at("WHERE"):
            self.i += 1
            q.where = self.condition()
        if self.at("ORDER"):
            self.i += 1
            self.expect_word("BY")
            q.order.append(self.order_item())
            while self.peek().text == ",":
                self.i += 1
                q.order.append(self.order_item())
        if self.at("LIMIT"):
            self.i += 1
            q.limit = self.integer()
        if self.at("OFFSET"):
            self.i += 1
            q.offset = self.integer()
        if self.peek().kind != "eof":
            raise self.error()
        return q

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.error(tok)
        return int(tok.text)

    def order_item(self) -> OrderItem:
        item = OrderItem(self.field_ref())
        if self.at("ASC", "DESC"):
            item.descending = self.next().upper == "DESC"
        if self.at("NULLS"):
            self.i += 1
            if not self.at("FIRST", "LAST"):
                raise self.error()
            item.nulls_last = self.next().upper == "LAST"
        return item

    def condition(self) -> Cond:
        parts = [self.term()]
        joiner: str | None = None
        while self.at("AND", "OR"):
            tok = self.next()
            if joiner is not None and tok.upper != joiner:
                raise self.error(tok)
            joiner = tok.upper
            parts.append(self.term())
        return parts[0] if joiner is None else BoolOp(joiner, parts)

    def term(self) -> Cond:
        if self.at("NOT"):
            self.i += 1
            return Not(self.term())
        if self.peek().text == "(":
            self.i += 1
            cond = self.condition()
            self.expect_punct(")")
            return cond
        ref = self.field_ref()
        tok = self.peek()
        if tok.kind == "op":
            self.i += 1
            op = "!=" if tok.text == "<>" else tok.text
            return Compare(ref, op, self.literal())
        if self.at("LIKE"):
            self.i += 1
            value = self.literal(like=True)
            if value.kind != "string":
                raise query_error("MALFORMED_QUERY", self.soql, value.pos, "LIKE needs a string literal")
            return Compare(ref, "LIKE", value)
        negate = False
        if self.at("NOT") and self.peek(1).kind == "ident" and self.peek(1).upper == "IN":
            self.i += 1
            negate = True
        if self.at("IN"):
            self.i += 1
            self.expect_punct("(")
            values = [self.literal()]
            while self.peek().text == ",":
                self.i += 1
                values.append(self.literal())
            self.expect_punct(")")
            return InList(ref, values, negate)
        raise self.error()

    def literal(self, like: bool = False) -> Literal:
        tok = self.next()
        if tok.kind == "string":
            raw = tok.text[1:-1]
            return Literal("string", decode_string(raw, self.soql, tok.pos, like), tok.pos, raw)
        if tok.kind == "number":
            text = tok.text
            number: float | int = float(text) if any(c in text for c in ".eE") else int(text)
            return Literal("number", number, tok.pos)
        if tok.kind in ("date", "datetime"):
            return Literal(tok.kind, tok.text, tok.pos)
        if tok.kind == "dateliteral" or (tok.kind == "ident" and tok.upper in DATE_LITERALS):
            if date_range(tok.text) is None:
                raise query_error("MALFORMED_QUERY", self.soql, tok.pos, f"invalid date literal: {tok.text}")
            return Literal("dateliteral", tok.upper, tok.pos)
        if tok.kind == "ident" and tok.upper in ("TRUE", "FALSE"):
            return Literal("boolean", tok.upper == "TRUE", tok.pos)
        if tok.kind == "ident" and tok.upper == "NULL":
            return Literal("null", None, tok.pos)
        raise self.error(tok)


def _show(tok: Token) -> str:
    return "<EOF>" if tok.kind == "eof" else tok.text


def parse(soql: str) -> Query:
    return Parser(soql).parse()
