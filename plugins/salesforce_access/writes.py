"""Writing records: sObject Collections in chunks of 200, Bulk API 2.0 above a size threshold, and per-record
results in input order either way.

Why both: a Collections request is one API call for up to 200 records and answers synchronously, in
request order; above ~2,000 records Salesforce recommends Bulk 2.0 (a handful of calls for any size), but
its result files are CSV and **not ordered**. :func:`match_bulk_results` maps them back to the input:

* update / delete - by record ``Id`` (every input row carries it, every result row echoes it);
* upsert - by the external id the records are upserted on (every row carries it, results echo it);
* insert - by content. Result rows echo the uploaded columns verbatim, so each input row's column values
  (as the CSV strings we sent) form its key. A custom correlation column is not possible: Bulk 2.0
  rejects columns that are not fields of the object, and not every org has a spare external-id field.
  Rows with identical content are interchangeable - they would create identical records - so equal keys
  are handed out in input order. An input row no result mentions is reported as failed
  (``BULK_RESULT_MISSING``) rather than guessed.

Records that fail with a transient per-record error (``UNABLE_TO_LOCK_ROW``, ``API_TEMPORARILY_UNAVAILABLE``)
are sent again, only those, a couple of times; a failed record was not written, so re-sending it cannot
duplicate anything.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol, TypedDict

from salesforce_access.errors import TRANSIENT_RECORD_ERRORS, SalesforceRequestError
from salesforce_access.soql import check_record_id, chunked

log = logging.getLogger(__name__)

WriteOp = Literal["insert", "update", "delete", "upsert"]
#: A value we can send: what a Salesforce field holds in JSON.
FieldValue = str | int | float | bool | None
Record = Mapping[str, FieldValue]

#: sObject Collections accept at most 200 records per request.
COLLECTION_LIMIT = 200
#: Bulk 2.0 CSV: an empty cell means "leave unchanged" on update; ``#N/A`` sets the field to null.
BULK_NULL = "#N/A"


class RecordError(TypedDict):
    """One per-record error, in Salesforce's own shape (``statusCode``, not the top-level ``errorCode``)."""

    statusCode: str
    message: str
    fields: list[str]


@dataclass(frozen=True)
class WriteResult:
    """The outcome for one input record.

    :param index: position of the record in the list given to create/update/delete.
    :param id: the record's Id (new Id for a successful insert; the input Id for update/delete).
    """

    index: int
    id: str | None
    success: bool
    errors: list[RecordError] = field(default_factory=list)
    #: upsert only: True when the record was created, False when an existing one was updated.
    created: bool | None = None

    @property
    def transient(self) -> bool:
        """Failed only with errors that usually pass on a retry."""
        return (
            not self.success
            and bool(self.errors)
            and all(e["statusCode"] in TRANSIENT_RECORD_ERRORS for e in self.errors)
        )


class BulkOutcome(NamedTuple):
    """The three result files of a Bulk 2.0 ingest job (all jobs concatenated), as CSV text."""

    successful: list[str]
    failed: list[str]
    unprocessed: list[str]


class WriteTransport(Protocol):
    """The two ways of sending records; :class:`~salesforce_access.access.SalesforceAccess` provides them."""

    def collections(
        self, op: WriteOp, sobject: str | None, records: Sequence[Record], **upsert: str
    ) -> list[Mapping[str, object]]:
        """Send at most 200 records (or ids for delete) in one Collections request; raw results in order.
        An upsert passes ``external_id=<field>``."""
        ...

    def bulk2(self, op: WriteOp, sobject: str, rows: Sequence[Mapping[str, str]], **upsert: str) -> BulkOutcome:
        """Run one Bulk 2.0 ingest job over CSV-ready rows and return its result files (an upsert passes
        ``external_id=<field>``)."""
        ...


# ---------------------------------------------------------------------------------------------- Collections


class CollectionRequest(TypedDict, total=False):
    """The keyword arguments of ``Salesforce.restful`` for one Collections request."""

    method: str
    params: dict[str, str]
    json: dict[str, object]


