"""``sobjects/{Obj}/listviews`` and one list view's basic info, ``describe`` and ``results``."""

# No "from __future__ import annotations": FastAPI must see the local Ctx alias as a real object.

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from emulators.salesforce import ids, listviews
from emulators.salesforce.errors import not_found
from emulators.salesforce.listviews import ListViewSpec
from emulators.salesforce.responses import int_param, sf_json
from emulators.salesforce.routes.common import DATA, auth_dependency
from emulators.salesforce.state import ApiContext, EmulatorState

BASE = DATA + "/sobjects/{sobject}/listviews"


def router(state: EmulatorState) -> APIRouter:
    api = APIRouter()
    Ctx = Annotated[ApiContext, Depends(auth_dependency(state))]  # noqa: N806 - a type alias
    org = state.org

    def view_of(sobject: str, view_id: str) -> ListViewSpec:
        obj = org.require_object(sobject)
        key = ids.to18(view_id) if ids.looks_like_id(view_id) else view_id
        view = org.list_views.get(key)
        if view is None or view.sobject != obj.name:
            raise not_found()
        return view

    @api.get(BASE)
    async def list_all(sobject: str, ctx: Ctx) -> JSONResponse:
        obj = org.require_object(sobject)
        views = [v.basic(ctx.version) for v in org.list_views.values() if v.sobject == obj.name]
        return sf_json(
            {
                "done": True,
                "listviews": views,
                "nextRecordsUrl": None,
                "size": len(views),
                "sobjectType": obj.name,
            }
        )

    @api.get(BASE + "/recent")
    async def recent(sobject: str, ctx: Ctx) -> JSONResponse:
        return await list_all(sobject, ctx)

    @api.get(BASE + "/{view_id}")
    async def basic(sobject: str, view_id: str, ctx: Ctx) -> JSONResponse:
        return sf_json(view_of(sobject, view_id).basic(ctx.version))

    @api.get(BASE + "/{view_id}/describe")
    async def describe(sobject: str, view_id: str, ctx: Ctx) -> JSONResponse:
        return sf_json(listviews.describe(org, view_of(sobject, view_id)))

    @api.get(BASE + "/{view_id}/results")
    async def results(sobject: str, view_id: str, ctx: Ctx, request: Request) -> JSONResponse:
        view = view_of(sobject, view_id)
        limit = int_param(request.query_params.get("limit"), "limit", 25, 1, 2000)
        offset = int_param(request.query_params.get("offset"), "offset", 0, 0, 2000)
        return sf_json(listviews.results(org, view, ctx.user_id, limit, offset))

    return api
