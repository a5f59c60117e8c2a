"""Typed Salesforce failures, classified once at the boundary so callers can decide what to do.

simple-salesforce raises one exception class per HTTP status whose text is the raw URL and body. The DAG
needs to know something else: retry later (transient), stop early and report ``partial`` (budget), fix the
connection (auth), fix the configuration (unknown list view), or fall back to a full read (the delete log no
longer reaches back far enough). Each class below answers one of those questions and its message says how to
fix the problem. Messages never carry credentials: :func:`classify` builds them from status codes and
Salesforce error codes, not from request data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
)

#: Per-record error codes that mean "try this record again shortly" (the provider's bulk operator uses
#: the same set for its retries).
TRANSIENT_RECORD_ERRORS = frozenset({"UNABLE_TO_LOCK_ROW", "API_TEMPORARILY_UNAVAILABLE"})

#: HTTP statuses worth retrying on reads: overload and server-side failures.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class SalesforceAccessError(Exception):
    """Base class of every error raised by :mod:`salesforce_access`."""


class SalesforceAuthError(SalesforceAccessError):
    """Login was refused: the connection's credentials are wrong, expired or locked."""


class SessionExpiredError(SalesforceAccessError):
    """A session id handed to the hook expired; there are no credentials to log in again with."""


class TransientSalesforceError(SalesforceAccessError):
    """Salesforce (or the network) failed in a way that usually passes; retries were used up."""


