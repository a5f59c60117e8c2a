"""Versions, resources, ``limits``, ``query`` and ``queryAll`` (with ``nextRecordsUrl`` paging)."""

# No "from __future__ import annotations": FastAPI must see the local Ctx alias as a real object.

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.query import batch_size
from emulators.salesforce.responses import sf_json
from emulators.salesforce.routes.common import DATA, auth_dependency
from emulators.salesforce.state import MAX_VERSION, MIN_VERSION, ApiContext, EmulatorState


def router(state: EmulatorState) -> APIRouter:
    api = APIRouter()
    Ctx = Annotated[ApiContext, Depends(auth_dependency(state))]  # noqa: N806 - a type alias

    @api.get("/services/data")
    async def versions() -> JSONResponse:
        return sf_json(
            [
                {"label": f"v{v}.0", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(MIN_VERSION, MAX_VERSION + 1)
            ]
        )

    @api.get(DATA)
    async def resources(ctx: Ctx) -> JSONResponse:
        base = f"/services/data/v{ctx.version}"
        names = ["composite", "jobs", "limits", "query", "queryAll", "sobjects"]
        return sf_json({name: f"{base}/{name}" for name in names})

    @api.get(DATA + "/limits")
    async def limits(ctx: Ctx) -> JSONResponse:
        return sf_json(state.budget.limits())

    async def run(ctx: ApiContext, request: Request, include_deleted: bool) -> JSONResponse:
        soql = request.query_params.get("q")
        if soql is None:
            raise SalesforceError(400, "MALFORMED_QUERY", "The query parameter 'q' is required")
        size = batch_size(request.headers.get("sforce-query-options"))
        body = state.queries.run(
            soql, include_deleted=include_deleted, user_id=ctx.user_id, version=ctx.version, batch=size
        )
        return sf_json(body)

    @api.get(DATA + "/query")
    async def query(ctx: Ctx, request: Request) -> JSONResponse:
        return await run(ctx, request, include_deleted=False)

    @api.get(DATA + "/queryAll")
    async def query_all(ctx: Ctx, request: Request) -> JSONResponse:
        return await run(ctx, request, include_deleted=True)

    @api.get(DATA + "/query/{locator}")
    @api.get(DATA + "/queryAll/{locator}")
    async def query_more(locator: str, ctx: Ctx, request: Request) -> JSONResponse:
        size = batch_size(request.headers.get("sforce-query-options"))
        return sf_json(state.queries.more(locator, version=ctx.version, batch=size))

    return api
