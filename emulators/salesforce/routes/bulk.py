"""Bulk API 2.0 routes: ``jobs/query`` and ``jobs/ingest``."""

# No "from __future__ import annotations": FastAPI must see the local Ctx alias as a real object.

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from emulators.salesforce.errors import SalesforceError, not_found
from emulators.salesforce.responses import int_param, no_content, read_json, read_object, sf_json
from emulators.salesforce.routes.common import DATA, auth_dependency
from emulators.salesforce.state import ApiContext, EmulatorState

QUERY = DATA + "/jobs/query"
INGEST = DATA + "/jobs/ingest"
RESULT_KINDS = {"successfulresults", "failedresults", "unprocessedrecords"}
_CSV = "text/csv; charset=UTF-8"


def _job_list(infos: list[dict]) -> dict:
    return {"done": True, "records": infos, "nextRecordsUrl": None}


async def _requested_state(request: Request) -> str:
    body = await read_json(request)
    state = body.get("state") if isinstance(body, dict) else None
    if not isinstance(state, str):
        raise SalesforceError(400, "JSON_PARSER_ERROR", 'Expected {"state": "..."} at [line:1, column:1]')
    return state


def router(state: EmulatorState) -> APIRouter:
    api = APIRouter()
    Ctx = Annotated[ApiContext, Depends(auth_dependency(state))]  # noqa: N806 - a type alias
    bulk = state.bulk

    # --- query jobs ------------------------------------------------------------------------------

    @api.post(QUERY)
    async def create_query_job(ctx: Ctx, request: Request) -> JSONResponse:
        job = bulk.create_query_job(await read_object(request), ctx.user_id, ctx.version)
        state.budget.bulk_query_jobs += 1
        return sf_json(job.info())

    @api.get(QUERY)
    async def list_query_jobs(ctx: Ctx) -> JSONResponse:
        return sf_json(_job_list([j.info() for j in bulk.query_jobs.values()]))

    @api.get(QUERY + "/{job_id}")
    async def get_query_job(job_id: str, ctx: Ctx) -> JSONResponse:
        return sf_json(bulk.poll_query_job(job_id).info())

    @api.get(QUERY + "/{job_id}/results")
    async def query_results(job_id: str, ctx: Ctx, request: Request) -> Response:
        max_records = (
            int_param(request.query_params.get("maxRecords"), "maxRecords", 0, 1, 1_000_000_000)
            if request.query_params.get("maxRecords")
            else None
        )
        body, locator, count = bulk.query_results(job_id, request.query_params.get("locator"), max_records)
        return Response(
            body, media_type=_CSV, headers={"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(count)}
        )

    @api.patch(QUERY + "/{job_id}")
    async def change_query_job(job_id: str, ctx: Ctx, request: Request) -> JSONResponse:
        job = bulk.set_state(job_id, await _requested_state(request), ingest=False)
        return sf_json(job.info())

    @api.delete(QUERY + "/{job_id}")
    async def delete_query_job(job_id: str, ctx: Ctx) -> Response:
        bulk.delete_job(job_id, ingest=False)
        return no_content()

    # --- ingest jobs -----------------------------------------------------------------------------

    @api.post(INGEST)
    async def create_ingest_job(ctx: Ctx, request: Request) -> JSONResponse:
        return sf_json(bulk.create_ingest_job(await read_object(request), ctx.user_id, ctx.version).info())

    @api.get(INGEST)
    async def list_ingest_jobs(ctx: Ctx) -> JSONResponse:
        return sf_json(_job_list([j.info() for j in bulk.ingest_jobs.values()]))

    @api.get(INGEST + "/{job_id}")
    async def get_ingest_job(job_id: str, ctx: Ctx) -> JSONResponse:
        return sf_json(bulk.ingest_job(job_id).info())

    @api.put(INGEST + "/{job_id}/batches")
    async def upload(job_id: str, ctx: Ctx, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if "csv" not in content_type.lower():
            raise SalesforceError(
                400, "INVALIDJOB", f"Unsupported Content-Type {content_type!r}: use text/csv"
            )
        bulk.upload(job_id, (await request.body()).decode("utf-8-sig", "replace"))
        return Response(status_code=201)

    @api.patch(INGEST + "/{job_id}")
    async def change_ingest_job(job_id: str, ctx: Ctx, request: Request) -> JSONResponse:
        requested = await _requested_state(request)
        job = bulk.set_state(job_id, requested, ingest=True)
        info = job.info()
        if requested == "UploadComplete":
            bulk.process(bulk.ingest_job(job_id), allow_duplicates=ctx.allow_duplicates)
            state.budget.bulk_batches += 1
        return sf_json(info)

    @api.delete(INGEST + "/{job_id}")
    async def delete_ingest_job(job_id: str, ctx: Ctx) -> Response:
        bulk.delete_job(job_id, ingest=True)
        return no_content()

    @api.get(INGEST + "/{job_id}/{kind}")
    async def ingest_results(job_id: str, kind: str, ctx: Ctx) -> Response:
        if kind.lower() not in RESULT_KINDS:
            raise not_found()
        return Response(bulk.ingest_results(job_id, kind.lower()), media_type=_CSV)

    return api
