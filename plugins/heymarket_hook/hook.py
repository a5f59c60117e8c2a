"""``HeymarketHook``: the one place that talks HTTP to Heymarket.

It owns the session, the credential (team API key or API-secret JWT), the base URL, timeouts, the
request pacing and the retry policy; operators call its methods and never build requests. Every call
goes through :meth:`HeymarketHook._request`, which

1. waits for the pacer (all calls and retries of this hook instance share one budget),
2. sends the request with a fresh ``Authorization`` header and a connect/read timeout,
3. classifies the outcome into the typed errors of :mod:`heymarket_hook.errors`,
4. retries 429, 5xx and network failures with exponential backoff and full jitter, waiting at least
   what ``Retry-After`` asks; a rejected JWT (401) is re-minted once; other 4xx fail at once,
5. counts the call (and any retry) under its endpoint template for the run's API-usage report.

Logs carry endpoints, statuses, counts, ids and request ids, never contact payloads or credentials.
"""

from __future__ import annotations

import email.utils
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from airflow.sdk.bases.hook import BaseHook
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from heymarket_hook import provider_info
from heymarket_hook.auth import ApiKeyAuth, Authenticator, JwtAuth
from heymarket_hook.errors import (
    HeymarketAuthError,
    HeymarketBadRequest,
    HeymarketConfigError,
    HeymarketConnectionError,
    HeymarketError,
    HeymarketNotFound,
    HeymarketPaginationError,
    HeymarketRateLimited,
    HeymarketServerError,
)
from heymarket_hook.message_pagination import (
    MAX_MESSAGE_PAGE,
    MESSAGES_ENDPOINT,
    Message,
    MessageWalk,
    format_cursor,
)
from heymarket_hook.pacing import Pacer
from heymarket_hook.pagination import MAX_PAGE_SIZE, DateCursorPaginator, parse_timestamp
from heymarket_hook.rate_limit_buckets import (
    BucketChoice,
    RateLimitBackendError,
    build_bucket,
    credential_key,
    parse_backend,
    redis_url_of_connection,
)

Contact = dict[str, Any]
JsonBody = dict[str, Any] | list[Any]

#: Heymarket accepts at most this many contacts per batch call (emulator choice; undocumented upstream).
MAX_BATCH_SIZE = 100
CONNECT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_ATTEMPTS = 6
#: Retry-After values above this are treated as this (a misbehaving proxy should not park a task for hours).
MAX_RETRY_AFTER_SECONDS = 300.0
_USER_AGENT = "heymarket-salesforce-sync (Airflow HeymarketHook)"


@dataclass(frozen=True)
class ContactRejection:
    """One submitted record that Heymarket refused (the call itself succeeded).

    :param index: position of the record in the caller's input sequence (``None`` if it could not be
        matched back, e.g. the server echoed a contact without phone or id).
    :param phone: the record's phone as submitted (personal data: keep out of logs).
    :param error: Heymarket's reason.
    :param contact_id: the v2 ``contact_id`` (UUID) when the record was an update.
    """

    index: int | None
    phone: str | None
    error: str
    contact_id: str | None = None


@dataclass
class BatchResult:
    """Outcome of :meth:`HeymarketHook.batch_upsert`: what was sent and which records failed."""

    submitted: int = 0
    batches: int = 0
    failures: list[ContactRejection] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return self.submitted - len(self.failures)


@dataclass
class BulkResult:
    """Outcome of :meth:`HeymarketHook.bulk_create_or_update` (v2): contacts with ids, and failures."""

    submitted: int = 0
    batches: int = 0
    created: list[Contact] = field(default_factory=list)
    updated: list[Contact] = field(default_factory=list)
    failures: list[ContactRejection] = field(default_factory=list)


@dataclass(frozen=True)
class _Settings:
    base_url: str
    auth: Authenticator
    requests_per_minute: int
    timeout: float
    #: Which request log the pacer uses (``rate_limit_backend`` and its Redis extras).
    bucket: BucketChoice
    #: The credential's shared-log key: a hash of its identity, so the key itself is never held here.
    bucket_key: str
    #: Pacing window in seconds (60, Heymarket's; an emulator scaled down in time may use less).
    period_seconds: float


