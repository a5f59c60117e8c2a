"""sObject Collections: ``composite/sobjects`` create/update/delete/retrieve and upsert by external id.

Up to 200 records per call (one API call), per-record results in request order with ``statusCode``
errors, and ``allOrNone`` rollback through :meth:`OrgStore.transaction`.
"""

# No "from __future__ import annotations": FastAPI must see the local Ctx alias as a real object.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from emulators.salesforce.errors import ROLLED_BACK_MESSAGE, SalesforceError
from emulators.salesforce.responses import read_json, sf_json
from emulators.salesforce.routes.common import DATA, auth_dependency, record_projection
from emulators.salesforce.state import ApiContext, EmulatorState
from emulators.salesforce.store import (
    OrgStore,
    Record,
    duplicate_in_call,
    external_id_key,
    repeated_external_ids,
)

MAX_RECORDS = 200
TOO_MANY = "record limit reached. cannot submit more than 200 records into this call"
BASE = DATA + "/composite/sobjects"

Result = dict[str, Any]


def _failure(exc: SalesforceError) -> Result:
    return {"success": False, "errors": [exc.record_error()]}


def _rolled_back() -> Result:
    return {
        "success": False,
        "errors": [
            {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": ROLLED_BACK_MESSAGE, "fields": []}
        ],
    }


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


async def _collection(request: Request) -> tuple[list[Any], bool]:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise SalesforceError(
            400, "JSON_PARSER_ERROR", "Expected a JSON object with a 'records' list at [line:1, column:1]"
        )
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise SalesforceError(400, "EXCEEDED_ID_LIMIT", TOO_MANY)
    return records, _truthy(body.get("allOrNone", False))


def _apply_all(
    org: OrgStore, items: list[Any], all_or_none: bool, apply: Callable[[Any], Result]
) -> list[Result]:
    """Apply *apply* to every item; with allOrNone, undo everything if anything failed."""
    with org.transaction() as undo:
        results: list[Result] = []
        for item in items:
            try:
                results.append(apply(item))
            except SalesforceError as exc:
                if exc.code == "NOT_FOUND":  # per-record results speak of references, not resources
                    exc = SalesforceError(
                        400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []
                    )
                results.append(_failure(exc))
        if all_or_none and any(not r["success"] for r in results):
            org.rollback(undo)
            results = [_rolled_back() if r["success"] else r for r in results]
    return results


def _record_type(org: OrgStore, record: Any) -> tuple[Any, dict[str, Any]]:
    if not isinstance(record, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
    attributes = record.get("attributes")
    type_name = attributes.get("type") if isinstance(attributes, dict) else None
    if not type_name:
        raise SalesforceError(
            400, "INVALID_TYPE", "Must specify a type in the attributes of every record", []
        )
    obj = org.object_def(str(type_name))
    if obj is None:
        raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.", [])
    return obj, {k: v for k, v in record.items() if k != "attributes"}


def router(state: EmulatorState) -> APIRouter:
    api = APIRouter()
    Ctx = Annotated[ApiContext, Depends(auth_dependency(state))]  # noqa: N806 - a type alias
    org = state.org

    @api.post(BASE)
    async def create(ctx: Ctx, request: Request) -> JSONResponse:
        records, all_or_none = await _collection(request)

        def apply(record: Any) -> Result:
            obj, fields = _record_type(org, record)
            rec = org.create(obj, fields, ctx.user_id, allow_duplicates=ctx.allow_duplicates)
            return {"id": rec["Id"], "success": True, "errors": []}

        return sf_json(_apply_all(org, records, all_or_none, apply))

    @api.patch(BASE)
    async def update(ctx: Ctx, request: Request) -> JSONResponse:
        records, all_or_none = await _collection(request)

        def apply(record: Any) -> Result:
            obj, fields = _record_type(org, record)
            id_keys = [k for k in fields if k.lower() == "id"]
            record_id = fields.get(id_keys[0]) if id_keys else None
            if not record_id:
                raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
            rec = org.update(
                obj, str(record_id), {k: v for k, v in fields.items() if k not in id_keys}, ctx.user_id
            )
            return {"id": rec["Id"], "success": True, "errors": []}

        return sf_json(_apply_all(org, records, all_or_none, apply))

    @api.delete(BASE)
    async def delete(ctx: Ctx, request: Request) -> JSONResponse:
        ids_param = request.query_params.get("ids")
        if not ids_param:
            raise SalesforceError(400, "MISSING_ARGUMENT", "ids was not specified")
        record_ids = [i.strip() for i in ids_param.split(",") if i.strip()]
        if len(record_ids) > MAX_RECORDS:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", TOO_MANY)
        all_or_none = _truthy(request.query_params.get("allOrNone", "false"))

        def apply(record_id: str) -> Result:
            rec = org.delete(None, record_id, ctx.user_id)
            return {"id": rec["Id"], "success": True, "errors": []}

        return sf_json(_apply_all(org, record_ids, all_or_none, apply))

    @api.get(BASE + "/{sobject}")
    async def retrieve(sobject: str, ctx: Ctx, request: Request) -> JSONResponse:
        obj = org.require_object(sobject)
        ids_param = request.query_params.get("ids")
        fields = request.query_params.get("fields")
        if not ids_param or not fields:
            raise SalesforceError(400, "MISSING_ARGUMENT", "ids and fields are both required")
        record_ids = [i.strip() for i in ids_param.split(",") if i.strip()]
        if len(record_ids) > 2000:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "cannot retrieve more than 2000 records per call")
        projection = record_projection(state, obj, fields, ctx)
        out: list[dict[str, Any] | None] = []
        for record_id in record_ids:
            try:
                rec: Record | None = org.find(obj, record_id)
            except SalesforceError:
                rec = None
            out.append(projection.render(rec, ctx.version) if rec is not None else None)
        return sf_json(out)

    @api.patch(BASE + "/{sobject}/{ext_field}")
    async def upsert(sobject: str, ext_field: str, ctx: Ctx, request: Request) -> JSONResponse:
        obj = org.require_object(sobject)
        records, all_or_none = await _collection(request)
        fdef = obj.get_field(ext_field)
        if fdef is None or not (fdef.externalId or fdef.idLookup) or fdef.name == "Id":
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"Field name provided, {ext_field} is not an External ID or indexed field for {obj.name}",
            )

        def key_of(record: Any) -> Any:
            if not isinstance(record, dict):
                return None
            return next((v for k, v in record.items() if k.lower() == fdef.name.lower()), None)

        # every record whose external id another record of this call repeats fails (all of them)
        repeated = repeated_external_ids(fdef, (key_of(r) for r in records))

        def apply(record: Any) -> Result:
            rec_obj, fields = _record_type(org, record)
            if rec_obj.name != obj.name:
                raise SalesforceError(
                    400, "INVALID_TYPE", f"Record type {rec_obj.name} does not match {obj.name}", []
                )
            key = key_of(fields)
            if key in (None, ""):
                raise SalesforceError(400, "MISSING_ARGUMENT", f"{fdef.name} not specified", [fdef.name])
            if repeated and external_id_key(fdef, key) in repeated:
                raise duplicate_in_call(fdef, key)
            body = {k: v for k, v in fields.items() if k.lower() != fdef.name.lower()}
            rec, created = org.upsert(obj, fdef.name, key, body, ctx.user_id)
            return {"id": rec["Id"], "success": True, "errors": [], "created": created}

        return sf_json(_apply_all(org, records, all_or_none, apply))

    return api
