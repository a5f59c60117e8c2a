"""``/__admin`` lifecycle calls: ``undelete``, ``merge``, ``convert``, ``purge`` (Salesforce only).

They sit next to the shared ``reset``/``load``/``dump``/``faults``/``stats`` routes, outside the API
paths (no session, no API budget, no fault injection). A body the route cannot read (missing or
mistyped keys, unknown keys) is a 400 ``{"detail": ...}`` like a bad ``load``; a call the org refuses
answers with the status of its first failing record and the SOAP-shaped result body (see
:mod:`emulators.salesforce.lifecycle`).
"""

# No "from __future__ import annotations": FastAPI must see the Body annotations as real objects.

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import JSONResponse

from emulators.common.faults import ADMIN_PREFIX
from emulators.salesforce.lifecycle import LifecycleRefused
from emulators.salesforce.state import EmulatorState

Payload = dict[str, Any]


def _check_keys(payload: Payload, required: set[str], optional: set[str]) -> None:
    missing = sorted(required - set(payload))
    unknown = sorted(set(payload) - required - optional)
    if missing or unknown:
        raise HTTPException(
            400,
            f"missing keys {missing}, unknown keys {unknown}; this call takes {sorted(required)} "
            f"and optionally {sorted(optional)}",
        )


def _id_list(payload: Payload, key: str, *, min_items: int = 1) -> list[str]:
    value = payload.get(key)
    if not isinstance(value, list) or len(value) < min_items or not all(isinstance(v, str) for v in value):
        raise HTTPException(400, f"{key!r} must be a list of record id strings (at least {min_items})")
    return value


def _optional_str(payload: Payload, key: str) -> str | None:
    value = payload.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise HTTPException(400, f"{key!r} must be a non-empty string or null")
    return value


def _answer(call: Callable[[], Payload]) -> JSONResponse:
    try:
        return JSONResponse(call())
    except LifecycleRefused as refused:
        return JSONResponse(refused.body, status_code=refused.status)


def router(state: EmulatorState) -> APIRouter:
    api = APIRouter(prefix=ADMIN_PREFIX, tags=["admin"])
    lifecycle = state.lifecycle

    @api.post("/undelete")
    async def undelete(payload: Payload = Body(...)) -> JSONResponse:  # noqa: B008
        _check_keys(payload, {"ids"}, set())
        record_ids = _id_list(payload, "ids")
        return _answer(lambda: lifecycle.undelete(record_ids))

    @api.post("/purge")
    async def purge(payload: Payload = Body(...)) -> JSONResponse:  # noqa: B008
        _check_keys(payload, {"ids"}, set())
        record_ids = _id_list(payload, "ids")
        return _answer(lambda: lifecycle.purge(record_ids))

    @api.post("/merge")
    async def merge(payload: Payload = Body(...)) -> JSONResponse:  # noqa: B008
        _check_keys(payload, {"object", "master_id", "victim_ids"}, {"master_values"})
        object_name = _optional_str(payload, "object")
        master_id = _optional_str(payload, "master_id")
        if object_name is None or master_id is None:
            raise HTTPException(400, "'object' and 'master_id' must be non-empty strings")
        victim_ids = _id_list(payload, "victim_ids", min_items=0)
        master_values = payload.get("master_values") or {}
        if not isinstance(master_values, dict):
            raise HTTPException(400, "'master_values' must be an object of API field names to values")
        return _answer(lambda: lifecycle.merge(object_name, master_id, victim_ids, master_values))

    @api.post("/convert")
    async def convert(payload: Payload = Body(...)) -> JSONResponse:  # noqa: B008
        _check_keys(payload, {"lead_id"}, {"contact_id", "account_id", "converted_status"})
        lead_id = _optional_str(payload, "lead_id")
        if lead_id is None:
            raise HTTPException(400, "'lead_id' must be a non-empty string")
        contact_id = _optional_str(payload, "contact_id")
        account_id = _optional_str(payload, "account_id")
        status = _optional_str(payload, "converted_status")
        return _answer(lambda: lifecycle.convert(lead_id, contact_id, account_id, status))

    return api