class HeymarketHook(BaseHook):
    """Heymarket REST API client for Airflow tasks, backed by a ``heymarket`` connection.

    Connection fields: ``host`` is the API base URL (default ``https://api.heymarket.com``; a full
    ``http://127.0.0.1:8600`` works for the emulator), ``port`` its port (443 for Heymarket; it must agree
    with a port the URL names, and is kept in the form for the UI's Test button, see
    :mod:`heymarket_hook.provider_info`), ``password`` the team API key (legacy). Extras:
    ``secret_id`` + ``secret_key`` for API-secret JWTs (used in preference to the key, as Heymarket
    recommends, unless ``auth_mode`` says ``api_key``), ``requests_per_minute`` (default 450, below
    Heymarket's 500), ``timeout`` (read timeout in seconds, default 60), ``rate_limit_backend``
    (``memory``, the default, paces this hook instance alone; ``redis`` shares one request log with every
    task and worker using the same credential, at ``rate_limit_redis_url`` or the Airflow connection
    ``rate_limit_redis_conn_id``; see :mod:`heymarket_hook.rate_limit_buckets`) and
    ``rate_limit_period_seconds`` (pacing window, default 60 as Heymarket's; only for an emulator whose
    window is scaled down in time).

    Nothing is fetched or connected in ``__init__``; the connection is read and the session built on
    first use. One instance may be used from several threads: pacing and counters are shared.

    :param heymarket_conn_id: Airflow connection id.
    :param requests_per_minute: overrides the connection's pacing (e.g. to split the budget between
        parallel tasks).
    :param pacing_period_seconds: length of the pacing window; overrides the connection's
        ``rate_limit_period_seconds`` (default 60 s, Heymarket's); should only change in tests.
    :param max_attempts: tries per request for retriable failures (429, 5xx, network), first included.
    :param backoff_base: seconds; attempt *n* waits uniformly 0..``backoff_base * 2**(n-1)`` (full jitter),
        capped by ``backoff_max`` and never less than the server's ``Retry-After``.
    :param backoff_max: seconds, cap of the exponential part.
    :param timeout: overrides the connection's read timeout (seconds).
    :param sleep: how the retry loop waits; tests pass a recorder instead of ``time.sleep``.
    """

    conn_name_attr = "heymarket_conn_id"
    default_conn_name = "heymarket_default"
    conn_type = "heymarket"
    hook_name = "Heymarket"

    def __init__(
        self,
        heymarket_conn_id: str = default_conn_name,
        *,
        requests_per_minute: int | None = None,
        pacing_period_seconds: float | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.heymarket_conn_id = heymarket_conn_id
        #: The id messages name: ``heymarket_conn_id``, except under the UI's Test button (see
        #: :func:`_tested_connection_id`), where the hook runs under a temporary id the admin never saw.
        self.conn_label = heymarket_conn_id
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.pacing_period_seconds = pacing_period_seconds
        self.sleep = sleep
        self._requests_per_minute_override = requests_per_minute
        self._timeout_override = timeout
        self._lock = threading.Lock()
        self._settings: _Settings | None = None
        self._pacer: Pacer | None = None
        self._session: requests.Session | None = None
        self._api_calls: Counter[str] = Counter()
        self._retries: Counter[str] = Counter()
        self._random = random.Random()

    def __repr__(self) -> str:
        mode = self._settings.auth.mode if self._settings else "not yet read"
        return f"HeymarketHook(conn_id={self.heymarket_conn_id!r}, auth={mode})"

    # ----------------------------------------------------------------------------------------------
    # connection, session, accounting

    def _config(self) -> _Settings:
        with self._lock:
            if self._settings is None:
                settings = self._read_connection()
                self._pacer = self._build_pacer(settings)
                self._settings = settings
            return self._settings

    def _build_pacer(self, settings: _Settings) -> Pacer:
        """The pacer over the connection's request log (a shared one is reached here, once per hook)."""
        choice = settings.bucket
        try:
            return Pacer(
                settings.requests_per_minute, settings.period_seconds,
                bucket=lambda rate: build_bucket(choice, rate, settings.bucket_key), backend=choice.backend,
            )
        except RateLimitBackendError as exc:
            raise HeymarketConfigError(None, None, None, str(exc), "connection") from None

    def _read_connection(self) -> _Settings:
        conn = self.get_connection(self.heymarket_conn_id)
        extras = conn.extra_dejson or {}

        def extra(name: str) -> Any:
            value = extras.get(name, extras.get(f"extra__heymarket__{name}"))
            return None if value in ("", None) else value

        where = f"Airflow connection '{self.conn_label}'"
        auth = _build_auth(
            mode=str(extra("auth_mode") or "auto"),
            api_key=conn.password or None,
            secret_id=extra("secret_id"),
            secret_key=extra("secret_key"),
            where=where,
        )
        rpm = self._requests_per_minute_override or extra("requests_per_minute")
        timeout = self._timeout_override or extra("timeout")
        period = self.pacing_period_seconds or extra("rate_limit_period_seconds")
        try:
            rpm = int(rpm) if rpm is not None else provider_info.DEFAULT_REQUESTS_PER_MINUTE
            timeout = float(timeout) if timeout is not None else provider_info.DEFAULT_TIMEOUT_SECONDS
            period = float(period) if period is not None else provider_info.DEFAULT_RATE_LIMIT_PERIOD_SECONDS
        except (TypeError, ValueError):
            raise _config_error(
                where, "requests_per_minute, timeout and rate_limit_period_seconds must be numbers",
            ) from None
        if rpm < 1 or timeout <= 0 or period <= 0:
            raise _config_error(where, "requests_per_minute, timeout and rate_limit_period_seconds must be positive")
        try:
            bucket = parse_backend(extra("rate_limit_backend"), self._redis_url(extra), where)
        except RateLimitBackendError as exc:
            raise HeymarketConfigError(None, None, None, str(exc), "connection") from None
        bucket_key = credential_key(
            f"jwt:{extra('secret_id')}" if auth.mode == "jwt" else f"api_key:{conn.password or ''}",
        )
        return _Settings(base_url=_base_url(conn.host, conn.port, where), auth=auth, requests_per_minute=rpm,
                         timeout=timeout, bucket=bucket, bucket_key=bucket_key, period_seconds=period)

    def _redis_url(self, extra: Callable[[str], Any]) -> str | None:
        """The shared log's Redis: ``rate_limit_redis_url``, else the ``rate_limit_redis_conn_id`` connection."""
        url = extra("rate_limit_redis_url")
        if url:
            password = urlsplit(str(url)).password
            if password:
                _mask_secret(password)  # a log line that quoted the URL must not show it
            return str(url)
        conn_id = extra("rate_limit_redis_conn_id")
        if not conn_id:
            return None
        redis_conn = self.get_connection(str(conn_id))
        if redis_conn.password:
            _mask_secret(redis_conn.password)
        return redis_url_of_connection(redis_conn.host, redis_conn.port, redis_conn.password, redis_conn.schema,
                                       redis_conn.login)

    def get_conn(self) -> requests.Session:
        """The hook's single ``requests.Session`` (built on first use, reused for every call)."""
        with self._lock:
            if self._session is None:
                session = requests.Session()
                # Retries are ours (with pacing and accounting); urllib3 must not retry behind our back.
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                session.headers.update({"User-Agent": _USER_AGENT, "Accept": "application/json"})
                self._session = session
            return self._session

    def close(self) -> None:
        """Close the session's pooled connections (the hook can still be used; a new session follows)."""
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    @property
    def api_calls(self) -> dict[str, int]:
        """HTTP requests sent, per endpoint template, every attempt included."""
        with self._lock:
            return dict(self._api_calls)

    @property
    def retries(self) -> dict[str, int]:
        """Of :attr:`api_calls`, how many were repeats (backoff retries and JWT re-mints)."""
        with self._lock:
            return dict(self._retries)

    @property
    def pacer(self) -> Pacer:
        """The request pacer (reads the connection on first access)."""
        self._config()
        assert self._pacer is not None  # noqa: S101 - set together with the settings
        return self._pacer

    def _count(self, counter: Counter[str], endpoint: str) -> None:
        with self._lock:
            counter[endpoint] += 1

    # ----------------------------------------------------------------------------------------------
    # the request path

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: JsonBody | None = None,
        params: dict[str, str] | None = None,
        endpoint: str,
    ) -> Any:
        """Send one API call through pacing, auth, timeouts, retries and accounting; return parsed JSON.

        :param path: path below the base URL, ids already filled in.
        :param endpoint: the template (``"GET /v1/contact/{id}"``) used for counting and messages.
        :raises HeymarketError: a typed subclass once the call has definitively failed.
        """
        settings = self._config()
        reminted = False
        while True:
            retrying = Retrying(
                stop=stop_after_attempt(self.max_attempts),
                wait=self._backoff,
                retry=retry_if_exception(lambda exc: isinstance(exc, HeymarketError) and exc.retriable),
                sleep=self.sleep,
                before_sleep=lambda state: self._before_retry(endpoint, state),
                reraise=True,
            )
            try:
                return retrying(self._send_once, method, path, json, params, endpoint)
            except HeymarketAuthError as exc:
                if exc.status != 401 or reminted or not settings.auth.refreshable:
                    raise
                # A cached JWT can be refused before our clock thinks it expired (clock skew, a suspended
                # worker): mint a new one, once. A second 401 means the secret itself is wrong.
                reminted = True
                settings.auth.invalidate()
                self._count(self._retries, endpoint)
                self.log.warning(
                    "Heymarket %s: JWT rejected (401, X-Request-Id %s); minting a new one and retrying once",
                    endpoint, exc.request_id,
                )

    def _send_once(
        self, method: str, path: str, json: JsonBody | None, params: dict[str, str] | None, endpoint: str,
    ) -> Any:
        settings = self._config()
        session = self.get_conn()
        assert self._pacer is not None  # noqa: S101 - created by _config
        self._pacer.acquire()
        self._count(self._api_calls, endpoint)
        headers = {"Authorization": settings.auth.authorization()}
        started = time.monotonic()
        try:
            response = session.request(
                method, settings.base_url + path, json=json, params=params, headers=headers,
                timeout=(CONNECT_TIMEOUT_SECONDS, settings.timeout),
            )
        except requests.Timeout as exc:
            raise HeymarketConnectionError(
                None, None, None,
                f"no answer from {settings.base_url} within {settings.timeout:g}s ({type(exc).__name__})",
                endpoint,
            ) from exc
        except requests.RequestException as exc:
            raise HeymarketConnectionError(
                None, None, None,
                f"could not reach {settings.base_url} ({type(exc).__name__}); check the connection's host "
                "and the network",
                endpoint,
            ) from exc
        self.log.debug(
            "Heymarket %s -> HTTP %d in %.0f ms [X-Request-Id %s]",
            endpoint, response.status_code, (time.monotonic() - started) * 1000, response.headers.get("X-Request-Id"),
        )
        return self._parse(response, endpoint)

    def _parse(self, response: requests.Response, endpoint: str) -> Any:
        request_id = response.headers.get("X-Request-Id")
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise HeymarketServerError(
                    status, request_id, None, "the response body is not JSON", endpoint,
                ) from None
        api_error, server_message = self._error_details(response)
        raise self._classify(status, request_id, api_error, server_message, endpoint, response)

    def _error_details(self, response: requests.Response) -> tuple[str | None, str]:
        try:
            body = response.json()
        except ValueError:
            return None, self._scrub(response.text[:300]) or response.reason or ""
        if isinstance(body, dict):
            api_error = body.get("error") or body.get("error_code")
            message = body.get("message") or ""
            return (str(api_error) if api_error else None), self._scrub(str(message)[:500])
        return None, self._scrub(str(body)[:300])

    def _classify(
        self,
        status: int,
        request_id: str | None,
        api_error: str | None,
        server_message: str,
        endpoint: str,
        response: requests.Response,
    ) -> HeymarketError:
        said = f"Heymarket says: {server_message}. " if server_message else ""
        conn = f"Airflow connection '{self.conn_label}'"
        check_again = (f"check it again with the Test button of '{self.conn_label}' in Admin > Connections, or "
                       f"`airflow connections test {self.conn_label}`")
        if status == 401:
            jwt_mode = self._settings is not None and self._settings.auth.mode == "jwt"
            what = "API Secret ID / Secret Key" if jwt_mode else "API key"
            clock = " and that this machine's clock is right (a JWT is valid 5 minutes)" if jwt_mode else ""
            return HeymarketAuthError(
                status, request_id, api_error,
                f"{said}Heymarket rejected the credentials. Check the {what} in the {conn} (a rotated key "
                f"stops working at once){clock}, then {check_again}.",
                endpoint,
            )
        if status == 403:
            return HeymarketAuthError(
                status, request_id, api_error,
                f"{said}the credentials in the {conn} are valid but not allowed to do this; ask a Heymarket "
                f"admin for access, then {check_again}.",
                endpoint,
            )
        if status == 404:
            return HeymarketNotFound(status, request_id, api_error, f"{said}not found.", endpoint)
        if status == 429:
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            return HeymarketRateLimited(
                status, request_id, api_error,
                f"{said}rate limit exceeded (Heymarket allows 500 requests/minute per credential); lower "
                f"'requests_per_minute' in the {conn}, run fewer tasks at once with it, or set its "
                "'rate_limit_backend' to redis so all of them share one limit.",
                endpoint, retry_after=retry_after,
            )
        if status >= 500 or status == 408:
            return HeymarketServerError(
                status, request_id, api_error,
                f"{said}Heymarket failed to answer; quote the request id to Heymarket support if it persists.",
                endpoint,
            )
        return HeymarketBadRequest(
            status, request_id, api_error, f"{said}the request was refused; fix the data sent.", endpoint,
        )

    def _backoff(self, state: RetryCallState) -> float:
        """Full-jitter exponential backoff, but never shorter than the server's Retry-After."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (state.attempt_number - 1))
        wait = self._random.uniform(0, ceiling)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER_SECONDS))
        return wait

    def _before_retry(self, endpoint: str, state: RetryCallState) -> None:
        self._count(self._retries, endpoint)
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self.log.warning(
            "Heymarket %s: %s (attempt %d/%d); retrying in %.1fs [X-Request-Id %s]",
            endpoint,
            f"HTTP {exc.status}" if isinstance(exc, HeymarketError) and exc.status else type(exc).__name__,
            state.attempt_number, self.max_attempts, wait, getattr(exc, "request_id", None),
        )

    def _scrub(self, text: str) -> str:
        """Remove every credential this hook knows from server-provided text before it reaches a message."""
        if not text or self._settings is None:
            return text
        for secret in self._settings.auth.secrets():
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    # ----------------------------------------------------------------------------------------------
    # connection test, team, users, fields

    def test_connection(self) -> tuple[bool, str]:
        """Check the credential with ``GET /v1/inboxes``; say what works or what to fix.

        Called by the UI's Test button (Admin > Connections, through the api-server), by
        ``airflow connections test <conn_id>`` and by the preflight task. Both answers name the
        connection the admin tested, also under the Test button's temporary id.
        """
        self.conn_label = _tested_connection_id(self.heymarket_conn_id) or self.heymarket_conn_id
        try:
            inboxes = self.list_inboxes()
        except HeymarketError as exc:
            return False, str(exc)
        settings = self._config()
        how = "an API secret (JWT)" if settings.auth.mode == "jwt" else "the team API key (legacy)"
        return True, (f"Heymarket connection '{self.conn_label}' works: connected to {settings.base_url} with "
                      f"{how}; {len(inboxes)} inbox(es) visible.")

    def get_team(self) -> dict[str, Any]:
        """``GET /v1/team``: ``{id, name, list_size, members:[{id, name, role}]}``."""
        return self._request("GET", "/v1/team", endpoint="GET /v1/team")

    def list_inboxes(self) -> list[dict[str, Any]]:
        """``GET /v1/inboxes``: the team's inboxes (ids are what the config's default inbox names)."""
        return list(self._request("GET", "/v1/inboxes", endpoint="GET /v1/inboxes") or [])

    def list_users(self, emails: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Team memberships, optionally only those with these emails (``GET /v1/users/get``, JSON body).

        :param emails: look these up; ``None`` lists every member.
        """
        body: dict[str, Any] = {"email": list(emails)} if emails else {}
        answer = self._request("GET", "/v1/users/get", json=body, endpoint="GET /v1/users/get") or {}
        return list(answer.get("memberships") or [])

    def list_contact_fields(self) -> list[dict[str, Any]]:
        """Custom contact fields ``[{id, title}]``; contacts' ``custom`` maps are keyed by these ids."""
        answer = self._request("POST", "/v1/contact-fields", json={}, endpoint="POST /v1/contact-fields")
        return list(answer or [])

    def create_contact_fields(self, titles: Iterable[str]) -> list[dict[str, Any]]:
        """Create custom fields by title; returns ``[{id, title, duplicate}]`` (``duplicate``: it existed)."""
        body = [{"title": title} for title in titles]
        if not body:
            return []
        answer = self._request("POST", "/v1/contacts/fields", json=body, endpoint="POST /v1/contacts/fields")
        self.log.info("Heymarket contact fields: %d requested", len(body))
        return list(answer or [])

    # ----------------------------------------------------------------------------------------------
    # reading contacts

    def newest_contact_updated(self) -> datetime | None:
        """``updated`` of the most recently changed contact (one ``POST /v1/contacts``, newest first, limit 1);
        ``None`` for an empty team. The change watcher's poll: any edit moves it."""
        page = self._request("POST", "/v1/contacts", json={"limit": 1, "ascending": False},
                             endpoint="POST /v1/contacts")
        if not isinstance(page, list) or not page:
            return None
        return parse_timestamp(str(page[0]["updated"]))

    def count_contacts(self) -> int:
        """Total number of contacts (``POST /v1/contacts/count``); a cheap "did anything vanish" check."""
        answer = self._request("POST", "/v1/contacts/count", json={}, endpoint="POST /v1/contacts/count")
        return _parse_count(answer)

    def iter_contacts(
        self, since: datetime | None = None, page_size: int = MAX_PAGE_SIZE, *, total: int | None = None,
    ) -> Iterator[list[Contact]]:
        """Yield contacts page by page, newest ``updated`` first, back to ``since``.

        Lazily: one API call per page, only as fast as the consumer reads. Each contact id is yielded
        once, unless a later page carries it with a higher ``rev`` (a consumer keeping the last copy
        per id keeps the newest). Contacts sharing one ``updated`` value are all seen; see
        :mod:`heymarket_hook.pagination`.

        :param since: inclusive lower bound on ``updated`` (timezone-aware), e.g. the previous run's
            watermark; ``None`` reads everything. Contacts written *during* the walk move above its
            cursor and are left to the next run, whose ``since`` will cover them.
        :param page_size: contacts per call, at most 100.
        :param total: expected count, only for the progress log.
        """
        pager = DateCursorPaginator(page_size=page_size, since=since)
        while not pager.finished:
            page = self._request("POST", "/v1/contacts", json=pager.next_request(), endpoint="POST /v1/contacts")
            if not isinstance(page, list):
                raise HeymarketPaginationError(
                    None, None, None, f"expected a JSON array of contacts, got {type(page).__name__}",
                    "POST /v1/contacts",
                )
            records = pager.update(page)
            self.log.info(
                "Heymarket contacts: page %d, %d new, %d read so far%s",
                pager.pages, len(records), pager.seen, f" of {total}" if total is not None else "",
            )
            if records:
                yield records
        self.log.info(
            "Heymarket contacts: done, %d distinct contacts in %d pages (%d overlapping copies dropped)",
            pager.seen, pager.pages, pager.duplicates,
        )

    def iter_all_contacts(self, page_size: int = MAX_PAGE_SIZE) -> Iterator[list[Contact]]:
        """Full sweep of every contact (reconciliation runs that detect deletions by absence).

        Asks for the count first (one call, on the first ``next()``) so the progress log can say
        "n of total"; contacts created during the sweep may make the final number differ.
        """
        total = self.count_contacts()
        yield from self.iter_contacts(since=None, page_size=page_size, total=total)

    def get_contact(self, contact_id: int) -> Contact:
        """``GET /v1/contact/{id}``. :raises HeymarketNotFound: the contact was deleted or never existed."""
        return self._request("GET", f"/v1/contact/{int(contact_id)}", endpoint="GET /v1/contact/{id}")

    def get_contact_by_phone(self, phone: str) -> Contact | None:
        """The contact with this E.164 phone (digits, no ``+``), or ``None`` when there is none."""
        try:
            return self._request("POST", "/v1/contact/get", json={"phone": phone}, endpoint="POST /v1/contact/get")
        except HeymarketNotFound:
            return None

    def find_contacts_by_phone(self, phones: Sequence[str], batch_size: int = MAX_BATCH_SIZE) -> dict[str, Contact]:
        """Phone (E.164 digits) -> contact, for those of *phones* Heymarket has; one call per 100 phones.

        ``POST /v2/contacts/search`` with phone channels: the cheap way to resolve many phones at once (e.g.
        the creates a batch found already taken) instead of one ``get_contact_by_phone`` call each.
        """
        _check_batch_size(batch_size)
        unique = list(dict.fromkeys(str(p) for p in phones))
        found: dict[str, Contact] = {}
        for start, stop in _chunk_ranges(len(unique), batch_size):
            body = {"contact_channels": [{"channel_type": "phone", "channel_ids": unique[start:stop]}]}
            answer = self._request("POST", "/v2/contacts/search", json=body, endpoint="POST /v2/contacts/search")
            for contact in answer or []:
                if isinstance(contact, dict) and contact.get("phone"):
                    found[str(contact["phone"])] = contact
        return found

    # ----------------------------------------------------------------------------------------------
    # reading messages

    def iter_messages(self, walk: MessageWalk) -> Iterator[list[Message]]:
        """Yield the messages of *walk* page by page, oldest ``date`` first, each id once.

        Lazily, one call per page: the consumer writes a page and then reads ``walk.done_through`` to know
        how far its watermark may move (see :mod:`heymarket_hook.message_pagination`). The log says counts
        only: messages carry phones and texts.
        """
        while not walk.finished:
            page = self._request("POST", "/v1/messages/all", json=walk.next_request(), endpoint=MESSAGES_ENDPOINT)
            messages = walk.update(page)
            self.log.info("Heymarket messages: page %d, %d new, %d read so far", walk.pages, len(messages),
                          walk.emitted)
            if messages:
                yield messages
        self.log.info("Heymarket messages: done, %d messages in %d pages (%d overlapping copies dropped)",
                      walk.emitted, walk.pages, walk.duplicates)

    def messages_from(self, at: datetime, limit: int = MAX_MESSAGE_PAGE) -> list[Message]:
        """One page of messages dated at or after *at*, oldest first (inclusive cursor): how a message known
        only by its id and date is read again (Heymarket has no "get message by id")."""
        body = {"created_at": format_cursor(at), "order": "created_at", "ascending": True, "limit": limit}
        page = self._request("POST", "/v1/messages/all", json=body, endpoint=MESSAGES_ENDPOINT)
        if not isinstance(page, list):
            raise HeymarketPaginationError(None, None, None,
                                           f"expected a JSON array of messages, got {type(page).__name__}",
                                           MESSAGES_ENDPOINT)
        return page

    # ----------------------------------------------------------------------------------------------
    # writing contacts one by one

    def create_contact(self, contact: Contact) -> dict[str, Any]:
        """``POST /v1/contact``; returns ``{id, rev, uuid}``. A phone that exists already is a 400.

        Not idempotent: if a create times out after Heymarket applied it, the retry meets the existing
        phone and fails with :class:`HeymarketBadRequest`. Bulk syncs use :meth:`batch_upsert`, which is
        keyed by phone and safe to re-send.
        """
        return self._request("POST", "/v1/contact", json=contact, endpoint="POST /v1/contact")

    def update_contact(self, contact_id: int, contact: Contact, overwrite: bool = False) -> dict[str, Any]:
        """``PUT /v1/contact/{id}``; returns ``{id, rev, uuid}``.

        :param contact: must carry ``phone`` (Heymarket requires it on update).
        :param overwrite: ``True`` replaces the whole ``custom`` map (omitted fields are removed);
            ``False`` merges it.
        """
        return self._request(
            "PUT", f"/v1/contact/{int(contact_id)}", json=contact,
            params={"overwrite": "true" if overwrite else "false"}, endpoint="PUT /v1/contact/{id}",
        )

    def delete_contact(self, contact_id: int) -> None:
        """``DELETE /v1/contact/{id}``: permanent, with the conversation history."""
        self._request("DELETE", f"/v1/contact/{int(contact_id)}", endpoint="DELETE /v1/contact/{id}")

    # ----------------------------------------------------------------------------------------------
    # batch writes

    def batch_upsert(
        self, contacts: Sequence[Contact], overwrite: bool = True, batch_size: int = MAX_BATCH_SIZE,
    ) -> BatchResult:
        """Create or update contacts by phone through ``POST /v1/batch/contacts``, in chunks.

        Keyed by phone, so re-sending a chunk (a request-level retry, a task retry) cannot create a
        duplicate. A transient failure of a chunk is retried by :meth:`_request`; records Heymarket
        refuses come back as :class:`ContactRejection` with their input index, and are not raised.

        :param overwrite: ``True`` overwrites existing contacts with the same phone; ``False`` leaves them
            untouched (Heymarket skips them silently).
        :param batch_size: contacts per call, at most 100.
        """
        _check_batch_size(batch_size)
        result = BatchResult()
        chunks = _chunk_ranges(len(contacts), batch_size)
        params = {"overwrite": "true" if overwrite else "false"}
        for number, (start, stop) in enumerate(chunks, 1):
            chunk = list(contacts[start:stop])
            answer = self._request(
                "POST", "/v1/batch/contacts", json=chunk, params=params, endpoint="POST /v1/batch/contacts",
            )
            failures = _match_failures(answer if isinstance(answer, list) else [], chunk, start)
            result.submitted += len(chunk)
            result.batches += 1
            result.failures.extend(failures)
            self.log.info(
                "Heymarket batch upsert: batch %d/%d, %d sent, %d refused; %d/%d records done",
                number, len(chunks), len(chunk), len(failures), stop, len(contacts),
            )
        return result

    def bulk_create_or_update(
        self, contacts: Sequence[Contact], batch_size: int = MAX_BATCH_SIZE,
    ) -> BulkResult:
        """v2 bulk write (``POST /v2/contacts``): items with ``contact_id`` (UUID) update, others create.

        Returns the full contacts Heymarket answered (so creates come back with their ids) split into
        created and updated, plus per-record failures with their input index. A create that is re-sent
        after a lost response fails per record (the phone exists already) rather than duplicating.
        """
        _check_batch_size(batch_size)
        result = BulkResult()
        chunks = _chunk_ranges(len(contacts), batch_size)
        for number, (start, stop) in enumerate(chunks, 1):
            chunk = list(contacts[start:stop])
            answer = self._request(
                "POST", "/v2/contacts", json={"contacts": chunk}, endpoint="POST /v2/contacts",
            ) or {}
            update_ids = {str(item["contact_id"]) for item in chunk if item.get("contact_id")}
            written = list(answer.get("contacts") or [])
            for contact in written:
                (result.updated if str(contact.get("uuid")) in update_ids else result.created).append(contact)
            failed = [
                {**(item.get("contact") or {}), "error": item.get("error")}
                for item in answer.get("failed_contacts") or []
            ]
            failures = _match_failures(failed, chunk, start)
            result.submitted += len(chunk)
            result.batches += 1
            result.failures.extend(failures)
            self.log.info(
                "Heymarket bulk v2: batch %d/%d, %d sent, %d written, %d refused; %d/%d records done",
                number, len(chunks), len(chunk), len(written), len(failures), stop, len(contacts),
            )
        return result

    def bulk_delete(self, uuids: Sequence[str], batch_size: int = MAX_BATCH_SIZE) -> int:
        """Delete contacts by UUID (``DELETE /v2/contacts``), in chunks; returns how many were sent.

        Permanent, like :meth:`delete_contact`.
        """
        _check_batch_size(batch_size)
        chunks = _chunk_ranges(len(uuids), batch_size)
        deleted = 0
        for number, (start, stop) in enumerate(chunks, 1):
            body = {"contact_channels": [{"channel_type": "id", "channel_ids": [str(u) for u in uuids[start:stop]]}]}
            self._request("DELETE", "/v2/contacts", json=body, endpoint="DELETE /v2/contacts")
            deleted += stop - start
            self.log.info(
                "Heymarket bulk delete: batch %d/%d, %d deleted; %d/%d done",
                number, len(chunks), stop - start, stop, len(uuids),
            )
        return deleted