def collection_request(op: WriteOp, sobject: str | None, records: Sequence[Record]) -> CollectionRequest:
    """The keyword arguments of ``sf.restful("composite/sobjects", ...)`` for one chunk.

    ``allOrNone`` is false: one bad record must not roll back 199 good ones; each gets its own result.
    """
    if len(records) > COLLECTION_LIMIT:
        raise ValueError(
            f"a Collections request takes at most {COLLECTION_LIMIT} records, got {len(records)}"
        )
    if op == "delete":
        ids = ",".join(str(r["Id"]) for r in records)
        return {"method": "DELETE", "params": {"ids": ids, "allOrNone": "false"}}
    if sobject is None:
        raise ValueError(f"{op} needs the object name")
    body = [{"attributes": {"type": sobject}, **dict(r)} for r in records]
    return {"method": "POST" if op == "insert" else "PATCH", "json": {"allOrNone": False, "records": body}}


def collection_path(op: WriteOp, sobject: str | None, external_id: str | None = None) -> str:
    """The Collections resource: ``composite/sobjects``, or ``composite/sobjects/<object>/<field>`` for an
    upsert on an external id field."""
    if op != "upsert":
        return "composite/sobjects"
    if not sobject or not external_id:
        raise ValueError("an upsert needs the object and its external id field")
    return f"composite/sobjects/{sobject}/{external_id}"


def parse_collection_results(
    raw: Sequence[Mapping[str, object]], indices: Sequence[int], records: Sequence[Record]
) -> list[WriteResult]:
    """Per-record results (in request order, as Collections returns them) tagged with input indices."""
    if len(raw) != len(indices):
        raise SalesforceRequestError(
            f"Salesforce returned {len(raw)} results for {len(indices)} records; cannot tell which record "
            "each result belongs to. This is a Salesforce-side problem - retry the run."
        )
    results = []
    for item, index, record in zip(raw, indices, records, strict=True):
        success = bool(item.get("success"))
        record_id = item.get("id") or record.get("Id")
        errors = [_record_error(e) for e in _as_list(item.get("errors")) if isinstance(e, Mapping)]
        created = item.get("created")
        results.append(WriteResult(index, str(record_id) if record_id else None, success, errors,
                                   created if isinstance(created, bool) and success else None))
    return results


def _record_error(raw: Mapping[str, object]) -> RecordError:
    return RecordError(
        statusCode=str(raw.get("statusCode") or raw.get("errorCode") or "UNKNOWN_ERROR"),
        message=str(raw.get("message") or ""),
        fields=[str(f) for f in _as_list(raw.get("fields"))],
    )


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


# ----------------------------------------------------------------------------------------------- Bulk 2.0


def bulk_rows(op: WriteOp, records: Sequence[Record]) -> list[dict[str, str]]:
    """Records as the CSV strings Bulk 2.0 receives - which are also the keys its results echo back.

    ``None`` becomes ``#N/A`` on update (null the field, as ``null`` does in Collections) and an empty cell
    on insert; booleans become ``true``/``false``. Every row gets every column (empty = not set).
    """
    columns = sorted({name for r in records for name in r}, key=lambda c: (c != "Id", c))
    null = BULK_NULL if op in ("update", "upsert") else ""
    rows = []
    for record in records:
        row = {}
        for column in columns:
            value = record.get(column)
            if column not in record:
                row[column] = ""
            elif value is None:
                row[column] = null
            elif isinstance(value, bool):
                row[column] = "true" if value else "false"
            else:
                row[column] = str(value)
        rows.append(row)
    return rows


def parse_bulk_error(text: str) -> RecordError:
    """Parse ``sf__Error`` (``CODE:message:Field1,Field2 --``) into a :class:`RecordError`."""
    text = (text or "").strip()
    code, _, rest = text.partition(":")
    fields: list[str] = []
    if rest.endswith("--"):
        body = rest[:-2].rstrip()
        message, sep, field_part = body.rpartition(":")
        if sep:
            fields = [f.strip() for f in field_part.split(",") if f.strip()]
        else:
            message = body
    else:
        message = rest
    return RecordError(statusCode=code.strip() or "UNKNOWN_ERROR", message=message.strip(), fields=fields)


