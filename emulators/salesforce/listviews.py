"""List views: their definitions and the ``listviews`` REST resources built from them.

A list view is kept as a ``ListView`` record (queryable like on a real org) plus a
:class:`ListViewSpec` with its filter and columns. The filter is parsed with the SOQL grammar at load
time, so a view whose filter the emulator cannot run is rejected instead of silently returning the
wrong records.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulators.salesforce import ids
from emulators.salesforce.soql import BoolOp, Comparison, Condition, Not, SoqlError, parse, parse_condition
from emulators.salesforce.soql_eval import compile_query, condition_predicate
from emulators.salesforce.values import to_display

if TYPE_CHECKING:
    from emulators.salesforce.describe import ObjectDef
    from emulators.salesforce.store import OrgStore

DEFAULT_COLUMNS: dict[str, list[str]] = {
    "Contact": ["Name", "Account.Name", "Title", "Phone", "Email", "Owner.Alias"],
    "Lead": ["Name", "Company", "State", "Email", "Status", "Owner.Alias"],
    "Account": ["Name", "BillingState", "Phone", "Type", "Owner.Alias"],
    "User": ["Name", "Alias", "Username", "Title", "Email"],
}
HIDDEN_COLUMNS = ["Id", "CreatedDate", "LastModifiedDate", "SystemModstamp"]
ORDER_BY = "ORDER BY Name ASC NULLS FIRST, Id ASC NULLS FIRST"
_ALLOWED_KEYS = {"Id", "SobjectType", "DeveloperName", "Label", "WhereClause", "Columns", "Scope"}
_DEV_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_OPERATORS = {
    "=": "equals",
    "!=": "notEquals",
    "<": "lessThan",
    ">": "greaterThan",
    "<=": "lessOrEqual",
    ">=": "greaterOrEqual",
    "like": "like",
    "in": "in",
    "notin": "notIn",
}
_SORT_LABELS = {
    "string": ("A-Z", "Z-A"),
    "id": ("A-Z", "Z-A"),
    "int": ("Low to High", "High to Low"),
    "double": ("Low to High", "High to Low"),
    "date": ("Old to New", "New to Old"),
    "datetime": ("Old to New", "New to Old"),
    "boolean": (None, None),
    "address": (None, None),
}


@dataclass
class ListViewSpec:
    """What a list view shows: object, filter, columns and scope."""

    id: str
    sobject: str
    developer_name: str
    label: str
    where_text: str
    condition: Condition | None
    columns: list[str]
    scope: str | None

    def all_columns(self) -> list[str]:
        """Visible columns, then the hidden ones Salesforce adds (ids of parents, audit fields)."""
        out = list(self.columns)
        for col in self.columns:
            if "." in col:
                parent_id = col.rsplit(".", 1)[0] + ".Id"
                if parent_id not in out:
                    out.append(parent_id)
        out += [c for c in HIDDEN_COLUMNS if c not in out]
        return out

    def soql(self) -> str:
        """The describe ``query``: every column, the filter, and the fixed Name/Id order."""
        parts = [f"SELECT {', '.join(self.all_columns())} FROM {self.sobject}"]
        if self.scope:
            parts.append(f"USING SCOPE {self.scope}")
        if self.where_text:
            parts.append(f"WHERE {self.where_text}")
        parts.append(ORDER_BY)
        return " ".join(parts)

    def dump(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "Id": self.id,
            "SobjectType": self.sobject,
            "DeveloperName": self.developer_name,
            "Label": self.label,
            "WhereClause": self.where_text,
            "Columns": list(self.columns),
            "Scope": self.scope,
        }

    def basic(self, version: str) -> dict[str, Any]:
        url = f"/services/data/v{version}/sobjects/{self.sobject}/listviews/{self.id}"
        return {
            "describeUrl": f"{url}/describe",
            "developerName": self.developer_name,
            "id": self.id,
            "label": self.label,
            "resultsUrl": f"{url}/results",
            "soqlCompatible": True,
            "url": url,
        }


def build_list_view(
    store: OrgStore, spec: dict[str, Any], stamp: dt.datetime
) -> tuple[str, dict[str, Any], ListViewSpec]:
    """Validate an admin ``ListView`` entry; returns (id, ListView record, spec).

    :raises ValueError: unknown keys or object, bad developer name, a filter or column the SOQL
        grammar or the schema rejects.
    """
    unknown = set(spec) - _ALLOWED_KEYS
    if unknown:
        raise ValueError(f"ListView: unknown keys {sorted(unknown)}; allowed: {sorted(_ALLOWED_KEYS)}")
    obj = store.object_def(str(spec.get("SobjectType", "")))
    if obj is None or obj.name == "ListView":
        raise ValueError(
            f"ListView: SobjectType must be one of the emulated objects, not {spec.get('SobjectType')!r}"
        )
    dev_name = str(spec.get("DeveloperName", ""))
    if not _DEV_NAME.match(dev_name):
        raise ValueError(
            f"ListView: DeveloperName {dev_name!r} must start with a letter and use only letters, "
            "digits and underscores (max 80)"
        )
    lv_id = _list_view_id(store, spec)
    for other in store.list_views.values():
        if (
            other.id != lv_id
            and other.sobject == obj.name
            and other.developer_name.lower() == dev_name.lower()
        ):
            raise ValueError(f"ListView: {obj.name} already has a list view named {dev_name}")
    where_text = str(spec.get("WhereClause") or "").strip()
    condition = None
    now = dt.datetime.now(dt.UTC)
    if where_text:
        try:
            condition = parse_condition(where_text)
            condition_predicate(condition, store, obj, where_text, now)
        except SoqlError as exc:
            raise ValueError(
                f"ListView {dev_name}: WhereClause {where_text!r} is not valid SOQL here: "
                f"{exc.code}: {exc.detail}"
            ) from None
    columns = spec.get("Columns") or DEFAULT_COLUMNS.get(obj.name, ["Name"])
    scope = spec.get("Scope")
    if scope is not None and str(scope).lower() not in ("everything", "mine"):
        raise ValueError(f"ListView {dev_name}: Scope must be 'everything' or 'mine'")
    view = ListViewSpec(
        lv_id,
        obj.name,
        dev_name,
        str(spec.get("Label") or dev_name),
        where_text,
        condition,
        [str(c) for c in columns],
        str(scope).lower() if scope else None,
    )
    try:
        compile_query(parse(view.soql()), store, user_id=store.integration_user_id, now=now)
    except SoqlError as exc:
        raise ValueError(
            f"ListView {dev_name}: Columns {columns} are not valid for {obj.name}: {exc.detail}"
        ) from None
    record = {
        "Id": lv_id,
        "Name": view.label[:40],
        "DeveloperName": dev_name,
        "SobjectType": obj.name,
        "IsSoqlCompatible": True,
        "NamespacePrefix": None,
        "CreatedDate": stamp,
        "CreatedById": store.integration_user_id,
        "LastModifiedDate": stamp,
        "LastModifiedById": store.integration_user_id,
        "SystemModstamp": stamp,
        "LastViewedDate": None,
        "LastReferencedDate": None,
    }
    return lv_id, record, view


def _list_view_id(store: OrgStore, spec: dict[str, Any]) -> str:
    given = spec.get("Id")
    if not given:
        return store.id_factory.new("00B")
    if not ids.looks_like_id(given) or not str(given).startswith("00B"):
        raise ValueError(f"ListView: Id {given!r} must be a 15/18-character id starting with 00B")
    return ids.to18(str(given))


def where_condition(cond: Condition | None, obj: ObjectDef) -> dict[str, Any]:
    """The describe ``whereCondition`` tree (conjunctions of ``{field, operator, values}``)."""
    if cond is None:
        return {"conditions": [], "conjunction": "and"}
    if isinstance(cond, Comparison):
        fdef = obj.get_field(cond.field.text) if len(cond.field.path) == 1 else None
        return {
            "field": fdef.name if fdef else cond.field.text,
            "operator": _OPERATORS[cond.op],
            "values": [lit.text if lit.kind != "date_literal" else lit.text.upper() for lit in cond.values],
        }
    if isinstance(cond, Not):
        return {"conditions": [where_condition(cond.item, obj)], "conjunction": "not"}
    if isinstance(cond, BoolOp):
        return {"conditions": [where_condition(c, obj) for c in cond.items], "conjunction": cond.op}
    raise TypeError(f"unexpected condition {cond!r}")


def describe_columns(store: OrgStore, view: ListViewSpec) -> list[dict[str, Any]]:
    compiled = compile_query(
        parse(view.soql()), store, user_id=store.integration_user_id, now=dt.datetime.now(dt.UTC)
    )
    visible = set(view.columns)
    out = []
    for column in compiled.columns:
        path = column.header
        fdef = column.fdef
        asc, desc = _SORT_LABELS[fdef.kind]
        is_name = path == "Name"
        label = fdef.label if "." not in path else f"{path.split('.')[0]} {fdef.label}"
        out.append(
            {
                "ascendingLabel": asc,
                "descendingLabel": desc,
                "fieldNameOrPath": path,
                "hidden": path not in visible,
                "label": label,
                "searchable": fdef.kind == "string",
                "selectListItem": path,
                "sortDirection": "ascending" if is_name else None,
                "sortIndex": 0 if is_name else None,
                "sortable": fdef.sortable and fdef.kind != "address",
                "type": fdef.type,
            }
        )
    return out


def describe(store: OrgStore, view: ListViewSpec) -> dict[str, Any]:
    """The ``listviews/{id}/describe`` body; ``query`` is what clients run through ``/query``."""
    obj = store.schema[view.sobject.lower()]
    return {
        "columns": describe_columns(store, view),
        "id": view.id,
        "orderBy": [
            {"fieldNameOrPath": "Name", "nullsPosition": "first", "sortDirection": "ascending"},
            {"fieldNameOrPath": "Id", "nullsPosition": "first", "sortDirection": "ascending"},
        ],
        "query": view.soql(),
        "relatedEntityId": None,
        "scope": view.scope,
        "scopeEntityId": None,
        "sobjectType": view.sobject,
        "whereCondition": where_condition(view.condition, obj),
    }


def results(store: OrgStore, view: ListViewSpec, user_id: str, limit: int, offset: int) -> dict[str, Any]:
    """The ``listviews/{id}/results`` body: display-formatted string values, ``limit``/``offset`` paged."""
    obj = store.schema[view.sobject.lower()]
    compiled = compile_query(parse(view.soql()), store, user_id=user_id, now=dt.datetime.now(dt.UTC))
    rows = compiled.run(store.live(obj))
    page = rows[offset : offset + limit]
    records = [
        {
            "columns": [
                {"fieldNameOrPath": c.header, "value": to_display(c.fdef, c.getter(rec))}
                for c in compiled.columns
            ]
        }
        for rec in page
    ]
    return {
        "columns": describe_columns(store, view),
        "developerName": view.developer_name,
        "done": offset + len(page) >= len(rows),
        "id": view.id,
        "label": view.label,
        "records": records,
        "size": len(records),
    }