# --------------------------------------------------------------------------------------------------
# helpers


def _config_error(where: str, problem: str) -> HeymarketConfigError:
    return HeymarketConfigError(None, None, None, f"{problem}; fix the {where}.", "connection")


def _build_auth(
    *, mode: str, api_key: str | None, secret_id: str | None, secret_key: str | None, where: str,
) -> Authenticator:
    """Pick the credential: an API secret (JWT) when configured, as Heymarket recommends, else the key."""
    if mode not in ("auto", "jwt", "api_key"):
        raise _config_error(where, f"auth_mode must be auto, jwt or api_key, not {mode!r}")
    has_secret = bool(secret_id and secret_key)
    if mode == "jwt" or (mode == "auto" and has_secret):
        if not has_secret:
            raise _config_error(where, "JWT authentication needs both the API Secret ID and the API Secret Key")
        return JwtAuth(str(secret_id), str(secret_key), on_mint=_mask_secret)
    if not api_key:
        raise _config_error(
            where, "no Heymarket credential is set: fill in the API key, or the API Secret ID and Secret Key",
        )
    return ApiKeyAuth(api_key)


def _mask_secret(secret: str) -> None:
    """Register a freshly minted JWT with Airflow's log masker (no-op outside a task)."""
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(secret)
    except Exception:  # noqa: S110 - masking is defence in depth; our own logs never carry the token
        pass


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _base_url(host: str | None, port: int | None, where: str = "Airflow connection") -> str:
    """The API base URL from the connection's host (a URL or a bare host name) and port.

    The form shows the port (``provider_info`` explains why the Test button needs it stored). It must agree
    with a base URL that names its own port; a scheme's default port (443, 80) adds nothing to the URL.
    ``0``, which Airflow's Test button sends for an empty port, means no port.

    :raises HeymarketConfigError: the URL is not http(s), or its port and the Port field disagree.
    """
    text = (host or "").strip().rstrip("/") or provider_info.DEFAULT_HOST
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    # Messages name the scheme and host at most: a URL may carry user:password@, which must not be echoed.
    try:
        named = parts.port
    except ValueError:
        raise _config_error(where, "the port in the API base URL is not a number") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise _config_error(
            where, f"the API base URL must look like https://host[:port] (scheme {parts.scheme!r} is not http(s), "
                   "or the host is missing)",
        )
    port = int(port) if port else None
    if named is not None:
        if port is not None and port != named:
            raise _config_error(
                where, f"the API base URL names port {named} but the Port field says {port}; set Port to {named}",
            )
        return text
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return text
    return urlunsplit((parts.scheme, f"{parts.netloc}:{port}", parts.path, parts.query, parts.fragment))