def _csv_rows(texts: Sequence[str]) -> Iterator[dict[str, str]]:
    for text in texts:
        if text and text.strip():
            yield from csv.DictReader(io.StringIO(text, newline=""))


def match_bulk_results(
    op: WriteOp, rows: Sequence[Mapping[str, str]], indices: Sequence[int], outcome: BulkOutcome,
    external_id: str | None = None,
) -> list[WriteResult]:
    """Map unordered Bulk 2.0 result rows back to the input rows (see the module docstring for how)."""
    columns = list(rows[0]) if rows else []

    def key(row: Mapping[str, str]) -> tuple[str, ...]:
        if op in ("update", "delete"):
            return ((row.get("Id") or "")[:15],)
        if op == "upsert" and external_id:
            return ((row.get(external_id) or "").casefold(),)
        return tuple(row.get(c, "") for c in columns)

    pending: dict[tuple[str, ...], deque[int]] = defaultdict(deque)
    for position, row in enumerate(rows):
        pending[key(row)].append(position)
    results: dict[int, WriteResult] = {}

    def claim(row: Mapping[str, str]) -> int | None:
        queue = pending.get(key(row))
        return queue.popleft() if queue else None

    for row in _csv_rows(outcome.successful):
        claimed = claim(row)
        if claimed is not None:
            created = (row.get("sf__Created") or "").lower() == "true" if op == "upsert" else None
            results[claimed] = WriteResult(indices[claimed], row.get("sf__Id") or row.get("Id"), True,
                                           created=created)
    for row in _csv_rows(outcome.failed):
        claimed = claim(row)
        if claimed is not None:
            record_id = row.get("sf__Id") or rows[claimed].get("Id") or None
            results[claimed] = WriteResult(
                indices[claimed], record_id, False, [parse_bulk_error(row.get("sf__Error", ""))]
            )
    for row in _csv_rows(outcome.unprocessed):
        claimed = claim(row)
        if claimed is not None:
            results[claimed] = WriteResult(
                indices[claimed],
                rows[claimed].get("Id") or None,
                False,
                [
                    RecordError(
                        statusCode="UNPROCESSED",
                        message="the Bulk job ended before processing this record",
                        fields=[],
                    )
                ],
            )
    missing = [p for p in range(len(rows)) if p not in results]
    for position in missing:
        results[position] = WriteResult(
            indices[position],
            rows[position].get("Id") or None,
            False,
            [
                RecordError(
                    statusCode="BULK_RESULT_MISSING",
                    message="no Bulk 2.0 result row matched this record; check the job in Salesforce Setup",
                    fields=[],
                )
            ],
        )
    if missing:
        log.warning("%d record(s) had no matching Bulk 2.0 result row", len(missing))
    return [results[p] for p in range(len(rows))]


# --------------------------------------------------------------------------------------------- orchestration


