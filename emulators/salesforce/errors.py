"""Salesforce-shaped errors.

The REST API answers every failure with a JSON *array* of ``{"message", "errorCode"[, "fields"]}``;
per-record results inside sObject Collections use ``statusCode`` instead of ``errorCode``. Clients
(simple-salesforce reads ``json()[0]["errorCode"]``) depend on both shapes, so every error in the
emulator is a :class:`SalesforceError` and is rendered in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOT_FOUND_MESSAGE = "The requested resource does not exist"
ROLLED_BACK_MESSAGE = (
    "Record rolled back because not all records were valid and the request was using AllOrNone header"
)


@dataclass
class SalesforceError(Exception):
    """One API error.

    :param status: HTTP status when raised out of a request (per-record errors ignore it).
    :param code: Salesforce error code, e.g. ``REQUIRED_FIELD_MISSING``.
    :param message: the human text Salesforce gives.
    :param fields: field names the error is about (sent only when not None).
    :param extra: more keys the real error carries (e.g. ``duplicateResult``).
    :param context: facts for the route that renders the error, never sent (e.g. the ``matches`` of
        an upsert whose external id matched several records, for the REST 300 body).
    """

    status: int
    code: str
    message: str
    fields: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def rest_body(self) -> list[dict[str, Any]]:
        """The top-level REST body: ``[{"message", "errorCode", ...}]``."""
        body: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            body["fields"] = list(self.fields)
        body.update(self.extra)
        return [body]

    def record_error(self) -> dict[str, Any]:
        """One entry of a per-record ``errors`` list (sObject Collections, Bulk results)."""
        body: dict[str, Any] = {
            "statusCode": self.code,
            "message": self.message,
            "fields": list(self.fields or []),
        }
        body.update(self.extra)
        return body


def not_found(message: str = NOT_FOUND_MESSAGE) -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", message)


def converted_lead() -> SalesforceError:
    """What any update of a converted Lead gets (REST 400, or the per-record error)."""
    return SalesforceError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])


def invalid_session() -> SalesforceError:
    return SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def json_parser_error(message: str) -> SalesforceError:
    return SalesforceError(400, "JSON_PARSER_ERROR", message)


#: what an injected failure (``FaultConfig.error_rates`` / ``fail_next``) looks like, by status
_INJECTED: dict[int, tuple[str, str]] = {
    400: ("INVALID_INPUT", "Bad request (injected by the emulator)"),
    401: ("INVALID_SESSION_ID", "Session expired or invalid"),
    403: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    404: ("NOT_FOUND", NOT_FOUND_MESSAGE),
    409: ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records"),
    429: ("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
    500: (
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact "
        "support: 1234567890-12345 (-1234567890)",
    ),
    502: ("SERVER_UNAVAILABLE", "Bad gateway"),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable, please retry later"),
    504: ("SERVER_UNAVAILABLE", "Gateway timeout"),
}


def injected_error_body(status: int) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The body and headers of an injected failure, shaped like the real one for that status."""
    code, message = _INJECTED.get(status, ("UNKNOWN_EXCEPTION", f"Injected failure with HTTP {status}"))
    headers = {"Retry-After": "1"} if status in (429, 503) else {}
    return [{"message": message, "errorCode": code}], headers