#: The api-server's handler behind the UI's Test button (Airflow 3.3.2), and its local variables used here.
_TEST_ROUTE_MODULE = "airflow.api_fastapi.core_api.routes.public.connections"
_TEST_ROUTE_FUNCTION = "test_connection"
_TEST_ROUTE_FRAMES = 12


def _tested_connection_id(conn_id: str) -> str | None:
    """The connection id the UI's Test button asked about, when this hook runs under that button.

    ``POST /api/v2/connections/test`` (``test_connection`` in :data:`_TEST_ROUTE_MODULE`) copies the
    connection under a random 8-character id (its local ``transient_conn_id``), exports it as an
    ``AIRFLOW_CONN_`` variable and builds the hook with that id, so ``heymarket_conn_id`` is a name the
    admin never saw. The real id is only in the handler's request body (its local ``test_body``), a few
    frames up the same thread's stack: it is read from there, and only when the handler's
    ``transient_conn_id`` is exactly this hook's id. Anywhere else (a task, the CLI, the worker-side
    test, another Airflow version that renamed these) this returns ``None`` and the hook's own id is used.
    """
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_TEST_ROUTE_FRAMES):
        if frame is None:
            return None
        if (frame.f_code.co_name == _TEST_ROUTE_FUNCTION
                and frame.f_globals.get("__name__") == _TEST_ROUTE_MODULE):
            scope = frame.f_locals
            tested = getattr(scope.get("test_body"), "connection_id", None)
            if scope.get("transient_conn_id") == conn_id and isinstance(tested, str) and tested:
                return tested
            return None
        frame = frame.f_back
    return None


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _parse_count(answer: Any) -> int:
    """Heymarket's count endpoints answer a number, a numeric string, or ``{"count": n}``."""
    value = answer.get("count", answer.get("total")) if isinstance(answer, dict) else answer
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise HeymarketServerError(
            200, None, None, f"unexpected count answer of type {type(answer).__name__}", "POST /v1/contacts/count",
        ) from None


