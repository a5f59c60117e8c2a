"""Bulk API 1.0 (JSON) routes under ``/services/async/{version}``; errors use that API's
``{"exceptionCode", "exceptionMessage"}`` body instead of the REST array."""

# No "from __future__ import annotations": FastAPI must see the local Ctx alias as a real object.

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from emulators.salesforce.bulk1 import BulkV1Error
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.responses import JSON_TYPE
from emulators.salesforce.state import ApiContext, EmulatorState

ASYNC = "/services/async/{version}"
_CODES = {
    "INVALID_SESSION_ID": "InvalidSessionId",
    "REQUEST_LIMIT_EXCEEDED": "ExceededQuota",
    "NOT_FOUND": "InvalidUrl",
}


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=JSON_TYPE)


def _error(exc: BulkV1Error) -> JSONResponse:
    return _json(exc.body(), exc.status)


def router(state: EmulatorState) -> APIRouter:
    api = APIRouter()
    service = state.bulk1

    def authenticate(request: Request, version: str) -> ApiContext:
        try:
            return state.authenticate(request, version)
        except SalesforceError as exc:
            # Bulk API 1.0 reports a bad session as 400 InvalidSessionId, not as the REST 401
            status = 400 if exc.code == "INVALID_SESSION_ID" else exc.status
            raise BulkV1Error(status, _CODES.get(exc.code, exc.code), exc.message) from None

    @api.post(ASYNC + "/job")
    async def create_job(version: str, request: Request) -> JSONResponse:
        try:
            ctx = authenticate(request, version)
            try:
                body = json.loads(await request.body())
            except ValueError:
                raise BulkV1Error(400, "InvalidJob", "Unable to parse the job request as JSON") from None
            return _json(service.create_job(body, ctx.user_id, ctx.version).info(), 201)
        except BulkV1Error as exc:
            return _error(exc)

    @api.get(ASYNC + "/job/{job_id}")
    async def get_job(version: str, job_id: str, request: Request) -> JSONResponse:
        try:
            authenticate(request, version)
            return _json(service.job(job_id).info())
        except BulkV1Error as exc:
            return _error(exc)

    @api.post(ASYNC + "/job/{job_id}")
    async def change_job(version: str, job_id: str, request: Request) -> JSONResponse:
        try:
            authenticate(request, version)
            try:
                body = json.loads(await request.body())
            except ValueError:
                raise BulkV1Error(400, "InvalidJob", "Unable to parse the request as JSON") from None
            requested = body.get("state") if isinstance(body, dict) else None
            return _json(service.set_state(job_id, requested).info())
        except BulkV1Error as exc:
            return _error(exc)

    @api.post(ASYNC + "/job/{job_id}/batch")
    async def add_batch(version: str, job_id: str, request: Request) -> JSONResponse:
        try:
            ctx = authenticate(request, version)
            batch = service.add_batch(job_id, await request.body(), ctx.user_id, ctx.version)
            return _json(batch.info(), 201)
        except BulkV1Error as exc:
            return _error(exc)

    @api.get(ASYNC + "/job/{job_id}/batch")
    async def list_batches(version: str, job_id: str, request: Request) -> JSONResponse:
        try:
            authenticate(request, version)
            return _json({"batchInfo": [b.info() for b in service.job(job_id).batches.values()]})
        except BulkV1Error as exc:
            return _error(exc)

    @api.get(ASYNC + "/job/{job_id}/batch/{batch_id}")
    async def get_batch(version: str, job_id: str, batch_id: str, request: Request) -> JSONResponse:
        try:
            authenticate(request, version)
            return _json(service.batch(job_id, batch_id).info())
        except BulkV1Error as exc:
            return _error(exc)

    @api.get(ASYNC + "/job/{job_id}/batch/{batch_id}/request")
    async def batch_request(version: str, job_id: str, batch_id: str, request: Request) -> JSONResponse:
        try:
            authenticate(request, version)
            return _json(service.batch(job_id, batch_id).request)
        except BulkV1Error as exc:
            return _error(exc)

    @api.get(ASYNC + "/job/{job_id}/batch/{batch_id}/result")
    async def batch_results(version: str, job_id: str, batch_id: str, request: Request) -> JSONResponse:
        try:
            authenticate(request, version)
            return _json(service.results(job_id, batch_id))
        except BulkV1Error as exc:
            return _error(exc)

    @api.get(ASYNC + "/job/{job_id}/batch/{batch_id}/result/{result_id}")
    async def query_result(
        version: str, job_id: str, batch_id: str, result_id: str, request: Request
    ) -> JSONResponse:
        try:
            ctx = authenticate(request, version)
            return _json(service.query_result(job_id, batch_id, result_id, ctx.version))
        except BulkV1Error as exc:
            return _error(exc)

    return api
