"""Building our SOQL, and rewriting a list view's SOQL so it selects our fields and honours our filters.

A list view's describe returns a full query (``SELECT <its columns> FROM Contact WHERE ... ORDER BY ...``).
We keep the view's meaning - everything from ``FROM`` on - but need our own field list and our own
watermark / record-id conditions. Doing that with string search breaks as soon as a filter literal
contains ``' FROM '`` or ``'ORDER BY'``, so :func:`split_clauses` walks the text once, skipping quoted
literals (with SOQL's backslash escapes) and parenthesised sub-expressions, and cuts it only at top-level
clause keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from simple_salesforce.format import quote_soql_value

from salesforce_access.errors import SoqlRewriteError

T = TypeVar("T")

#: SOQL clauses in the order the grammar allows them. ``SELECT`` is always first.
CLAUSE_ORDER = (
    "SELECT",
    "FROM",
    "USING SCOPE",
    "WHERE",
    "WITH",
    "GROUP BY",
    "ORDER BY",
    "LIMIT",
    "OFFSET",
    "FOR",
    "UPDATE",
)
_KEYWORDS = re.compile(
    r"\b(SELECT|FROM|USING\s+SCOPE|WHERE|WITH|GROUP\s+BY|ORDER\s+BY|LIMIT|OFFSET|FOR|UPDATE)\b", re.IGNORECASE
)
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")

#: Record ids per ``Id IN (...)`` chunk. 200 ids are about 5.5 kB once URL-encoded, well below the
#: ~16 kB request-line limit of Salesforce's REST front end, leaving room for the field list and filters.
DEFAULT_ID_CHUNK = 200


def check_field_name(name: str) -> str:
    """Reject anything that is not a plain (or dotted relationship) field name, so names can't inject SOQL."""
    if not _FIELD_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid Salesforce field name (letters, digits, '_', '.')")
    return name


def check_record_id(record_id: str) -> str:
    """Reject strings that are not 15/18-character Salesforce ids (they would never match anyway)."""
    if not isinstance(record_id, str) or not _RECORD_ID.match(record_id):
        raise ValueError(f"{record_id!r} is not a Salesforce record id (15 or 18 letters and digits)")
    return record_id


def soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal (unquoted ISO-8601 in UTC with ``Z``), truncated to whole seconds.

    Truncating downwards widens a ``>`` filter by under a second, which is safe for a watermark
    (records are de-duplicated on Id downstream) and avoids relying on fractional-second literals.

    :param moment: must be timezone-aware; a naive datetime is ambiguous and refused.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("SOQL datetimes must be timezone-aware (use UTC); got a naive datetime")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_sf_datetime(value: str) -> datetime:
    """Parse Salesforce's REST datetimes (``2013-05-20T20:49:32.000+0000``, also ``...Z``) as aware UTC."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def modstamp_condition(since: datetime, overlap: timedelta, field: str = "SystemModstamp") -> str:
    """``SystemModstamp > <since - overlap>``: the overlap re-reads records committed late around the mark."""
    return f"{check_field_name(field)} > {soql_datetime(since - overlap)}"


def id_in_condition(ids: Sequence[str]) -> str:
    """``Id IN ('a','b')`` with every id validated and quoted."""
    if not ids:
        raise ValueError("an Id IN condition needs at least one id")
    return f"Id IN {quote_soql_value([check_record_id(i) for i in ids])}"


def value_in_condition(field: str, values: Sequence[str]) -> str:
    """``<field> IN ('a','b')`` with the field name validated and every value quoted and escaped."""
    if not values:
        raise ValueError(f"an {field} IN condition needs at least one value")
    return f"{check_field_name(field)} IN {quote_soql_value(list(values))}"


def created_since_condition(since: datetime) -> str:
    """``CreatedDate >= <since>`` (UTC, whole seconds)."""
    return f"CreatedDate >= {soql_datetime(since)}"


def chunked(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive slices of at most *size* items."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def and_conditions(*conditions: str | None) -> str | None:
    """AND the non-empty conditions together, parenthesising each so an ``OR`` inside one stays inside."""
    parts = [c.strip() for c in conditions if c and c.strip()]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " AND ".join(f"({p})" for p in parts)


def build_query(
    sobject: str,
    fields: Sequence[str],
    where: str | None = None,
    order_by: str | None = None,
    limit: int | None = None,
) -> str:
    """``SELECT fields FROM sobject [WHERE ...] [ORDER BY ...] [LIMIT n]`` with validated names."""
    if not fields:
        raise ValueError("a query needs at least one field")
    select = ", ".join(check_field_name(f) for f in _dedupe(fields))
    soql = f"SELECT {select} FROM {check_field_name(sobject)}"
    if where:
        soql += f" WHERE {where}"
    if order_by:
        soql += f" ORDER BY {order_by}"
    if limit is not None:
        soql += f" LIMIT {int(limit)}"
    return soql


@dataclass(frozen=True)
class SoqlClauses:
    """A query cut at its top-level clause keywords: ``{"SELECT": "Id, Name", "FROM": "Contact", ...}``."""

    clauses: dict[str, str]

    def get(self, name: str) -> str | None:
        return self.clauses.get(name)

    def render(self) -> str:
        return " ".join(
            f"{name} {self.clauses[name]}".strip() for name in CLAUSE_ORDER if name in self.clauses
        )


def _top_level_keywords(soql: str) -> Iterator[re.Match[str]]:
    """Keyword matches outside string literals and parentheses (subqueries, function arguments)."""
    depth = 0
    pos = 0
    n = len(soql)
    while pos < n:
        char = soql[pos]
        if char == "'":
            pos = _skip_literal(soql, pos)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SoqlRewriteError(f"unbalanced ')' at position {pos} of the list view query")
        elif (
            depth == 0
            and (char.isalpha())
            and (pos == 0 or not (soql[pos - 1].isalnum() or soql[pos - 1] in "_."))
        ):
            match = _KEYWORDS.match(soql, pos)
            if match:
                yield match
                pos = match.end()
                continue
            while pos < n and (soql[pos].isalnum() or soql[pos] in "_.:"):
                pos += 1
            continue
        pos += 1
    if depth != 0:
        raise SoqlRewriteError("unbalanced '(' in the list view query")


def _skip_literal(soql: str, start: int) -> int:
    """Position just after the quoted literal starting at *start* (SOQL escapes quotes with a backslash)."""
    pos = start + 1
    while pos < len(soql):
        if soql[pos] == "\\":
            pos += 2
            continue
        if soql[pos] == "'":
            return pos + 1
        pos += 1
    raise SoqlRewriteError(f"unterminated string literal starting at position {start} of the list view query")


def split_clauses(soql: str) -> SoqlClauses:
    """Cut a SOQL query into its clauses, ignoring keywords inside literals and parentheses."""
    matches = list(_top_level_keywords(soql))
    if not matches or matches[0].group(1).upper() != "SELECT" or soql[: matches[0].start()].strip():
        raise SoqlRewriteError("the list view query does not start with SELECT")
    clauses: dict[str, str] = {}
    for index, match in enumerate(matches):
        name = " ".join(match.group(1).upper().split())
        end = matches[index + 1].start() if index + 1 < len(matches) else len(soql)
        if name in clauses:
            raise SoqlRewriteError(f"the list view query has two top-level {name} clauses")
        clauses[name] = soql[match.end() : end].strip()
    order = [CLAUSE_ORDER.index(name) for name in clauses]
    if order != sorted(order):
        raise SoqlRewriteError("the list view query's clauses are not in SOQL order")
    if not clauses.get("FROM"):
        raise SoqlRewriteError("the list view query has no FROM clause")
    return SoqlClauses(clauses)


def rewrite_query(
    soql: str,
    fields: Sequence[str],
    extra_where: str | None = None,
    order_by: str | None = None,
    expected_object: str | None = None,
) -> str:
    """Re-target a list view's query: our SELECT list, the view's FROM/scope/filter AND ours.

    :param soql: the list view's ``query`` from its describe.
    :param fields: the fields we need (replaces the view's columns).
    :param extra_where: our condition (watermark, ``Id IN``); ANDed with the view's filter, each side
        parenthesised so an ``OR`` in the view's filter cannot swallow ours.
    :param order_by: our ordering; when given it replaces the view's ``ORDER BY`` (sorting by display
        columns costs time and means nothing to the sync). ``None`` keeps the view's ordering.
    :param expected_object: refuse a query over a different object than the one configured.
    """
    parts = dict(split_clauses(soql).clauses)
    from_object = parts["FROM"].split()[0]
    if expected_object and from_object.lower() != expected_object.lower():
        raise SoqlRewriteError(f"the list view queries {from_object}, not {expected_object}")
    if "GROUP BY" in parts:
        raise SoqlRewriteError("list views with GROUP BY cannot be read record by record")
    parts["SELECT"] = ", ".join(check_field_name(f) for f in _dedupe(fields))
    parts["WHERE"] = and_conditions(parts.get("WHERE"), extra_where) or ""
    if not parts["WHERE"]:
        del parts["WHERE"]
    if order_by:
        parts["ORDER BY"] = order_by
    return SoqlClauses(parts).render()


def _dedupe(fields: Sequence[str]) -> list[str]:
    """Drop repeated field names (SOQL rejects duplicates), comparing case-insensitively, keeping order."""
    seen: set[str] = set()
    result = []
    for name in fields:
        if name.lower() not in seen:
            seen.add(name.lower())
            result.append(name)
    return result
