"""``sobjects``: global describe, object describe, single-record CRUD, upsert by external id, and the
``updated`` / ``deleted`` replication windows."""

# No "from __future__ import annotations": FastAPI must see the local Ctx alias as a real object.

import datetime as dt
import itertools
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.responses import no_content, read_object, sf_json
from emulators.salesforce.routes.common import DATA, auth_dependency, record_projection
from emulators.salesforce.state import ApiContext, EmulatorState
from emulators.salesforce.store import Clock, external_id_key
from emulators.salesforce.values import format_datetime, now, parse_datetime

UPDATED_WINDOW_DAYS = 30
DELETED_WINDOW_DAYS = 15
MAX_REPLICATION_IDS = 600_000


def _window_param(request: Request, name: str) -> dt.datetime:
    raw = request.query_params.get(name)
    if not raw:
        raise SalesforceError(400, "MISSING_ARGUMENT", f"{name} was not specified")
    try:
        # a '+' sent unencoded arrives as a space
        return parse_datetime(raw.replace(" ", "+")).replace(second=0, microsecond=0)
    except ValueError:
        raise SalesforceError(
            400, "INVALID_REPLICATION_DATE", f"{name} is not a valid ISO-8601 datetime: {raw}"
        ) from None


def _window(request: Request, max_days: int | None, clock: Clock) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a replication window: seconds of the parameters are ignored (like Salesforce), and
    the window never reaches past the present, which becomes ``latestDateCovered``."""
    start, end = _window_param(request, "start"), _window_param(request, "end")
    current = clock.latest()
    if start >= end:
        raise SalesforceError(
            400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate"
        )
    if max_days is not None and start < current - dt.timedelta(days=max_days):
        raise SalesforceError(
            400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {max_days} days ago"
        )
    return start, min(end, current + dt.timedelta(milliseconds=1))


def router(state: EmulatorState) -> APIRouter:
    api = APIRouter()
    Ctx = Annotated[ApiContext, Depends(auth_dependency(state))]  # noqa: N806 - a type alias
    org = state.org

    @api.get(DATA + "/sobjects")
    async def global_describe(ctx: Ctx) -> JSONResponse:
        return sf_json(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [o.basic(ctx.version) for o in org.schema.values()],
            }
        )

    @api.get(DATA + "/sobjects/{sobject}")
    async def object_info(sobject: str, ctx: Ctx) -> JSONResponse:
        obj = org.require_object(sobject)
        name = obj.get_field("Name")
        latest = itertools.islice(
            (r for r in reversed(org.records[obj.name].values()) if not r.get("IsDeleted")), 3
        )
        recent = [
            {
                "attributes": {
                    "type": obj.name,
                    "url": f"/services/data/v{ctx.version}/sobjects/{obj.name}/{r['Id']}",
                },
                "Id": r["Id"],
                "Name": (name.compute(r) if name.compute else r.get("Name")) if name else None,
            }
            for r in latest
        ]
        return sf_json({"objectDescribe": obj.basic(ctx.version), "recentItems": recent})

    @api.post(DATA + "/sobjects/{sobject}")
    async def create(sobject: str, ctx: Ctx, request: Request) -> JSONResponse:
        obj = org.require_object(sobject)
        body = await read_object(request)
        rec = org.create(obj, body, ctx.user_id, allow_duplicates=ctx.allow_duplicates)
        return sf_json({"id": rec["Id"], "success": True, "errors": []}, 201)

    @api.get(DATA + "/sobjects/{sobject}/describe")
    async def describe(sobject: str, ctx: Ctx) -> JSONResponse:
        obj = org.require_object(sobject)
        return sf_json(obj.describe(ctx.version, org.schema.values()))

    @api.get(DATA + "/sobjects/{sobject}/updated")
    async def updated(sobject: str, ctx: Ctx, request: Request) -> JSONResponse:
        obj = org.require_object(sobject)
        start, end = _window(request, UPDATED_WINDOW_DAYS, org.clock)
        found = [r["Id"] for r in org.live(obj) if start <= r["SystemModstamp"] < end]
        if len(found) > MAX_REPLICATION_IDS:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "record limit reached: narrow the window")
        return sf_json({"ids": found, "latestDateCovered": format_datetime(end)})

    @api.get(DATA + "/sobjects/{sobject}/deleted")
    async def deleted(sobject: str, ctx: Ctx, request: Request) -> JSONResponse:
        obj = org.require_object(sobject)
        start, end = _window(request, None, org.clock)
        earliest = max(org.created_at, now() - dt.timedelta(days=DELETED_WINDOW_DAYS))
        found = [
            {"id": d.id, "deletedDate": format_datetime(d.when)}
            for d in org.deletions
            if d.object == obj.name and start <= d.when < end
        ]
        if len(found) > MAX_REPLICATION_IDS:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "record limit reached: narrow the window")
        return sf_json(
            {
                "deletedRecords": found,
                "earliestDateAvailable": format_datetime(earliest.replace(second=0, microsecond=0)),
                "latestDateCovered": format_datetime(end),
            }
        )

    @api.get(DATA + "/sobjects/{sobject}/{record_id}")
    async def get_record(sobject: str, record_id: str, ctx: Ctx, request: Request) -> JSONResponse:
        obj = org.require_object(sobject)
        rec = org.find(obj, record_id)
        projection = record_projection(state, obj, request.query_params.get("fields"), ctx)
        return sf_json(projection.render(rec, ctx.version))

    @api.patch(DATA + "/sobjects/{sobject}/{record_id}")
    async def update(sobject: str, record_id: str, ctx: Ctx, request: Request) -> Response:
        obj = org.require_object(sobject)
        body = await read_object(request)
        org.update(obj, record_id, body, ctx.user_id)
        return no_content()

    @api.delete(DATA + "/sobjects/{sobject}/{record_id}")
    async def delete(sobject: str, record_id: str, ctx: Ctx) -> Response:
        obj = org.require_object(sobject)
        org.delete(obj, record_id, ctx.user_id)
        return no_content()

    @api.get(DATA + "/sobjects/{sobject}/{field}/{value}")
    async def get_by_external_id(
        sobject: str, field: str, value: str, ctx: Ctx, request: Request
    ) -> JSONResponse:
        obj = org.require_object(sobject)
        fdef = obj.get_field(field)
        if fdef is None or not (fdef.externalId or fdef.idLookup):
            raise SalesforceError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field}"
            )
        key = external_id_key(fdef, value)
        matches = [
            r for r in org.live(obj) if (v := r.get(fdef.name)) is not None and fdef.match_key(v) == key
        ]
        if not matches:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(matches) > 1:
            return sf_json(
                [f"/services/data/v{ctx.version}/sobjects/{obj.name}/{m['Id']}" for m in matches], 300
            )
        projection = record_projection(state, obj, request.query_params.get("fields"), ctx)
        return sf_json(projection.render(matches[0], ctx.version))

    @api.patch(DATA + "/sobjects/{sobject}/{field}/{value}")
    async def upsert(sobject: str, field: str, value: str, ctx: Ctx, request: Request) -> JSONResponse:
        obj = org.require_object(sobject)
        body = await read_object(request)
        try:
            rec, created = org.upsert(obj, field, value, body, ctx.user_id)
        except SalesforceError as exc:
            if exc.status == 300:
                urls = [
                    f"/services/data/v{ctx.version}/sobjects/{obj.name}/{i}" for i in exc.context["matches"]
                ]
                return sf_json(urls, 300)
            raise
        return sf_json(
            {"id": rec["Id"], "success": True, "errors": [], "created": created}, 201 if created else 200
        )

    return api
