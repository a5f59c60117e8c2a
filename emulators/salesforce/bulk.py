"""Bulk API 2.0: query jobs (CSV results paged by ``Sforce-Locator``) and ingest jobs.

Jobs finish at once: a query job is evaluated when it is created and shows ``JobComplete`` on the
first poll; an ingest job is processed when the client sets ``UploadComplete``. Records go through
the same :class:`~emulators.salesforce.store.OrgStore` checks as REST writes, so a row fails in Bulk
exactly when the same record would fail through sObject Collections.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import logging
from dataclasses import dataclass, field
from typing import Any

from emulators.salesforce.errors import SalesforceError, not_found
from emulators.salesforce.query import QueryService
from emulators.salesforce.soql import CountAll, CountField, FieldsFn, parse
from emulators.salesforce.soql_eval import Column, Record, compile_query
from emulators.salesforce.store import OrgStore, duplicate_in_call, external_id_key, repeated_external_ids
from emulators.salesforce.values import format_datetime, now, to_csv

log = logging.getLogger(__name__)

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
DEFAULT_MAX_RECORDS = 50000
#: Salesforce splits an ingest job into internal batches of this many rows; an external id repeated
#: within one of them fails every row that has it (DUPLICATE_VALUE), across them the rows run in order
INTERNAL_BATCH_ROWS = 10_000
NULL_MARKER = "#N/A"


def _job_state_error(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALIDJOBSTATE", message)


@dataclass
class _Job:
    id: str
    operation: str
    object: str
    created_by: str
    api_version: str
    line_ending: str
    column_delimiter: str
    state: str
    created: Any = field(default_factory=now)
    modified: Any = field(default_factory=now)

    def base_info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": format_datetime(self.created),
            "systemModstamp": format_datetime(self.modified),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }

    def info(self) -> dict[str, Any]:
        return self.base_info()

    def writer(self, buffer: io.StringIO) -> Any:
        return csv.writer(
            buffer,
            delimiter=DELIMITERS[self.column_delimiter],
            lineterminator=LINE_ENDINGS[self.line_ending],
            quoting=csv.QUOTE_ALL,
        )


@dataclass
class QueryJob(_Job):
    query: str = ""
    columns: list[Column] = field(default_factory=list)
    rows: list[Record] = field(default_factory=list)
    polled: bool = False

    def info(self) -> dict[str, Any]:
        body = self.base_info()
        body.update(
            query=self.query,
            jobType="V2Query",
            numberRecordsProcessed=len(self.rows) if self.state == "JobComplete" else 0,
            retries=0,
            totalProcessingTime=1,
        )
        return body


@dataclass
class IngestJob(_Job):
    external_id_field: str | None = None
    uploads: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    error_message: str | None = None

    def info(self) -> dict[str, Any]:
        body = self.base_info()
        body.update(
            externalIdFieldName=self.external_id_field,
            jobType="V2Ingest",
            contentUrl=f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
            numberRecordsProcessed=len(self.successful) + len(self.failed),
            numberRecordsFailed=len(self.failed),
            retries=0,
            totalProcessingTime=1,
            apiActiveProcessingTime=1,
            apexProcessingTime=0,
        )
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


class BulkService:
    """Holds Bulk API 2.0 jobs (until reset) and runs them against the store."""

    def __init__(self, store: OrgStore, queries: QueryService) -> None:
        self.store = store
        self.queries = queries
        self.query_jobs: dict[str, QueryJob] = {}
        self.ingest_jobs: dict[str, IngestJob] = {}

    def clear(self) -> None:
        self.query_jobs.clear()
        self.ingest_jobs.clear()

    # --- query jobs ------------------------------------------------------------------------------

    def create_query_job(self, body: dict[str, Any], user_id: str, version: str) -> QueryJob:
        """Validate and evaluate a query job.

        :raises SalesforceError: bad operation/options, or the query's own SOQL error.
        """
        operation = body.get("operation", "query")
        if operation not in ("query", "queryAll"):
            raise SalesforceError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        soql = body.get("query")
        if not isinstance(soql, str) or not soql.strip():
            raise SalesforceError(400, "INVALIDJOB", "InvalidJob : query is required for query jobs")
        delimiter, ending = _format_options(body)
        parsed = parse(soql)
        compiled = compile_query(
            parsed, self.store, user_id=user_id, now=dt.datetime.now(dt.UTC), api_version=version
        )
        if any(isinstance(s, (CountAll, CountField)) for s in parsed.select):
            raise SalesforceError(400, "API_ERROR", "Aggregate queries are not supported by Bulk API 2.0")
        if any(isinstance(s, FieldsFn) for s in parsed.select):
            raise SalesforceError(400, "API_ERROR", "FIELDS() is not supported by Bulk API 2.0")
        if parsed.offset is not None:
            raise SalesforceError(400, "API_ERROR", "OFFSET is not supported by Bulk API 2.0")
        if any(c.fdef.type == "address" for c in compiled.columns):
            raise SalesforceError(400, "API_ERROR", "Selecting compound data not supported in Bulk Query")
        rows = self.queries.rows(compiled, include_deleted=operation == "queryAll")
        job = QueryJob(
            self.store.id_factory.new("750"),
            operation,
            compiled.obj.name,
            user_id,
            version,
            ending,
            delimiter,
            "UploadComplete",
            query=soql,
            columns=compiled.columns,
            rows=rows,
        )
        self.query_jobs[job.id] = job
        log.info("bulk query job %s: %d rows", job.id, len(rows))
        return job

    def query_job(self, job_id: str) -> QueryJob:
        job = self.query_jobs.get(job_id)
        if job is None:
            raise not_found()
        return job

    def poll_query_job(self, job_id: str) -> QueryJob:
        job = self.query_job(job_id)
        if job.state == "UploadComplete":
            job.state = "JobComplete"
            job.modified = now()
        return job

    def query_results(
        self, job_id: str, locator: str | None, max_records: int | None
    ) -> tuple[str, str, int]:
        """One page of CSV: (body, next locator or ``"null"``, number of records).

        :raises SalesforceError: unknown job, aborted/failed job, bad locator.
        """
        job = self.query_job(job_id)
        if job.state == "UploadComplete":
            self.poll_query_job(job_id)
        if job.state != "JobComplete":
            raise SalesforceError(
                400, "INVALIDJOBSTATE", f"Job is in state {job.state}; results need JobComplete"
            )
        offset = _decode_locator(locator) if locator else 0
        if offset > len(job.rows):
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        size = max_records if max_records and max_records > 0 else DEFAULT_MAX_RECORDS
        chunk = job.rows[offset : offset + size]
        buffer = io.StringIO()
        writer = job.writer(buffer)
        writer.writerow([c.header for c in job.columns])
        for rec in chunk:
            writer.writerow([to_csv(c.fdef, c.getter(rec)) for c in job.columns])
        end = offset + len(chunk)
        next_locator = _encode_locator(end) if end < len(job.rows) else "null"
        return buffer.getvalue(), next_locator, len(chunk)

    # --- ingest jobs -----------------------------------------------------------------------------

    def create_ingest_job(self, body: dict[str, Any], user_id: str, version: str) -> IngestJob:
        operation = body.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise SalesforceError(
                400,
                "INVALIDJOB",
                f"InvalidJob : Invalid operation: {operation}; use one of {sorted(INGEST_OPERATIONS)}",
            )
        obj = self.store.object_def(str(body.get("object", "")))
        if obj is None:
            raise SalesforceError(400, "INVALIDJOB", f"InvalidJob : Invalid object: {body.get('object')}")
        if body.get("contentType", "CSV") != "CSV":
            raise SalesforceError(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
        ext = body.get("externalIdFieldName")
        if operation == "upsert":
            if not isinstance(ext, str) or not ext:
                raise SalesforceError(
                    400, "INVALIDJOB", "InvalidJob : externalIdFieldName is required for an upsert job"
                )
            fdef = obj.get_field(ext)
            if fdef is None or not (fdef.externalId or fdef.idLookup):
                raise SalesforceError(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {ext} is not an External ID or indexed field "
                    f"for {obj.name}",
                )
            ext = fdef.name
        delimiter, ending = _format_options(body)
        job = IngestJob(
            self.store.id_factory.new("750"),
            operation,
            obj.name,
            user_id,
            version,
            ending,
            delimiter,
            "Open",
            external_id_field=ext if operation == "upsert" else None,
        )
        self.ingest_jobs[job.id] = job
        return job

    def ingest_job(self, job_id: str) -> IngestJob:
        job = self.ingest_jobs.get(job_id)
        if job is None:
            raise not_found()
        return job

    def upload(self, job_id: str, data: str) -> None:
        job = self.ingest_job(job_id)
        if job.state != "Open":
            raise _job_state_error(f"Job {job_id} is {job.state}; data can only be uploaded to an Open job")
        if job.uploads:
            raise SalesforceError(
                400, "INVALIDJOBSTATE", "Only one upload per job is allowed; create another job for more data"
            )
        job.uploads.append(data)

    def set_state(self, job_id: str, state: str, *, ingest: bool) -> _Job:
        """``UploadComplete`` (ingest: process now) or ``Aborted``."""
        job: _Job = self.ingest_job(job_id) if ingest else self.query_job(job_id)
        if state == "Aborted":
            if job.state in ("JobComplete", "Failed", "Aborted"):
                raise _job_state_error(f"Aborting already {job.state} Job not allowed")
            job.state = "Aborted"
        elif state == "UploadComplete" and isinstance(job, IngestJob):
            if job.state != "Open":
                raise _job_state_error(f"Job {job_id} is {job.state}; only an Open job can be closed")
            job.state = "UploadComplete"
        else:
            raise SalesforceError(
                400, "INVALIDJOBSTATE", f"Changing the job state to {state!r} is not allowed"
            )
        job.modified = now()
        return job

    def process(self, job: IngestJob, allow_duplicates: bool = False) -> None:
        """Apply an uploaded ingest job's rows; per-row failures go to ``failedResults``."""
        if not job.uploads:
            job.state, job.error_message = "Failed", "InvalidBatch : No content in the job data"
            return
        reader = csv.reader(io.StringIO(job.uploads[0]), delimiter=DELIMITERS[job.column_delimiter])
        try:
            header = next(reader)
        except StopIteration:
            job.state, job.error_message = "Failed", "InvalidBatch : No content in the job data"
            return
        job.header = header
        obj = self.store.schema[job.object.lower()]
        for name in header:
            if obj.get_field(name) is None:
                job.state, job.error_message = "Failed", f"InvalidBatch : Field name not found : {name}"
                return
        if job.operation in ("update", "delete", "hardDelete") and not any(h.lower() == "id" for h in header):
            job.state, job.error_message = "Failed", "InvalidBatch : Field name not found : Id"
            return
        ext_column = None
        if job.operation == "upsert":
            ext = (job.external_id_field or "Id").lower()
            ext_column = next((i for i, h in enumerate(header) if h.lower() == ext), None)
            if ext_column is None:
                job.state, job.error_message = (
                    "Failed",
                    f"InvalidBatch : Field name not found : {job.external_id_field}",
                )
                return
        rows = list(reader)
        for start in range(0, len(rows), INTERNAL_BATCH_ROWS):
            chunk = rows[start : start + INTERNAL_BATCH_ROWS]
            repeated: set[Any] = set()
            ext_fdef = obj.get_field(job.external_id_field or "Id")
            if ext_column is not None and ext_fdef is not None:
                repeated = repeated_external_ids(
                    ext_fdef,
                    (r[ext_column] for r in chunk if len(r) == len(header) and r[ext_column] != NULL_MARKER),
                )
            for row in chunk:
                self._apply_row(job, obj, header, row, allow_duplicates, repeated)
        job.state = "JobComplete"
        job.modified = now()
        log.info(
            "bulk ingest job %s (%s %s): %d ok, %d failed",
            job.id,
            job.operation,
            job.object,
            len(job.successful),
            len(job.failed),
        )

    def _apply_row(
        self,
        job: IngestJob,
        obj: Any,
        header: list[str],
        row: list[str],
        allow_duplicates: bool,
        repeated: set[Any],
    ) -> None:
        store = self.store
        if len(row) != len(header):
            job.failed.append(
                ["", "INVALID_FIELD:Row has a different number of columns than the header: --", *row]
            )
            return
        values = {
            name: (None if value == NULL_MARKER else value)
            for name, value in zip(header, row, strict=True)
            if value != ""
        }
        record_id = next((v for k, v in values.items() if k.lower() == "id"), None)
        data = {k: v for k, v in values.items() if k.lower() != "id"}
        try:
            created = False
            if job.operation == "insert":
                rec = store.create(
                    obj, values, job.created_by, allow_duplicates=allow_duplicates, from_csv=True
                )
                created = True
            elif job.operation == "update":
                if not record_id:
                    raise SalesforceError(
                        400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                    )
                rec = store.update(obj, record_id, data, job.created_by, from_csv=True)
            elif job.operation == "upsert":
                ext = job.external_id_field or "Id"
                key = next((v for k, v in values.items() if k.lower() == ext.lower()), None)
                ext_fdef = obj.get_field(ext)
                if repeated and ext_fdef is not None and external_id_key(ext_fdef, key) in repeated:
                    raise duplicate_in_call(ext_fdef, key)
                body = {k: v for k, v in values.items() if k.lower() != ext.lower()}
                rec, created = store.upsert(obj, ext, key, body, job.created_by, from_csv=True)
            elif job.operation == "delete":
                rec = store.delete(obj, record_id or "", job.created_by)
            else:
                rec = store.hard_delete(obj, record_id or "", job.created_by)
        except SalesforceError as exc:
            fields = ",".join(exc.fields or [])
            job.failed.append([record_id or "", f"{exc.code}:{exc.message}:{fields} --", *row])
            return
        job.successful.append([rec["Id"], "true" if created else "false", *row])

    def ingest_results(self, job_id: str, kind: str) -> str:
        """``successfulResults`` / ``failedResults`` / ``unprocessedrecords`` as CSV."""
        job = self.ingest_job(job_id)
        buffer = io.StringIO()
        writer = job.writer(buffer)
        header = job.header
        if kind == "successfulresults":
            writer.writerow(["sf__Id", "sf__Created", *header])
            writer.writerows(job.successful)
        elif kind == "failedresults":
            writer.writerow(["sf__Id", "sf__Error", *header])
            writer.writerows(job.failed)
        else:
            if job.state in ("Open", "Aborted", "Failed") and job.uploads:
                reader = csv.reader(io.StringIO(job.uploads[0]), delimiter=DELIMITERS[job.column_delimiter])
                rows = list(reader)
                writer.writerows(rows)
            elif header:
                writer.writerow(header)
        return buffer.getvalue()

    def delete_job(self, job_id: str, *, ingest: bool) -> None:
        jobs: dict[str, Any] = self.ingest_jobs if ingest else self.query_jobs
        if jobs.pop(job_id, None) is None:
            raise not_found()


def _format_options(body: dict[str, Any]) -> tuple[str, str]:
    delimiter = body.get("columnDelimiter", "COMMA")
    ending = body.get("lineEnding", "LF")
    if delimiter not in DELIMITERS:
        raise SalesforceError(
            400, "INVALIDJOB", f"InvalidJob : columnDelimiter must be one of {sorted(DELIMITERS)}"
        )
    if ending not in LINE_ENDINGS:
        raise SalesforceError(400, "INVALIDJOB", "InvalidJob : lineEnding must be LF or CRLF")
    return delimiter, ending


def _encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _decode_locator(locator: str) -> int:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4)).decode()
        return int(text)
    except ValueError:
        raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator") from None
