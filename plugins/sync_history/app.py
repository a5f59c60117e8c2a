"""The FastAPI app the plugin mounts at ``/sync-history`` in the Airflow api-server.

Plugin routes are NOT authenticated by Airflow by default, so every route of this app depends on Airflow's
``requires_authenticated()``: a Bearer token (API clients) or the UI's ``_token`` cookie (the iframe the
Airflow UI shows this page in) is needed, anything else gets 401.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sync_history.runs import HistoryReader

URL_PREFIX = "/sync-history"
DEFAULT_LIMIT = 50


def create_app(reader: HistoryReader | None = None) -> FastAPI:
    """Build the app (only the api-server does; task processes import the plugin but never call this).

    :param reader: where the history comes from (tests pass one bound to their own connection).
    """
    from airflow.api_fastapi.core_api.security import requires_authenticated
    from fastapi import APIRouter, Depends, FastAPI, Query
    from fastapi.responses import HTMLResponse, JSONResponse

    from sync_history.render import render_page
    from sync_history.runs import MAX_LIMIT, HistoryReader

    history = reader or HistoryReader()
    router = APIRouter(dependencies=[Depends(requires_authenticated())])
    limit_query = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="newest runs to show")

    @router.get("/", response_class=HTMLResponse, summary="Sync history page")
    def page(limit: int = limit_query) -> HTMLResponse:
        # The iframe must not be cached by a shared proxy: the page is per-user (authenticated).
        return HTMLResponse(render_page(history.read(limit), limit), headers={"Cache-Control": "no-store"})

    @router.get("/api/runs", summary="Sync history as JSON")
    def runs(limit: int = limit_query) -> JSONResponse:
        return JSONResponse(history.read(limit).as_dict(), headers={"Cache-Control": "no-store"})

    # No interactive docs: they would be routes outside the authenticated router.
    app = FastAPI(title="Sync history", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    return app