class RecordWriter:
    """Chunks, routes (Collections or Bulk 2.0) and retries transient per-record failures.

    :param transport: sends the requests (counting, auth and HTTP retries live there).
    :param bulk_threshold: more records than this in one call go through Bulk 2.0.
    :param transient_retries: how many times records with transient errors are re-sent.
    :param retry_pause: seconds before the first re-send (doubles each round); a locked row needs a moment.
    """

    def __init__(
        self,
        transport: WriteTransport,
        bulk_threshold: int = 2000,
        transient_retries: int = 2,
        retry_pause: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = transport
        self.bulk_threshold = bulk_threshold
        self.transient_retries = transient_retries
        self.retry_pause = retry_pause
        self._sleep = sleep
        #: The external id field of the write in progress (an upsert), else None.
        self._external_id: str | None = None

    def iter_write(
        self, op: WriteOp, sobject: str | None, records: Sequence[Record], external_id: str | None = None
    ) -> Iterator[list[WriteResult]]:
        """Write *records*, yielding each chunk's results as soon as it is final (to checkpoint per chunk).

        Bulk 2.0 (when ``len(records) > bulk_threshold`` and the object is known) yields once at the end.

        :param external_id: the field an ``upsert`` matches on (required for it, refused otherwise).
        """
        _validate(op, records, external_id)
        self._external_id = external_id
        if sobject is not None and len(records) > self.bulk_threshold:
            yield self._with_retries(op, sobject, list(range(len(records))), records, self._bulk)
            return
        for start in range(0, len(records), COLLECTION_LIMIT):
            indices = list(range(start, min(start + COLLECTION_LIMIT, len(records))))
            yield self._with_retries(op, sobject, indices, records, self._collections)

    def write(
        self, op: WriteOp, sobject: str | None, records: Sequence[Record], external_id: str | None = None
    ) -> list[WriteResult]:
        """All results, in input order."""
        return [result for chunk in self.iter_write(op, sobject, records, external_id) for result in chunk]

    def _with_retries(
        self,
        op: WriteOp,
        sobject: str | None,
        indices: list[int],
        records: Sequence[Record],
        send: Callable[[WriteOp, str | None, list[int], Sequence[Record]], list[WriteResult]],
    ) -> list[WriteResult]:
        results = {r.index: r for r in send(op, sobject, indices, records)}
        pause = self.retry_pause
        for attempt in range(1, self.transient_retries + 1):
            again = [i for i in indices if results[i].transient]
            if not again:
                break
            log.info(
                "re-sending %d record(s) with transient errors (attempt %d of %d)",
                len(again),
                attempt,
                self.transient_retries,
            )
            self._sleep(pause)
            pause *= 2
            sender = (
                self._bulk if sobject is not None and len(again) > self.bulk_threshold else self._collections
            )
            for result in sender(op, sobject, again, records):
                results[result.index] = result
        return [results[i] for i in indices]

    def _collections(
        self, op: WriteOp, sobject: str | None, indices: list[int], records: Sequence[Record]
    ) -> list[WriteResult]:
        out: list[WriteResult] = []
        for part in chunked(indices, COLLECTION_LIMIT):
            chunk = [records[i] for i in part]
            raw = self.transport.collections(op, sobject, chunk, **self._upsert_key())
            out.extend(parse_collection_results(raw, part, chunk))
        failed = sum(not r.success for r in out)
        log.info("%s %s via Collections: %d record(s), %d failed", op, sobject or "records", len(out), failed)
        return out

    def _bulk(
        self, op: WriteOp, sobject: str | None, indices: list[int], records: Sequence[Record]
    ) -> list[WriteResult]:
        if sobject is None:
            raise ValueError(f"Bulk 2.0 {op} needs the object name")
        rows = bulk_rows(op, [records[i] for i in indices])
        outcome = self.transport.bulk2(op, sobject, rows, **self._upsert_key())
        out = match_bulk_results(op, rows, indices, outcome, self._external_id)
        failed = sum(not r.success for r in out)
        log.info("%s %s via Bulk 2.0: %d record(s), %d failed", op, sobject, len(out), failed)
        return out


    def _upsert_key(self) -> dict[str, str]:
        """The transport's keyword for an upsert (none for the other operations: older transports lack it)."""
        return {"external_id": self._external_id} if self._external_id else {}


def _validate(op: WriteOp, records: Sequence[Record], external_id: str | None = None) -> None:
    """Refuse malformed input before any call: Salesforce would reject it after spending API calls."""
    if op not in ("insert", "update", "delete", "upsert"):
        raise ValueError(f"unknown write operation {op!r}")
    if (op == "upsert") != bool(external_id):
        raise ValueError("an upsert needs its external id field, and only an upsert takes one")
    for position, record in enumerate(records):
        if op == "upsert":
            if "Id" in record:
                raise ValueError(f"record {position}: an upsert on {external_id} must not carry an Id")
            if not record.get(str(external_id)):
                raise ValueError(f"record {position}: an upsert needs a value of {external_id}")
            continue
        has_id = bool(record.get("Id"))
        if op == "insert" and ("Id" in record or "id" in record):
            raise ValueError(f"record {position}: an insert must not carry an Id")
        if op in ("update", "delete"):
            if not has_id:
                raise ValueError(f"record {position}: {op} needs the record Id")
            check_record_id(str(record["Id"]))
        if op == "delete" and set(record) != {"Id"}:
            raise ValueError(f"record {position}: a delete takes only the Id")
