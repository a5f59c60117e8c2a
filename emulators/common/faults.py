"""Fault injection and call accounting shared by both emulators.

Both are a plain ASGI middleware so that every real API path gets them and the ``/__admin`` control
paths never do. Emulator-specific knobs (Heymarket's rate limit, Salesforce's daily API budget, session
expiry) live in the same :class:`FaultConfig` so that ``POST /__admin/faults`` has one shape, but each
emulator applies those itself.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ADMIN_PREFIX = "/__admin"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Builds the emulator's own error response for an injected failure: ``(body, extra headers)``.
ErrorBody = Callable[[int], tuple[Any, dict[str, str]]]


class FaultConfig(BaseModel):
    """What ``POST /__admin/faults`` accepts. Every field is optional; omitted fields keep their value."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(0.0, ge=0, description="added to every API call")
    latency_jitter_ms: float = Field(0.0, ge=0, description="uniform extra latency, 0..jitter")
    error_rates: dict[int, float] = Field(
        default_factory=dict, description="status -> probability per call, e.g. {500: 0.1, 429: 0.05}"
    )
    fail_next: list[int] = Field(
        default_factory=list, description="the next calls fail with these statuses, in order (deterministic)"
    )
    path_prefixes: list[str] = Field(
        default_factory=list, description="limit error_rates/fail_next to these path prefixes (empty = all)"
    )
    rate_limit_per_minute: int | None = Field(None, ge=1, description="Heymarket: requests per 60 s window")
    rate_limit_window_seconds: int | None = Field(
        None, ge=1, description="Heymarket: window length (default 60); a shorter one scales the limit down in time",
    )
    daily_api_budget: int | None = Field(None, ge=0, description="Salesforce: DailyApiRequests Max")
    daily_api_used: int | None = Field(None, ge=0, description="Salesforce: set DailyApiRequests used")
    expire_sessions: bool = Field(False, description="one shot: every current session/token becomes invalid")
    seed: int = 0


class FaultInjector:
    """Holds the live fault settings; decides per call whether to delay or fail."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self._random = random.Random(self.config.seed)
        self._fail_next: list[int] = list(self.config.fail_next)

    def update(self, changes: dict[str, Any]) -> FaultConfig:
        """Merge *changes* into the current settings (validated) and return the result."""
        merged = self.config.model_dump() | changes
        self.config = FaultConfig.model_validate(merged)
        if "seed" in changes:
            self._random = random.Random(self.config.seed)
        if "fail_next" in changes:
            self._fail_next = list(self.config.fail_next)
        return self.config

    def reset(self) -> None:
        self.__init__()

    def _applies_to(self, path: str) -> bool:
        prefixes = self.config.path_prefixes
        return not prefixes or any(path.startswith(p) for p in prefixes)

    async def delay(self) -> None:
        extra = self.config.latency_ms
        if self.config.latency_jitter_ms:
            extra += self._random.uniform(0, self.config.latency_jitter_ms)
        if extra > 0:
            await asyncio.sleep(extra / 1000)

    def pick_failure(self, path: str) -> int | None:
        """The status to fail this call with, or None to let it through."""
        if not self._applies_to(path):
            return None
        if self._fail_next:
            status = self._fail_next.pop(0)
            self.config.fail_next = list(self._fail_next)
            return status
        for status, rate in self.config.error_rates.items():
            if rate > 0 and self._random.random() < rate:
                return int(status)
        return None


class CallStats:
    """Counts API calls by ``METHOD /route/template`` and by status, for ``GET /__admin/stats``."""

    def __init__(self) -> None:
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.injected: Counter[int] = Counter()

    def record(self, method: str, route: str, status: int) -> None:
        self.by_endpoint[f"{method} {route}"] += 1
        self.by_status[status] += 1

    @property
    def total(self) -> int:
        return sum(self.by_endpoint.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_endpoint": dict(sorted(self.by_endpoint.items())),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "injected_failures": {str(k): v for k, v in sorted(self.injected.items())},
        }

    def reset(self) -> None:
        self.__init__()


class FaultMiddleware:
    """ASGI middleware: latency, injected failures and call counting for every non-admin path."""

    def __init__(self, app: ASGIApp, injector: FaultInjector, stats: CallStats, error_body: ErrorBody) -> None:
        self.app = app
        self.injector = injector
        self.stats = stats
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return

        await self.injector.delay()
        status_holder: dict[str, int] = {}

        async def counting_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        failure = self.injector.pick_failure(path)
        if failure is not None:
            self.stats.injected[failure] += 1
            body, headers = self.error_body(failure)
            await _send_json(counting_send, failure, body, headers)
        else:
            await self.app(scope, receive, counting_send)

        route = scope.get("route")
        template = getattr(route, "path", None) or path
        self.stats.record(scope.get("method", "GET"), template, status_holder.get("status", 500))


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
