"""Counting Salesforce API calls by kind, and remembering the last ``Sforce-Limit-Info`` header.

Counting happens on the ``requests`` session as a response hook, not around our own method calls, so it
sees every request that really went out: each ``query_more`` page, Bulk 2.0 polls, simple-salesforce's own
re-login and retry after an expired session, and retried 5xx answers. That is what the org's daily
allocation is charged for, and what the run history reports.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

CallKind = Literal[
    "login",
    "query",
    "query_more",
    "describe",
    "listviews",
    "composite",
    "bulk2",
    "limits",
    "sobject",
    "other",
]

_DATA = r"/services/data/v[\d.]+"
_PATTERNS: list[tuple[CallKind, re.Pattern[str]]] = [
    ("login", re.compile(r"^/services/(Soap/[uc]/|oauth2/token)", re.IGNORECASE)),
    ("query", re.compile(rf"^{_DATA}/(query|queryAll)/?$")),
    ("query_more", re.compile(rf"^{_DATA}/(query|queryAll)/[^/]+/?$")),
    ("listviews", re.compile(rf"^{_DATA}/sobjects/[^/]+/listviews(/|$)")),
    ("describe", re.compile(rf"^{_DATA}/sobjects/([^/]+/describe)?/?$")),
    ("composite", re.compile(rf"^{_DATA}/composite(/|$)")),
    ("bulk2", re.compile(rf"^{_DATA}/jobs/")),
    ("limits", re.compile(rf"^{_DATA}/limits/?$")),
    ("sobject", re.compile(rf"^{_DATA}/sobjects/")),
]


def endpoint_kind(url: str) -> CallKind:
    """Which kind of Salesforce endpoint *url* is (``query``, ``composite``, ...)."""
    path = urlsplit(url).path
    for kind, pattern in _PATTERNS:
        if pattern.search(path):
            return kind
    return "other"


class CallCounter:
    """A ``requests`` response hook: counts calls per :data:`CallKind`, keeps the last limit header."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.last_limit_info: str | None = None
        #: ``Retry-After`` seconds of the last response, if it was a failure that carried one.
        self.last_retry_after: float | None = None

    def __call__(self, response: requests.Response, *args: object, **kwargs: object) -> requests.Response:
        self.counts[endpoint_kind(response.request.url or "")] += 1
        header = response.headers.get("Sforce-Limit-Info")
        if header:
            self.last_limit_info = header
        self.last_retry_after = (
            _seconds(response.headers.get("Retry-After")) if response.status_code >= 400 else None
        )
        return response

    def install(self, session: requests.Session) -> None:
        """Attach to *session* (once)."""
        hooks = session.hooks.setdefault("response", [])
        if self not in hooks:
            hooks.append(self)

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def _seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is not used by Salesforce and is ignored)."""
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


class TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout: simple-salesforce sends none, and a silent peer would hang a task.

    :param timeout: ``(connect, read)`` seconds, used when the caller did not pass one.
    """

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=timeout if timeout is not None else self.timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )
