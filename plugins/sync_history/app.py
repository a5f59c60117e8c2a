"""The FastAPI app the plugin mounts at ``/sync-history`` in the Airflow api-server.

Plugin routes are NOT authenticated by Airflow by default, so every route of this app depends on Airflow's
``requires_authenticated()``: a Bearer token (API clients) or the UI's ``_token`` cookie (the iframe the
Airflow UI shows this page in) is needed, anything else gets 401.

Routes (all GET; the view's filters are query parameters, see ``sync_history.query``):

- ``/``: the page; ``/api/runs``: the same page of runs as JSON.
- ``/export.csv``, ``/export.json``: every run the filters select (all pages), streamed.
- ``/runs/<run_id>``: a run's own view; ``/api/runs/<run_id>``: the same as JSON.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations (``request: Request``)
# at runtime, and ``Request`` is imported inside ``create_app`` (the api-server only), where a string
# annotation could not be resolved.
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sync_history.records import RecordsPage
    from sync_history.runs import HistoryReader, RunDetail

from sync_history.paths import URL_PREFIX

__all__ = ["URL_PREFIX", "create_app"]
#: Responses are per user (authenticated) and change with every run: never cached by a shared proxy.
NO_STORE = {"Cache-Control": "no-store"}


def create_app(reader: "HistoryReader | None" = None) -> "FastAPI":
    """Build the app (only the api-server does; task processes import the plugin but never call this).

    :param reader: where the history comes from (tests pass one bound to their own connection).
    """
    from airflow.api_fastapi.core_api.security import requires_authenticated
    from fastapi import APIRouter, Depends, FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from sqlalchemy.exc import SQLAlchemyError

    from sync_history.export import csv_chunks, json_chunks
    from sync_history.query import HistoryQuery, QueryError, parse_query
    from sync_history.records import parse_record_query, read_records, render_records
    from sync_history.render import document, render_page
    from sync_history.run_view import render_run
    from sync_history.runs import HistoryReader, unreadable_message

    history = reader or HistoryReader()
    router = APIRouter(dependencies=[Depends(requires_authenticated())])

    def query_of(request: Request) -> HistoryQuery:
        values: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            values.setdefault(name, []).append(value)
        return parse_query(values)

    def refused(exc: QueryError, html: bool) -> Response:
        if html:
            return HTMLResponse(document("Sync history", f"<h1>Sync history</h1><div class=\"empty\" id=\"bad-query\">"
                                         f"{escape(str(exc))}</div>"), status_code=422, headers=NO_STORE)
        return JSONResponse({"detail": str(exc)}, status_code=422, headers=NO_STORE)

    def unreadable(exc: SQLAlchemyError) -> JSONResponse:
        return JSONResponse({"detail": unreadable_message(exc)}, status_code=503, headers=NO_STORE)

    @router.get("/", response_class=HTMLResponse, summary="Sync history page")
    def page(request: Request) -> Response:
        try:
            query = query_of(request)
        except QueryError as exc:
            return refused(exc, html=True)
        return HTMLResponse(render_page(history.read(query)), headers=NO_STORE)

    @router.get("/api/runs", summary="One page of the sync history as JSON")
    def runs(request: Request) -> Response:
        try:
            query = query_of(request)
        except QueryError as exc:
            return refused(exc, html=False)
        return JSONResponse(history.read(query).as_dict(), headers=NO_STORE)

    def export(request: Request, kind: str) -> Response:
        try:
            query = query_of(request)
            runs = history.export(query)
        except QueryError as exc:
            return refused(exc, html=False)
        except SQLAlchemyError as exc:
            return unreadable(exc)
        if kind == "csv":
            chunks, media = csv_chunks(runs), "text/csv; charset=utf-8"
        else:
            chunks, media = json_chunks(runs, query), "application/json"
        headers = {**NO_STORE, "Content-Disposition": f"attachment; filename=\"sync-history.{kind}\""}
        return StreamingResponse(chunks, media_type=media, headers=headers)

    @router.get("/export.csv", summary="Every run the filters select, as CSV")
    def export_csv(request: Request) -> Response:
        return export(request, "csv")

    @router.get("/export.json", summary="Every run the filters select, as JSON")
    def export_json(request: Request) -> Response:
        return export(request, "json")

    def read_run(run_id: str, request: Request, html: bool) -> "tuple[RunDetail, RecordsPage] | Response":
        """The run and the page of its records the query asks for, or the response that refuses it."""
        try:
            records_query = parse_record_query(dict(request.query_params))
        except QueryError as exc:
            return refused(exc, html=html)
        try:
            detail = history.run(run_id)
            records = read_records(history, run_id, records_query) if detail is not None else None
        except SQLAlchemyError as exc:
            return unreadable(exc)
        if detail is not None and records is not None:
            return detail, records
        if html:
            return HTMLResponse(document("Sync history", "<h1>Sync history</h1><div class=\"empty\" "
                                         "id=\"unknown-run\">No such run in the sync history.</div>"),
                                status_code=404, headers=NO_STORE)
        return JSONResponse({"detail": "no such run in the sync history"}, status_code=404, headers=NO_STORE)

    @router.get("/runs/{run_id}", response_class=HTMLResponse, summary="A run's own view")
    def run_view(run_id: str, request: Request) -> Response:
        found = read_run(run_id, request, html=True)
        if isinstance(found, Response):
            return found
        detail, records = found
        html = render_run(detail, render_records(records, history.salesforce_url()))
        return HTMLResponse(html, headers=NO_STORE)

    @router.get("/api/runs/{run_id}", summary="A run and one page of its record-level outcomes as JSON")
    def run_json(run_id: str, request: Request) -> Response:
        found = read_run(run_id, request, html=False)
        if isinstance(found, Response):
            return found
        detail, records = found
        return JSONResponse({**detail.as_dict(), "records": records.as_dict()}, headers=NO_STORE)

    # No interactive docs: they would be routes outside the authenticated router.
    app = FastAPI(title="Sync history", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    return app

