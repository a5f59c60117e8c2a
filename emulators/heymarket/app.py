"""The Heymarket API emulator as a FastAPI app (``create_app``); see README.md in this folder."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from emulators.common.admin import admin_router
from emulators.common.faults import CallStats, FaultInjector, FaultMiddleware
from emulators.heymarket.errors import ApiError, error_name, injected_error
from emulators.heymarket.gate import ApiGate
from emulators.heymarket.store import HeymarketStore
from emulators.heymarket.team_routes import team_router
from emulators.heymarket.v1_contacts import v1_contacts_router
from emulators.heymarket.v1_messages import v1_messages_router
from emulators.heymarket.v2_contacts import v2_contacts_router


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """Path/query parameters FastAPI validates itself (e.g. a non-numeric contact id): 400 bad_data."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())[1:]) or "request"
        parts.append(f"field '{loc}': {err.get('msg', 'invalid')}")
    return JSONResponse({"error": "bad_data", "message": "; ".join(parts)}, status_code=400)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Unknown path or method: the same error shape as everything else."""
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return JSONResponse({"error": error_name(exc.status_code), "message": message},
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


def create_app(store: HeymarketStore | None = None) -> FastAPI:
    """Build the emulator: API routes, ``/__admin`` routes, gate (auth, rate limit) and fault injection.

    :param store: state to serve; a fresh seeded one by default (tests may pass their own).
    """
    store = store or HeymarketStore()
    faults, stats = FaultInjector(), CallStats()
    app = FastAPI(title="Heymarket API emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.faults = faults
    app.state.stats = stats
    app.include_router(v1_contacts_router(store))
    app.include_router(v2_contacts_router(store))
    app.include_router(v1_messages_router(store))
    app.include_router(team_router(store))
    app.include_router(admin_router(store, faults, stats))
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    # Added last = outermost: FaultMiddleware sees (and counts) everything, the gate runs inside it.
    app.add_middleware(ApiGate, store=store, faults=faults)
    app.add_middleware(FaultMiddleware, injector=faults, stats=stats, error_body=injected_error)
    return app
