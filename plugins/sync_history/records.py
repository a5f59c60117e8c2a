"""A run's record-level outcomes on its own view: which records it wrote, had rejected or held back, and why.

The rows are ids and codes only (``hm_sync_record_outcome``: object, Salesforce id, Heymarket id, action,
direction, reason code, the names of the fields written), so the list can answer "why did this Contact not
sync?" without showing a phone, an e-mail or a name. Paged on the server and filterable by object and
action; the filters are query parameters of the run's URL (``?object=Contact&action=failed&page=2``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from sync_engine.vocabulary import OUTCOME_ACTIONS
from sync_history.paths import URL_PREFIX
from sync_history.query import QueryError

if TYPE_CHECKING:
    from sync_engine.state.record_outcomes import StoredOutcome
    from sync_history.runs import HistoryReader

RECORD_PAGE_SIZE = 100
MAX_RECORD_PAGE_SIZE = 1_000
#: The objects an outcome can belong to (``(heymarket)``: a Heymarket contact no record is part of).
RECORD_OBJECTS = ("Contact", "Lead", "(heymarket)")


@dataclass(frozen=True)
class RecordQuery:
    """The run view's record filters and page."""

    object: str | None = None
    action: str | None = None
    page: int = 1
    page_size: int = RECORD_PAGE_SIZE

    def url(self, path: str, page: int | None = None) -> str:
        params = [(k, v) for k, v in (("object", self.object), ("action", self.action)) if v]
        if (page or self.page) != 1:
            params.append(("page", str(page or self.page)))
        if self.page_size != RECORD_PAGE_SIZE:
            params.append(("page_size", str(self.page_size)))
        return f"{path}?{urlencode(params)}" if params else path


@dataclass(frozen=True)
class RecordsPage:
    """One page of a run's outcomes; ``recorded`` is False when the state store predates them."""

    query: RecordQuery
    run_id: str
    rows: tuple[StoredOutcome, ...] = ()
    total: int = 0
    recorded: bool = True

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.page_size))

    def as_dict(self) -> dict[str, object]:
        return {"recorded": self.recorded, "total": self.total, "page": self.query.page,
                "page_size": self.query.page_size, "pages": self.pages,
                "filters": {"object": self.query.object, "action": self.query.action},
                "rows": [{"object": r.object, "sf_id": r.sf_id, "hm_id": r.hm_id, "action": r.action,
                          "direction": r.direction, "reason": r.reason, "fields": list(r.fields),
                          "planned": r.planned, "recorded_at": r.recorded_at.isoformat()} for r in self.rows]}


def parse_record_query(values: Mapping[str, str]) -> RecordQuery:
    """The record filters from the run URL's query parameters (empty values ignored).

    :raises QueryError: an unknown object or action, a page or page size out of range.
    """
    obj = values.get("object") or None
    if obj is not None and obj not in RECORD_OBJECTS:
        raise QueryError(f"object {obj!r} is not known; object takes: {', '.join(RECORD_OBJECTS)}")
    action = values.get("action") or None
    if action is not None and action not in OUTCOME_ACTIONS:
        raise QueryError(f"action {action!r} is not known; action takes: {', '.join(OUTCOME_ACTIONS)}")
    return RecordQuery(object=obj, action=action, page=_whole(values, "page", 1, None),
                       page_size=_whole(values, "page_size", RECORD_PAGE_SIZE, MAX_RECORD_PAGE_SIZE))


def _whole(values: Mapping[str, str], name: str, default: int, most: int | None) -> int:
    text = values.get(name) or None
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1 or (most is not None and int(text) > most):
        raise QueryError(f"{name} must be a whole number, {f'1 to {most}' if most else '1 or more'}; got {text!r}")
    return int(text)


def read_records(reader: HistoryReader, run_id: str, query: RecordQuery) -> RecordsPage:
    """The page of the run's outcomes the query selects (``recorded=False`` on a store without them)."""
    page = reader.records(run_id, object_name=query.object, action=query.action, limit=query.page_size,
                          offset=(query.page - 1) * query.page_size)
    if page is None:
        return RecordsPage(query=query, run_id=run_id, recorded=False)
    return RecordsPage(query=query, run_id=run_id, rows=tuple(page.rows), total=page.total)


def salesforce_cell(sf_id: str | None, base_url: str | None) -> str:
    """The record id, linked to the record in the org when its URL is known."""
    if not sf_id:
        return "–"
    if base_url is None:
        return f"<code>{escape(sf_id)}</code>"
    return (f"<a class=\"sf-record\" href=\"{escape(base_url)}/{quote(sf_id, safe='')}\" target=\"_blank\" "
            f"rel=\"noopener\"><code>{escape(sf_id)}</code></a>")


def render_records(page: RecordsPage, salesforce_url: str | None) -> str:
    """The filter form, the table of outcomes and its pager."""
    if not page.recorded:
        return ("<p class=\"empty\" id=\"no-records\">This state store does not record record-level outcomes "
                "yet (its schema predates them); the next run's migration adds them.</p>")
    q = page.query
    path = f"{URL_PREFIX}/runs/{quote(page.run_id, safe='')}"

    def select(name: str, values: tuple[str, ...], chosen: str | None) -> str:
        opts = "".join(f"<option value=\"{escape(v)}\"{' selected' if v == chosen else ''}>{escape(v)}</option>"
                       for v in values)
        return (f"<label>{name.capitalize()} <select name=\"{name}\" id=\"record-{name}\">"
                f"<option value=\"\">any</option>{opts}</select></label>")

    form = (f"<form class=\"filters\" id=\"record-filters\" method=\"get\" action=\"{escape(path)}\">"
            + select("object", RECORD_OBJECTS, q.object) + select("action", OUTCOME_ACTIONS, q.action)
            + f"<button type=\"submit\">Apply</button><a href=\"{escape(path)}\">Clear</a></form>")
    link_note = ("Salesforce ids link to the record in the org." if salesforce_url else
                 "Salesforce ids are plain text: the Salesforce connection does not name the org's URL "
                 "(extra instance_url).")
    summary = f"<p class=\"sub\" id=\"records-summary\">{page.total:,} record(s); page {q.page} of {page.pages}. {link_note}</p>"
    if not page.rows:
        return form + summary + "<p class=\"empty\" id=\"no-records\">No record matches.</p>"
    rows = "".join(
        f"<tr data-action=\"{escape(r.action)}\" data-object=\"{escape(r.object)}\">"
        f"<td>{escape(r.object)}</td><td>{salesforce_cell(r.sf_id, salesforce_url)}</td>"
        f"<td>{r.hm_id if r.hm_id is not None else '–'}</td>"
        f"<td>{escape(r.action)}{' (planned)' if r.planned else ''}</td><td>{escape(r.direction or '–')}</td>"
        f"<td>{escape(r.reason or '–')}</td><td>{escape(', '.join(r.fields) or '–')}</td></tr>"
        for r in page.rows)
    table = ("<table id=\"records\"><thead><tr><th>Object</th><th>Salesforce id</th><th>Heymarket id</th>"
             "<th>Action</th><th>Direction</th><th>Reason</th><th>Fields</th></tr></thead>"
             f"<tbody>{rows}</tbody></table>")
    links = []
    for label, number, rel in (("‹ previous", q.page - 1, "prev"), ("next ›", q.page + 1, "next")):
        if 1 <= number <= page.pages:
            links.append(f"<a rel=\"{rel}\" id=\"records-{rel}\" href=\"{escape(q.url(path, number))}\">{label}</a>")
    pager = f"<nav class=\"pager\" id=\"records-pager\">{' '.join(links)}</nav>"
    return form + summary + table + pager
