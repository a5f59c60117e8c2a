"""The authentication dependency every data route uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from emulators.salesforce.describe import ObjectDef
from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.soql import SoqlError, parse
from emulators.salesforce.soql_eval import CompiledQuery, compile_query
from emulators.salesforce.state import ApiContext, EmulatorState
from emulators.salesforce.values import now

DATA = "/services/data/v{version}"


def auth_dependency(state: EmulatorState) -> Callable[[Request, str], Awaitable[ApiContext]]:
    """A FastAPI dependency: session check + one unit of the daily API budget per call."""

    async def authenticated(request: Request, version: str) -> ApiContext:
        return state.authenticate(request, version)

    return authenticated


def record_projection(
    state: EmulatorState, obj: ObjectDef, fields: str | None, ctx: ApiContext
) -> CompiledQuery:
    """A compiled ``SELECT <fields> FROM obj`` used to render one record like the real GET does."""
    names = (
        [f.strip() for f in fields.split(",") if f.strip()] if fields else [f.name for f in obj.field_list]
    )
    try:
        return compile_query(
            parse(f"SELECT {', '.join(dict.fromkeys(names))} FROM {obj.name}"),
            state.org,
            user_id=ctx.user_id,
            now=now(),
            api_version=ctx.version,
        )
    except SoqlError as exc:
        raise SalesforceError(
            400, exc.code if exc.code != "MALFORMED_QUERY" else "INVALID_FIELD", exc.detail
        ) from None
