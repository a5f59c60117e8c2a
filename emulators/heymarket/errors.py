"""The emulator's one error type and its JSON body (``{"error": ..., "message": ...}``)."""

from __future__ import annotations

import uuid
from http import HTTPStatus

from emulators.heymarket import choices

REQUEST_ID_HEADER = "X-Request-Id"


class ApiError(Exception):
    """Raised anywhere in a handler; the app turns it into the real error shape.

    :param status: HTTP status to answer with.
    :param message: what is wrong and how to fix it. Never include credentials or contact payloads.
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    @property
    def name(self) -> str:
        return error_name(self.status)

    def body(self) -> dict[str, str]:
        return {"error": self.name, "message": self.message}


def bad_data(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found; check the id (deleted contacts are gone for good)")


def error_name(status: int) -> str:
    """``bad_data``, ``unauthorized``, ... for the statuses the docs name; a snake_case phrase otherwise."""
    if status in choices.ERROR_NAMES:
        return choices.ERROR_NAMES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def new_request_id() -> str:
    return str(uuid.uuid4())


def injected_error(status: int) -> tuple[dict[str, str], dict[str, str]]:
    """Body and headers of a failure injected by ``POST /__admin/faults`` (the FaultMiddleware hook)."""
    headers = {REQUEST_ID_HEADER: new_request_id()}
    if status == 429:
        headers["Retry-After"] = str(choices.INJECTED_RETRY_AFTER_SECONDS)
        message = "rate limit exceeded (injected); retry after the Retry-After seconds"
    elif status >= 500:
        message = "server error (injected); retry after a short delay"
    else:
        message = f"injected failure with status {status}"
    return {"error": error_name(status), "message": message}, headers