class SalesforceRequestError(SalesforceAccessError):
    """Salesforce rejected a request (4xx other than auth/limits). Retrying will not help.

    :param status: HTTP status.
    :param error_code: Salesforce ``errorCode`` (e.g. ``MALFORMED_QUERY``, ``INVALID_FIELD``), if any.
    """

    def __init__(self, message: str, status: int | None = None, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class BudgetExhausted(SalesforceAccessError):
    """The org's daily API allocation is (nearly) used up: stop early and report the run as partial.

    :param used: API requests used in the rolling 24 h window, when known.
    :param limit: the org's daily maximum, when known.
    :param min_remaining: what the caller wanted to keep in reserve.
    """

    def __init__(
        self,
        message: str,
        used: int | None = None,
        limit: int | None = None,
        min_remaining: int | None = None,
    ) -> None:
        super().__init__(message)
        self.used = used
        self.limit = limit
        self.min_remaining = min_remaining


class ListViewError(SalesforceAccessError):
    """A configured list view cannot be used (a user/configuration error, not a Salesforce failure)."""


class ListViewNotFound(ListViewError):
    """No list view with that id or developer name exists on the object."""


class ListViewNotQueryable(ListViewError):
    """The list view's filter cannot be expressed in SOQL (``soqlCompatible`` is false)."""


class SoqlRewriteError(SalesforceAccessError):
    """A list view's query could not be split into its clauses safely."""


class FullResyncRequired(SalesforceAccessError):
    """The delete log no longer covers the requested window: deletes since then may be invisible.

    :param start: the window start that was asked for.
    :param earliest_available: the oldest date Salesforce still has delete information for.
    """

    def __init__(self, message: str, start: datetime, earliest_available: datetime) -> None:
        super().__init__(message)
        self.start = start
        self.earliest_available = earliest_available


class BulkJobError(SalesforceAccessError):
    """A Bulk API 2.0 job failed or was aborted as a whole (no per-record results)."""


def error_codes(exc: SalesforceError) -> list[str]:
    """The ``errorCode`` values in a REST error body (a JSON list of ``{message, errorCode}``)."""
    content = exc.content
    if isinstance(content, list):
        return [
            str(item.get("errorCode")) for item in content if isinstance(item, dict) and "errorCode" in item
        ]
    if isinstance(content, dict) and "errorCode" in content:
        return [str(content["errorCode"])]
    return []


def error_messages(exc: SalesforceError) -> list[str]:
    """The ``message`` values in a REST error body."""
    content = exc.content
    items: Iterable[object] = content if isinstance(content, list) else [content]
    return [str(item["message"]) for item in items if isinstance(item, dict) and "message" in item]


def is_concurrency_limit(exc: SalesforceError) -> bool:
    """``REQUEST_LIMIT_EXCEEDED`` for too many long-running requests at once, not for the daily budget.

    Salesforce uses one error code for both; the message names the limit (``ConcurrentPerOrgLongTxn``
    vs ``TotalRequests``). The concurrent one clears within seconds.
    """
    return "REQUEST_LIMIT_EXCEEDED" in error_codes(exc) and any(
        "concurrent" in m.lower() for m in error_messages(exc)
    )


def is_refused_transiently(exc: BaseException) -> bool:
    """Salesforce said it did not perform the request and a retry may work (lock, concurrency, 429).

    Unlike a 5xx or a lost connection, these prove nothing was written, so even a create may be re-sent.
    """
    if not isinstance(exc, SalesforceError) or isinstance(exc, SalesforceAuthenticationFailed):
        return False
    return (
        exc.status == 429
        or is_concurrency_limit(exc)
        or bool(TRANSIENT_RECORD_ERRORS & set(error_codes(exc)))
    )


def is_transient(exc: BaseException) -> bool:
    """Whether a raw failure is worth retrying: 429/5xx answers, lock/concurrency refusals, network errors."""
    if isinstance(exc, SalesforceAuthenticationFailed):
        return isinstance(exc.code, int) and exc.code in TRANSIENT_STATUSES
    if isinstance(exc, SalesforceError):
        return exc.status in TRANSIENT_STATUSES or is_refused_transiently(exc)
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def classify(exc: BaseException, action: str) -> SalesforceAccessError:
    """Turn a simple-salesforce / requests failure into the typed error the caller acts on.

    :param exc: the raw exception.
    :param action: what we were doing, for the message (e.g. ``"query Contact"``); never request data.
    """
    if isinstance(exc, SalesforceAccessError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        if is_transient(exc):
            return TransientSalesforceError(
                f"Salesforce login failed with HTTP {exc.code} while trying to {action}; this is usually "
                "temporary (Airflow retries the task if it has retries left)."
            )
        return SalesforceAuthError(
            f"Salesforce login was refused ({exc.code}) while trying to {action}. Check the salesforce "
            "connection's username, password and security token (or consumer key/secret, private key and "
            "domain for OAuth/JWT), and that the user is not locked out."
        )
    if isinstance(exc, SalesforceExpiredSession):
        return SessionExpiredError(
            f"The Salesforce session expired or is invalid while trying to {action}. The hook was given a "
            "session id directly, so it cannot log in again: pass a fresh session id, or use a connection "
            "with login credentials (password + security token, OAuth or JWT) so expired sessions renew."
        )
    if isinstance(exc, SalesforceError):
        codes = error_codes(exc)
        detail = "; ".join(cause_first(m, c) for c, m in zip(codes, error_messages(exc), strict=False)) or str(
            exc.status
        )
        if "REQUEST_LIMIT_EXCEEDED" in codes and not is_concurrency_limit(exc):
            return BudgetExhausted(
                f"Salesforce refused to {action}: the org's daily API request limit is exceeded "
                "(REQUEST_LIMIT_EXCEEDED). The allocation is a rolling 24 h window shared by every "
                "integration; wait for it to recover or ask Salesforce for a larger allocation."
            )
        if is_transient(exc):
            return TransientSalesforceError(
                f"Salesforce answered HTTP {exc.status} while trying to {action} ({detail}); this is "
                "usually temporary (Airflow retries the task if it has retries left)."
            )
        hint = _hint(exc, codes)
        return SalesforceRequestError(
            f"Salesforce rejected the request to {action}: {detail} (HTTP {exc.status}).{hint}",
            status=exc.status,
            error_code=codes[0] if codes else None,
        )
    if isinstance(exc, requests.RequestException):
        return TransientSalesforceError(
            f"Could not reach Salesforce to {action} ({type(exc).__name__}); check the network and the "
            "connection's domain/instance (Airflow retries the task if it has retries left)."
        )
    raise TypeError(f"not a Salesforce failure: {type(exc).__name__}") from exc


#: A query quoted in an error is cut to this many characters, so that the cause stays in view.
QUERY_CHARS = 80
_POSITION = re.compile(r"^ERROR at Row:(\d+):Column:(\d+)")


def cause_first(message: str, code: str | None = None) -> str:
    """A Salesforce error message with its cause first and any quoted query cut short.

    Query errors come as ``"\\n<the query>\\n<caret>\\nERROR at Row:1:Column:80\\n<cause>"``; a long query
    pushed the cause (``invalid ID field: ...``) out of sight of anyone reading the run's Why line. Becomes
    ``"invalid ID field: ... (INVALID_QUERY_FILTER_OPERATOR at row 1, column 80 of: SELECT Id, ... …)"``.
    """
    lines = [line for line in str(message or "").splitlines() if line.strip()]
    found = next(((i, m) for i, line in enumerate(lines) if (m := _POSITION.match(line.strip()))), None)
    if found is None:
        text = " ".join(" ".join(lines).split())
        return f"{code}: {text}" if code else text
    marker, position = found
    cause = " ".join(" ".join(lines[marker + 1:]).split()) or "the query is not valid"
    row, column = position.groups()
    query = " ".join(lines[0].split()) if marker > 0 and lines[0].strip().upper().startswith("SELECT") else ""
    if len(query) > QUERY_CHARS:
        query = query[:QUERY_CHARS].rstrip() + " …"
    where = f"{code} at row {row}, column {column}" if code else f"at row {row}, column {column}"
    return f"{cause} ({where}" + (f" of: {query})" if query else ")")


def _hint(exc: SalesforceError, codes: list[str]) -> str:
    if "INVALID_FIELD" in codes or "INVALID_TYPE" in codes:
        return " Check the field and object names in the mapping configuration against describe."
    if "MALFORMED_QUERY" in codes:
        return " The SOQL is not valid; check list view filters and configured field names."
    if isinstance(exc, SalesforceRefusedRequest):
        return " The integration user lacks a permission for this; check its profile and permission sets."
    if exc.status == 404:
        return " The object, record or resource does not exist (or the user cannot see it)."
    return ""
