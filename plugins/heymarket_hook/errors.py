"""Typed Heymarket API failures.

Every HTTP outcome is classified once, at the hook's boundary, so callers (operators, Airflow retry
policies) can act on the type instead of parsing strings: rate limits, server errors and network
failures are retriable; a bad credential or a bad request is not and says what to fix.

Messages carry the endpoint template, the status, Heymarket's error name and request id (the id is
what Heymarket support asks for), never a credential: the hook scrubs the server's message of any
secret it knows before building the exception.
"""

from __future__ import annotations


class HeymarketError(Exception):
    """A Heymarket API call failed.

    :param status: HTTP status, or ``None`` when no response arrived (network failure).
    :param request_id: the ``X-Request-Id`` response header, to quote to Heymarket support.
    :param api_error: Heymarket's error name from the body (e.g. ``bad_data``), if any.
    :param message: what went wrong and, where we know it, how to fix it.
    :param endpoint: the endpoint template, e.g. ``POST /v1/contacts``.
    """

    #: Whether the request-level retry loop may send the request again.
    retriable: bool = False

    def __init__(
        self,
        status: int | None,
        request_id: str | None,
        api_error: str | None,
        message: str,
        endpoint: str,
    ) -> None:
        self.status = status
        self.request_id = request_id
        self.api_error = api_error
        self.message = message
        self.endpoint = endpoint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [f"Heymarket {self.endpoint} failed"]
        if self.status is not None:
            parts.append(f"with HTTP {self.status}")
        if self.api_error:
            parts.append(f"({self.api_error})")
        text = " ".join(parts) + f": {self.message}"
        if self.request_id:
            text += f" [X-Request-Id {self.request_id}]"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, api_error={self.api_error!r}, "
            f"endpoint={self.endpoint!r}, request_id={self.request_id!r})"
        )

    def __reduce__(self) -> tuple[type[HeymarketError], tuple[object, ...]]:
        # Exceptions travel between processes (Airflow task runner); keep the typed fields.
        return type(self), (self.status, self.request_id, self.api_error, self.message, self.endpoint)


class HeymarketAuthError(HeymarketError):
    """401: the API key or API secret was rejected (after one fresh JWT, in secret mode)."""


class HeymarketNotFound(HeymarketError):
    """404: the contact (or other object) does not exist, e.g. it was deleted in Heymarket."""


class HeymarketBadRequest(HeymarketError):
    """400 (``bad_data``) or another 4xx that will fail the same way if sent again."""


class HeymarketRateLimited(HeymarketError):
    """429 after every attempt; ``retry_after`` is the server's hint in seconds, if it sent one."""

    retriable = True

    def __init__(
        self,
        status: int | None,
        request_id: str | None,
        api_error: str | None,
        message: str,
        endpoint: str,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, request_id, api_error, message, endpoint)

    def __reduce__(self) -> tuple[type[HeymarketError], tuple[object, ...]]:
        return type(self), (
            self.status, self.request_id, self.api_error, self.message, self.endpoint, self.retry_after,
        )


class HeymarketServerError(HeymarketError):
    """5xx after every attempt: Heymarket is failing; quote the request id to its support."""

    retriable = True


class HeymarketConnectionError(HeymarketError):
    """No usable response (connection refused, reset, timeout, unreadable body) after every attempt."""

    retriable = True


class HeymarketConfigError(HeymarketError, ValueError):
    """The Airflow connection is incomplete or inconsistent; nothing was sent."""


class HeymarketPaginationError(HeymarketError):
    """The contact list stopped making progress (the server seems to ignore ``date``/``page``)."""
