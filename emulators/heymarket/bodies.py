"""Reading request bodies and query flags the way the real API is described: JSON in, 400 on junk."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from emulators.heymarket.errors import bad_data

_NO_DEFAULT = object()
#: a ``\uD800``..``\uDFFF`` escape: part of a surrogate pair (fine) or a lone surrogate (not text at all)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


async def read_json(request: Request, default: Any = _NO_DEFAULT) -> Any:
    """The parsed JSON body; *default* for an empty body (else 400), 400 for malformed JSON.

    :param default: what an empty body means for endpoints whose body is optional (list, count).
    """
    raw = await request.body()
    if not raw.strip():
        if default is _NO_DEFAULT:
            raise bad_data("request body is required: send a JSON document")
        return default
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise bad_data(f"request body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") \
            from None
    except UnicodeDecodeError:
        raise bad_data("request body is not UTF-8 encoded JSON") from None
    except ValueError:  # e.g. an integer literal beyond Python's 4,300-digit conversion limit
        raise bad_data("request body holds a number too long to read; send at most 4,300 digits") from None
    except RecursionError:
        raise bad_data("request body is nested too deeply; flatten the JSON document") from None
    if _SURROGATE_ESCAPE.search(raw):  # rare: only then pay for the check that the text can be sent back
        try:
            json.dumps(parsed, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise bad_data("request body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff); "
                           "send valid Unicode text") from None
    return parsed


def flag(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter such as ``?overwrite=true``."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise bad_data(f"query parameter '{name}' must be true or false")


def reply(content: Any, status: int = 200) -> JSONResponse:
    """A JSON response without FastAPI's encoder pass (the content is already plain JSON types)."""
    return JSONResponse(content, status_code=status)
