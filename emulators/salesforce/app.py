"""The Salesforce REST API emulator as a FastAPI app (``create_app``).

Middleware, outermost first: fault injection and call stats (shared with the Heymarket emulator), a
trailing-slash normaliser (simple-salesforce asks for ``/query/?q=``, ``/limits/``), and the
``Sforce-Limit-Info`` header. Every error leaves as Salesforce's JSON array; nothing ever answers
with a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from emulators.common.admin import admin_router
from emulators.common.faults import ADMIN_PREFIX, ASGIApp, FaultMiddleware, Receive, Scope, Send
from emulators.salesforce.errors import NOT_FOUND_MESSAGE, SalesforceError, injected_error_body
from emulators.salesforce.limits import ApiBudget
from emulators.salesforce.responses import error_response, sf_json
from emulators.salesforce.routes import bulk, bulk1, composite, lifecycle, listviews, login, query, sobjects
from emulators.salesforce.soql import SoqlError
from emulators.salesforce.state import EmulatorState

log = logging.getLogger(__name__)
_API_PREFIXES = ("/services/data", "/services/async")


class TrailingSlashMiddleware:
    """Serve ``/path/`` exactly like ``/path`` (as Salesforce does) instead of redirecting."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            if len(path) > 1 and path.endswith("/") and not path.startswith(ADMIN_PREFIX):
                scope["path"] = path.rstrip("/") or "/"
                raw = scope.get("raw_path")
                if isinstance(raw, bytes):
                    scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


class LimitInfoMiddleware:
    """Add ``Sforce-Limit-Info: api-usage=N/MAX`` to every REST API response."""

    def __init__(self, app: ASGIApp, budget: ApiBudget) -> None:
        self.app = app
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(_API_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def with_header(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"sforce-limit-info", self.budget.header().encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_header)


def _install_error_handlers(app: FastAPI) -> None:
    async def on_salesforce_error(_request: Request, exc: SalesforceError) -> Response:
        return error_response(exc)

    async def on_soql_error(_request: Request, exc: SoqlError) -> Response:
        return sf_json([{"message": exc.message, "errorCode": exc.code}], 400)

    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(ADMIN_PREFIX):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 404:
            return sf_json([{"errorCode": "NOT_FOUND", "message": NOT_FOUND_MESSAGE}], 404)
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            return sf_json(
                [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
                    }
                ],
                405,
            )
        return sf_json([{"errorCode": "UNKNOWN_EXCEPTION", "message": str(exc.detail)}], exc.status_code)

    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(ADMIN_PREFIX):
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        return sf_json(
            [{"errorCode": "INVALID_INPUT", "message": "The request is not valid for this resource"}], 400
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return sf_json(
            [
                {
                    "errorCode": "UNKNOWN_EXCEPTION",
                    "message": "An unexpected error occurred. Please include this ErrorId if you contact "
                    "support: 0000000000-00000 (0)",
                }
            ],
            500,
        )

    handlers: list[tuple[type[Exception], Any]] = [
        (SalesforceError, on_salesforce_error),
        (SoqlError, on_soql_error),
        (StarletteHTTPException, on_http_error),
        (RequestValidationError, on_validation_error),
        (Exception, on_unexpected),
    ]
    for exc_type, handler in handlers:
        app.add_exception_handler(exc_type, handler)


def create_app(state: EmulatorState | None = None) -> FastAPI:
    """Build the emulator app; each call gets its own empty org (the integration user and seeds only)."""
    state = state or EmulatorState()
    app = FastAPI(title="Salesforce API emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state
    app.include_router(admin_router(state, state.faults, state.stats))
    app.include_router(lifecycle.router(state))  # undelete, merge, convert, purge
    # list views and the fixed sobjects sub-resources must come before sobjects/{Obj}/{id}
    for module in (login, query, listviews, sobjects, composite, bulk, bulk1):
        app.include_router(module.router(state))
    _install_error_handlers(app)
    app.add_middleware(LimitInfoMiddleware, budget=state.budget)
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(
        FaultMiddleware, injector=state.faults, stats=state.stats, error_body=injected_error_body
    )
    return app
