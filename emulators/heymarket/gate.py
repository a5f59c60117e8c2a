"""The front door of every request: ``X-Request-Id``, authentication, the rate limit, and a last-resort
JSON 500 (with the request id) instead of a traceback if a handler ever crashes."""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import Headers

from emulators.common.faults import ADMIN_PREFIX, ASGIApp, FaultInjector, Receive, Scope, Send
from emulators.heymarket import choices
from emulators.heymarket.errors import REQUEST_ID_HEADER, ApiError, new_request_id
from emulators.heymarket.store import HeymarketStore

log = logging.getLogger("emulators.heymarket")


class ApiGate:
    """ASGI middleware; sits inside the FaultMiddleware so that stats count 401s and 429s too.

    :param store: read at request time (credentials and limiter are replaced on reset).
    :param faults: read at request time for ``rate_limit_per_minute``.
    """

    def __init__(self, app: ASGIApp, store: HeymarketStore, faults: FaultInjector) -> None:
        self.app = app
        self.store = store
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        started = False

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER.lower().encode(), request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        if not scope.get("path", "").startswith(ADMIN_PREFIX):
            try:
                self._admit(scope)
            except ApiError as err:
                await send_json(send_with_id, err.status, err.body(), err.headers)
                return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"),
                          request_id)
            if not started:
                body = {"error": "server_error",
                        "message": f"internal emulator error; quote X-Request-Id {request_id}"}
                await send_json(send_with_id, 500, body, {})

    def _admit(self, scope: Scope) -> None:
        """Authenticate, then count the request in the caller's window (failed auth is not counted)."""
        principal = self.store.credentials.authenticate(Headers(scope=scope).get("authorization"))
        if principal.disabled:
            raise ApiError(403, "these credentials are valid but the team may not use the API; "
                                "ask a Heymarket admin to enable API access")
        limit = self.faults.config.rate_limit_per_minute or choices.RATE_LIMIT_PER_MINUTE
        window = self.faults.config.rate_limit_window_seconds or choices.RATE_LIMIT_WINDOW_SECONDS
        retry_after = self.store.limiter.hit(principal.bucket, limit, window)
        if retry_after is not None:
            per = "minute" if window == choices.RATE_LIMIT_WINDOW_SECONDS else f"{window} s"
            raise ApiError(
                429,
                f"rate limit of {limit} requests per {per} exceeded; retry after {retry_after} s",
                {"Retry-After": str(retry_after)},
            )


async def send_json(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
