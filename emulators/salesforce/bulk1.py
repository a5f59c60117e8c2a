"""Bulk API 1.0 with JSON content (``/services/async/{version}``), the API behind the provider's
``SalesforceBulkOperator`` (simple-salesforce ``sf.bulk.<Obj>.insert/update/upsert/delete``).

Batches are processed when they are added, so the first status poll already says ``Completed``.
Records go through the same store checks as REST writes; per-record results keep request order.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.query import QueryService
from emulators.salesforce.soql import SoqlError
from emulators.salesforce.soql_eval import CompiledQuery, Record
from emulators.salesforce.store import OrgStore, duplicate_in_call, external_id_key, repeated_external_ids
from emulators.salesforce.values import format_datetime, now

log = logging.getLogger(__name__)

DML_OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
QUERY_OPERATIONS = {"query", "queryAll"}
MAX_BATCH_RECORDS = 10_000


class BulkV1Error(Exception):
    """A Bulk API 1.0 error: ``{"exceptionCode", "exceptionMessage"}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"exceptionCode": self.code, "exceptionMessage": self.message}


@dataclass
class BatchV1:
    id: str
    job_id: str
    request: Any
    state: str = "Queued"
    state_message: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    query: CompiledQuery | None = None
    rows: list[Record] = field(default_factory=list)
    created: dt.datetime = field(default_factory=now)

    def info(self) -> dict[str, Any]:
        failed = sum(1 for r in self.results if not r.get("success"))
        body: dict[str, Any] = {
            "apexProcessingTime": 0,
            "apiActiveProcessingTime": 1,
            "createdDate": format_datetime(self.created),
            "id": self.id,
            "jobId": self.job_id,
            "numberRecordsFailed": failed,
            "numberRecordsProcessed": len(self.rows) if self.query else len(self.results),
            "state": self.state,
            "systemModstamp": format_datetime(self.created),
            "totalProcessingTime": 1,
        }
        if self.state_message:
            body["stateMessage"] = self.state_message
        return body


@dataclass
class JobV1:
    id: str
    operation: str
    object: str
    created_by: str
    api_version: str
    external_id_field: str | None
    concurrency: str
    state: str = "Open"
    batches: dict[str, BatchV1] = field(default_factory=dict)
    created: dt.datetime = field(default_factory=now)

    def info(self) -> dict[str, Any]:
        batches = list(self.batches.values())
        return {
            "apexProcessingTime": 0,
            "apiActiveProcessingTime": len(batches),
            "apiVersion": float(self.api_version),
            "assignmentRuleId": None,
            "concurrencyMode": self.concurrency,
            "contentType": "JSON",
            "createdById": self.created_by,
            "createdDate": format_datetime(self.created),
            "externalIdFieldName": self.external_id_field,
            "fastPathEnabled": False,
            "id": self.id,
            "numberBatchesCompleted": sum(b.state == "Completed" for b in batches),
            "numberBatchesFailed": sum(b.state == "Failed" for b in batches),
            "numberBatchesInProgress": 0,
            "numberBatchesQueued": 0,
            "numberBatchesTotal": len(batches),
            "numberRecordsFailed": sum(b.info()["numberRecordsFailed"] for b in batches),
            "numberRecordsProcessed": sum(b.info()["numberRecordsProcessed"] for b in batches),
            "numberRetries": 0,
            "object": self.object,
            "operation": self.operation,
            "state": self.state,
            "systemModstamp": format_datetime(self.created),
            "totalProcessingTime": len(batches),
        }


def _epoch_ms(value: Any) -> Any:
    """Bulk API 1.0 JSON query results carry dates and datetimes as epoch milliseconds."""
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dt.date):
        return int(dt.datetime.combine(value, dt.time(), dt.UTC).timestamp() * 1000)
    return value


def _value(record: dict[str, Any], name: str) -> Any:
    """A record's value of field *name*, whatever the case of the key."""
    return next((v for k, v in record.items() if k.lower() == name.lower()), None)


