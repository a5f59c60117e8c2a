"""``GET /v1/users/get``, ``GET /v1/team`` and ``GET /v1/inboxes``: static team fixtures."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from emulators.heymarket import choices
from emulators.heymarket.bodies import read_json, reply
from emulators.heymarket.contact_input import parse_model
from emulators.heymarket.store import HeymarketStore


class UserFilter(BaseModel):
    """The JSON body of ``GET /v1/users/get`` (yes, a GET with a body, as documented)."""

    model_config = ConfigDict(extra="ignore")
    phone: list[str] = []
    email: list[str] = []


def team_router(store: HeymarketStore) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/users/get")
    async def users(request: Request) -> JSONResponse:
        wanted = parse_model(UserFilter, await read_json(request, default={}))
        return reply({"memberships": store.directory.find_users(wanted.phone, wanted.email)})

    @router.get("/team")
    async def team() -> JSONResponse:
        list_size = len(store.contacts) if choices.TEAM_LIST_SIZE_COUNTS_CONTACTS else 0
        return reply(store.directory.team_json(list_size))

    @router.get("/inboxes")
    async def inboxes() -> JSONResponse:
        return reply(store.directory.inboxes_json())

    return router
