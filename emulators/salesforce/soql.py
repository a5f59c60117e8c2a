"""Parse SOQL (the subset in ``soql.lark``) into a small syntax tree.

Parsing knows nothing about objects or fields; :mod:`emulators.salesforce.soql_eval` binds the tree
to the schema and compiles it into Python functions. Syntax errors come out as
:class:`SoqlError` with Salesforce's ``MALFORMED_QUERY`` message, caret and position included.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lark import (
    Lark,
    Token,
    Transformer,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

GRAMMAR_PATH = Path(__file__).with_name("soql.lark")

#: date literals (``CreatedDate = LAST_N_DAYS:7``); the value says whether it takes ``:n``
DATE_LITERALS: dict[str, bool] = {
    "YESTERDAY": False,
    "TODAY": False,
    "TOMORROW": False,
    "LAST_WEEK": False,
    "THIS_WEEK": False,
    "NEXT_WEEK": False,
    "LAST_MONTH": False,
    "THIS_MONTH": False,
    "NEXT_MONTH": False,
    "LAST_90_DAYS": False,
    "NEXT_90_DAYS": False,
    "THIS_YEAR": False,
    "LAST_YEAR": False,
    "NEXT_YEAR": False,
    "LAST_N_DAYS": True,
    "NEXT_N_DAYS": True,
    "N_DAYS_AGO": True,
    "LAST_N_WEEKS": True,
    "NEXT_N_WEEKS": True,
    "LAST_N_MONTHS": True,
    "NEXT_N_MONTHS": True,
}


class SoqlError(Exception):
    """A query Salesforce would reject, with its error code and the message a real org sends.

    :param code: ``MALFORMED_QUERY``, ``INVALID_FIELD``, ``INVALID_TYPE`` ...
    :param detail: the last line of the message (e.g. ``unexpected token: 'FRM'``).
    :param query: the query text, for the caret line.
    :param line: 1-based row of the offending token (None: no position shown).
    :param column: 1-based column of the offending token.
    """

    def __init__(
        self, code: str, detail: str, query: str = "", line: int | None = None, column: int | None = None
    ) -> None:
        self.code = code
        self.detail = detail
        self.query = query
        self.line = line
        self.column = column
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.line is None or self.column is None or not self.query:
            return self.detail
        lines = self.query.splitlines() or [""]
        shown = lines[self.line - 1] if self.line - 1 < len(lines) else lines[-1]
        caret = " " * (self.column - 1) + "^"
        return f"\n{shown}\n{caret}\nERROR at Row:{self.line}:Column:{self.column}\n{self.detail}"


@dataclass(frozen=True)
class FieldRef:
    """A (possibly dotted) field name as written, with its position for error messages."""

    path: tuple[str, ...]
    line: int
    column: int

    @property
    def text(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class CountAll:
    """``COUNT()``: the answer is ``totalSize`` with no records."""


@dataclass(frozen=True)
class CountField:
    """``COUNT(field)``: one AggregateResult record with ``expr0``."""

    field: FieldRef


@dataclass(frozen=True)
class FieldsFn:
    """``FIELDS(ALL|STANDARD|CUSTOM)``."""

    kind: str
    line: int
    column: int


@dataclass(frozen=True)
class Literal:
    """A value in a condition. ``kind``: string, number, datetime, date, boolean, null, date_literal."""

    kind: str
    value: Any
    text: str
    line: int = 0
    column: int = 0


@dataclass(frozen=True)
class Comparison:
    """``field <op> value``; ``op`` is one of = != < <= > >= like in notin."""

    field: FieldRef
    op: str
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Comparison | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    """A parsed SELECT statement."""

    text: str
    select: tuple[FieldRef | CountAll | CountField | FieldsFn, ...]
    sobject: str
    sobject_line: int
    sobject_column: int
    scope: str | None
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


def _unquote(token: str) -> str:
    """Decode a quoted SOQL string; ``\\%`` and ``\\_`` keep their backslash for LIKE."""
    body = token[1:-1]
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_datetime_literal(text: str) -> dt.datetime:
    """``2024-01-01T00:00:00Z`` / ``...000+0000`` / ``...+01:00`` -> aware UTC datetime."""
    normal = _OFFSET_NO_COLON.sub(r"\1:\2", text.upper().replace("Z", "+00:00"))
    return dt.datetime.fromisoformat(normal).astimezone(dt.UTC)


class _ToAst(Transformer):
    """Turn the lark parse tree into the dataclasses above."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def _error(self, detail: str, token: Token) -> SoqlError:
        return SoqlError("MALFORMED_QUERY", detail, self._text, token.line, token.column)

    def start(self, items: list[Any]) -> Query:
        return items[0]

    def query(self, items: list[Any]) -> Query:
        select, (name, line, column) = items[0], items[1]
        parts: dict[str, Any] = {"scope": None, "where": None, "order_by": (), "limit": None, "offset": None}
        for item in items[2:]:
            parts[item[0]] = item[1]
        return Query(self._text, select, name, line, column, **parts)

    def select_list(self, items: list[Any]) -> tuple[Any, ...]:
        return tuple(items)

    def count_all(self, _items: list[Any]) -> CountAll:
        return CountAll()

    def count_field(self, items: list[Any]) -> CountField:
        return CountField(items[0])

    def fields_fn(self, items: list[Token]) -> FieldsFn:
        kind = items[0]
        if kind.upper() not in ("ALL", "STANDARD", "CUSTOM"):
            raise self._error(f"unexpected token: '{kind}'", kind)
        return FieldsFn(kind.upper(), kind.line, kind.column)

    def field_path(self, items: list[Token]) -> FieldRef:
        return FieldRef(tuple(str(t) for t in items), items[0].line, items[0].column)

    def object_name(self, items: list[Token]) -> tuple[str, int, int]:
        return str(items[0]), items[0].line, items[0].column

    def scope(self, items: list[Token]) -> tuple[str, str]:
        return "scope", str(items[0]).lower()

    def where(self, items: list[Any]) -> tuple[str, Condition]:
        return "where", items[0]

    def and_cond(self, items: list[Condition]) -> BoolOp:
        return BoolOp("and", tuple(items))

    def or_cond(self, items: list[Condition]) -> BoolOp:
        return BoolOp("or", tuple(items))

    def not_cond(self, items: list[Condition]) -> Not:
        return Not(items[0])

    def compare(self, items: list[Any]) -> Comparison:
        op = str(items[1])
        return Comparison(items[0], "!=" if op == "<>" else op, (items[2],))

    def like(self, items: list[Any]) -> Comparison:
        return Comparison(items[0], "like", (items[1],))

    def in_list(self, items: list[Any]) -> Comparison:
        return Comparison(items[0], "in", tuple(items[1]))

    def not_in_list(self, items: list[Any]) -> Comparison:
        return Comparison(items[0], "notin", tuple(items[1]))

    def value_list(self, items: list[Literal]) -> list[Literal]:
        return items

    def string(self, items: list[Token]) -> Literal:
        tok = items[0]
        return Literal("string", _unquote(str(tok)), str(tok), tok.line, tok.column)

    def number(self, items: list[Token]) -> Literal:
        tok = items[0]
        text = str(tok)
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        return Literal("number", value, text, tok.line, tok.column)

    def datetime(self, items: list[Token]) -> Literal:
        tok = items[0]
        try:
            value = parse_datetime_literal(str(tok))
        except ValueError:
            raise self._error(
                f"line {tok.line}:{tok.column - 1} no viable alternative at character '{str(tok)[0]}'", tok
            ) from None
        return Literal("datetime", value, str(tok), tok.line, tok.column)

    def date(self, items: list[Token]) -> Literal:
        tok = items[0]
        try:
            value = dt.date.fromisoformat(str(tok))
        except ValueError:
            raise self._error(f"unexpected token: '{tok}'", tok) from None
        return Literal("date", value, str(tok), tok.line, tok.column)

    def true(self, _items: list[Any]) -> Literal:
        return Literal("boolean", True, "true")

    def false(self, _items: list[Any]) -> Literal:
        return Literal("boolean", False, "false")

    def null(self, _items: list[Any]) -> Literal:
        return Literal("null", None, "null")

    def date_literal(self, items: list[Token]) -> Literal:
        tok = items[0]
        name, _, num = str(tok).upper().partition(":")
        takes_n = DATE_LITERALS.get(name)
        if takes_n is None or takes_n != bool(num):
            raise self._error(f"unexpected token: '{tok}'", tok)
        return Literal("date_literal", (name, int(num) if num else None), str(tok), tok.line, tok.column)

    def order_by(self, items: list[OrderItem]) -> tuple[str, tuple[OrderItem, ...]]:
        return "order_by", tuple(items)

    def order_item(self, items: list[Any]) -> OrderItem:
        field_ref = items[0]
        descending = False
        nulls_last: bool | None = None
        for item in items[1:]:
            if isinstance(item, Token) and item.type == "DIRECTION":
                descending = item.lower() == "desc"
            elif isinstance(item, bool):
                nulls_last = item
        if nulls_last is None:
            nulls_last = descending  # Salesforce: ASC puts nulls first, DESC puts them last
        return OrderItem(field_ref, descending, nulls_last)

    def nulls(self, items: list[Token]) -> bool:
        return items[0].lower() == "last"

    def limit(self, items: list[Token]) -> tuple[str, int]:
        return "limit", int(items[0])

    def offset(self, items: list[Token]) -> tuple[str, int]:
        return "offset", int(items[0])


