"""Request-body parsing and response helpers shared by the route modules."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from emulators.salesforce.errors import SalesforceError, json_parser_error

JSON_TYPE = "application/json;charset=UTF-8"


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The request body as JSON, or Salesforce's ``JSON_PARSER_ERROR`` (never a 500).

    :param required: an empty body is an error (creates, collections) rather than None.
    """
    raw = await request.body()
    if not raw.strip():
        if required:
            raise json_parser_error("No content to map due to end-of-input at [line:1, column:0]")
        return None
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise json_parser_error("Invalid UTF-8 in the request body at [line:1, column:1]") from None
    except json.JSONDecodeError as exc:
        shown = exc.doc[exc.pos] if exc.pos < len(exc.doc) else "EOF"
        raise json_parser_error(
            f"Unexpected character ('{shown}' (code {ord(shown) if len(shown) == 1 else -1})): {exc.msg} "
            f"at [line:{exc.lineno}, column:{exc.colno}]"
        ) from None


async def read_object(request: Request) -> dict[str, Any]:
    """A JSON object body (an sObject's fields)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise json_parser_error(
            "Cannot deserialize instance of SObject out of START_ARRAY token at [line:1, column:1]"
            if isinstance(body, list)
            else "Expected a JSON object at [line:1, column:1]"
        )
    return body


def sf_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers, media_type=JSON_TYPE)


def no_content() -> Response:
    return Response(status_code=204)


def error_response(exc: SalesforceError) -> JSONResponse:
    return sf_json(exc.rest_body(), exc.status)


def int_param(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    """A bounded integer query parameter, or 400 ``INVALID_QUERY_PARAMETER``-style errors."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise SalesforceError(
            400, "INVALID_QUERY_PARAMETER", f"{name} must be an integer, not {value!r}"
        ) from None
    if not lo <= number <= hi:
        raise SalesforceError(400, "INVALID_QUERY_PARAMETER", f"{name} must be between {lo} and {hi}")
    return number