class BulkV1Service:
    def __init__(self, store: OrgStore, queries: QueryService) -> None:
        self.store = store
        self.queries = queries
        self.jobs: dict[str, JobV1] = {}

    def clear(self) -> None:
        self.jobs.clear()

    def create_job(self, body: Any, user_id: str, version: str) -> JobV1:
        if not isinstance(body, dict):
            raise BulkV1Error(400, "InvalidJob", "Unable to parse the job request: expected a JSON object")
        operation = body.get("operation")
        if operation not in DML_OPERATIONS | QUERY_OPERATIONS:
            raise BulkV1Error(400, "InvalidJob", f"Invalid operation: {operation}")
        obj = self.store.object_def(str(body.get("object", "")))
        if obj is None:
            raise BulkV1Error(400, "InvalidJob", f"Unable to find object: {body.get('object')}")
        if body.get("contentType", "JSON") != "JSON":
            raise BulkV1Error(400, "InvalidJob", "This emulator supports only contentType JSON")
        mode = body.get("concurrencyMode", "Parallel")
        concurrency = "Serial" if mode in (1, "1", "Serial") else "Parallel"
        ext = body.get("externalIdFieldName")
        if operation == "upsert":
            fdef = obj.get_field(str(ext)) if ext else None
            if fdef is None:
                raise BulkV1Error(
                    400, "InvalidJob", f"External ID field {ext!r} does not exist on {obj.name}"
                )
            if not (fdef.externalId or fdef.idLookup):
                raise BulkV1Error(
                    400,
                    "InvalidJob",
                    f"Field name provided, {fdef.name} is not an External ID or indexed field for {obj.name}",
                )
            ext = fdef.name
        job = JobV1(
            self.store.id_factory.new("750"),
            operation,
            obj.name,
            user_id,
            version,
            str(ext) if operation == "upsert" else None,
            concurrency,
        )
        self.jobs[job.id] = job
        return job

    def job(self, job_id: str) -> JobV1:
        job = self.jobs.get(job_id)
        if job is None:
            raise BulkV1Error(400, "InvalidJob", f"Unable to find job {job_id}")
        return job

    def batch(self, job_id: str, batch_id: str) -> BatchV1:
        batch = self.job(job_id).batches.get(batch_id)
        if batch is None:
            raise BulkV1Error(400, "InvalidBatch", f"Unable to find batch {batch_id} of job {job_id}")
        return batch

    def set_state(self, job_id: str, state: Any) -> JobV1:
        job = self.job(job_id)
        if state not in ("Closed", "Aborted"):
            raise BulkV1Error(400, "InvalidJobState", f"Invalid state: {state}")
        if job.state != "Open":
            raise BulkV1Error(400, "InvalidJobState", f"Job {job_id} is {job.state}, not Open")
        job.state = state
        return job

    def add_batch(self, job_id: str, raw: bytes, user_id: str, version: str) -> BatchV1:
        """Add and process one batch (records JSON for DML, SOQL text for queries)."""
        job = self.job(job_id)
        if job.state != "Open":
            raise BulkV1Error(
                400, "InvalidJobState", f"Job {job_id} is {job.state}; batches need an Open job"
            )
        batch = BatchV1(self.store.id_factory.new("751"), job.id, None)
        job.batches[batch.id] = batch
        text = raw.decode("utf-8", "replace")
        if job.operation in QUERY_OPERATIONS:
            batch.request = text
            self._run_query(job, batch, text, user_id, version)
        else:
            self._run_dml(job, batch, text, user_id)
        log.info("bulk 1.0 batch %s of job %s: %s", batch.id, job.id, batch.state)
        return batch

    def _run_query(self, job: JobV1, batch: BatchV1, soql: str, user_id: str, version: str) -> None:
        try:
            compiled = self.queries.compile(soql, user_id, version)
        except SoqlError as exc:
            batch.state, batch.state_message = "Failed", f"{exc.code}: {exc.message}"
            return
        if compiled.obj.name != job.object:
            batch.state, batch.state_message = (
                "Failed",
                f"InvalidBatch : query is on {compiled.obj.name}, the job on {job.object}",
            )
            return
        batch.query = compiled
        batch.rows = self.queries.rows(compiled, include_deleted=job.operation == "queryAll")
        batch.state = "Completed"

    def _run_dml(self, job: JobV1, batch: BatchV1, text: str, user_id: str) -> None:
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            batch.state, batch.state_message = (
                "Failed",
                f"InvalidBatch : Failed to parse the batch: {exc.msg}",
            )
            return
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            batch.state, batch.state_message = (
                "Failed",
                "InvalidBatch : the batch must be a JSON array of records",
            )
            return
        if len(records) > MAX_BATCH_RECORDS:
            batch.state, batch.state_message = (
                "Failed",
                "InvalidBatch : Records in a batch cannot exceed 10000",
            )
            return
        batch.request = records
        obj = self.store.schema[job.object.lower()]
        repeated: set[Any] = set()
        ext_fdef = obj.get_field(job.external_id_field or "Id")
        if job.operation == "upsert" and ext_fdef is not None:
            repeated = repeated_external_ids(ext_fdef, (_value(r, ext_fdef.name) for r in records))
        for record in records:
            batch.results.append(self._apply(job, obj, record, user_id, repeated))
        batch.state = "Completed"

    def _apply(
        self, job: JobV1, obj: Any, record: dict[str, Any], user_id: str, repeated: set[Any]
    ) -> dict[str, Any]:
        store = self.store
        id_key = next((k for k in record if k.lower() == "id"), None)
        record_id = record.get(id_key) if id_key else None
        fields = {k: v for k, v in record.items() if k != id_key}
        try:
            created = False
            if job.operation == "insert":
                rec = store.create(obj, record, user_id)
                created = True
            elif job.operation == "update":
                if not record_id:
                    raise SalesforceError(
                        400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                    )
                rec = store.update(obj, str(record_id), fields, user_id)
            elif job.operation == "upsert":
                ext = job.external_id_field or "Id"
                key = _value(record, ext)
                ext_fdef = obj.get_field(ext)
                if repeated and ext_fdef is not None and external_id_key(ext_fdef, key) in repeated:
                    raise duplicate_in_call(ext_fdef, key)
                body = {k: v for k, v in record.items() if k.lower() != ext.lower()}
                rec, created = store.upsert(obj, ext, key, body, user_id)
            elif job.operation == "delete":
                rec = store.delete(obj, str(record_id or ""), user_id)
            else:
                rec = store.hard_delete(obj, str(record_id or ""), user_id)
        except SalesforceError as exc:
            return {
                "success": False,
                "created": False,
                "id": str(record_id) if record_id else None,
                "errors": [exc.record_error()],
            }
        return {"success": True, "created": created, "id": rec["Id"], "errors": []}

    def results(self, job_id: str, batch_id: str) -> list[Any]:
        """DML: per-record results. Query: the list of result ids (one per batch here)."""
        batch = self.batch(job_id, batch_id)
        if batch.state != "Completed":
            raise BulkV1Error(
                400, "InvalidBatch", f"Batch {batch_id} is {batch.state}: {batch.state_message}"
            )
        if batch.query is not None:
            return [batch.id.replace("751", "752", 1)]
        return batch.results

    def query_result(self, job_id: str, batch_id: str, result_id: str, version: str) -> list[dict[str, Any]]:
        batch = self.batch(job_id, batch_id)
        if batch.query is None or result_id != batch.id.replace("751", "752", 1):
            raise BulkV1Error(400, "InvalidBatch", f"Unable to find result {result_id}")
        compiled = batch.query
        out = []
        for rec in batch.rows:
            rendered = compiled.render(rec, version)
            for column in compiled.columns:
                if len(column.path) == 1:
                    rendered[column.path[0]] = _epoch_ms(column.getter(rec))
            out.append(rendered)
        return out