@functools.cache
def _parser() -> Lark:
    return Lark(
        GRAMMAR_PATH.read_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=False,
        maybe_placeholders=False,
    )


def _syntax_error(text: str, exc: UnexpectedInput) -> SoqlError:
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            return SoqlError(
                "MALFORMED_QUERY",
                "unexpected token: <EOF>",
                text,
                exc.line if exc.line > 0 else 1,
                max(exc.column, 1) if exc.column > 0 else len(text.splitlines()[-1] or " ") + 1,
            )
        return SoqlError("MALFORMED_QUERY", f"unexpected token: '{tok}'", text, tok.line, tok.column)
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        word = re.match(r"[A-Za-z0-9_]+", text[exc.pos_in_stream :])
        shown = word.group(0) if word else char
        return SoqlError("MALFORMED_QUERY", f"unexpected token: '{shown}'", text, exc.line, exc.column)
    if isinstance(exc, UnexpectedEOF):
        return SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>", text)
    return SoqlError("MALFORMED_QUERY", str(exc).splitlines()[0], text)


def parse(text: str) -> Query:
    """Parse one SOQL statement.

    :param text: the query as the client sent it.
    :raises SoqlError: ``MALFORMED_QUERY`` with Salesforce's message for anything not understood.
    """
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    try:
        return _ToAst(text).transform(tree)
    except Exception as exc:  # lark wraps transformer errors in VisitError
        orig = getattr(exc, "orig_exc", exc)
        if isinstance(orig, SoqlError):
            raise orig from None
        raise


def parse_condition(text: str) -> Condition:
    """Parse a bare WHERE condition (a list view filter), e.g. ``MailingState = 'CA'``."""
    query = parse(f"SELECT Id FROM X WHERE {text}")
    if query.where is None:  # the grammar always yields one; kept for the type checker
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
    return query.where


__all__ = [
    "BoolOp",
    "Comparison",
    "Condition",
    "CountAll",
    "CountField",
    "DATE_LITERALS",
    "FieldRef",
    "FieldsFn",
    "Literal",
    "Not",
    "OrderItem",
    "Query",
    "SoqlError",
    "parse",
    "parse_condition",
    "parse_datetime_literal",
]