def _check_batch_size(batch_size: int) -> None:
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}")


def _chunk_ranges(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def _record_keys(record: Contact) -> list[str]:
    """Keys a failed record can be matched back by: its UUID, its phone, its channel ids."""
    keys = []
    if record.get("contact_id"):
        keys.append(f"uuid:{record['contact_id']}")
    if record.get("phone"):
        keys.append(f"phone:{record['phone']}")
    for channel in record.get("contact_channels") or []:
        for channel_id in [channel.get("channel_id"), *(channel.get("channel_ids") or [])]:
            if channel_id:
                keys.append(f"{channel.get('channel_type') or 'phone'}:{channel_id}")
    return keys


def _match_failures(failed: list[Any], chunk: list[Contact], offset: int) -> list[ContactRejection]:
    """Map the records Heymarket echoed back as failed onto the submitted chunk's indices."""
    by_key: dict[str, list[int]] = {}
    for position, record in enumerate(chunk):
        for key in _record_keys(record):
            by_key.setdefault(key, []).append(position)
    taken: set[int] = set()
    failures = []
    for item in failed:
        if not isinstance(item, dict):
            continue
        echoed = {k: v for k, v in item.items() if k != "error"}
        index = None
        for key in _record_keys(item):
            free = [p for p in by_key.get(key, []) if p not in taken]
            if free:
                # Prefer the submitted record the echo equals; among equal ones the last, because Heymarket
                # keeps the first occurrence of a phone repeated in one batch and refuses the later ones.
                exact = [p for p in free if chunk[p] == echoed]
                index = (exact or free)[-1]
                taken.add(index)
                break
        source = chunk[index] if index is not None else item
        failures.append(
            ContactRejection(
                index=offset + index if index is not None else None,
                phone=source.get("phone") or item.get("phone"),
                error=str(item.get("error") or item.get("message") or "refused without a reason"),
                contact_id=source.get("contact_id") or item.get("contact_id"),
            )
        )
    return failures
