"""Where the pacer keeps its request log: this process only, or Redis shared by every worker.

Heymarket's 500 requests/minute are per credential, not per task. The sync, the messages DAG and the
setup DAG use one credential, possibly on several Celery workers at once, so a log kept in one process
lets them together exceed the limit. The connection extra ``rate_limit_backend`` picks the log:

- ``memory`` (default): pyrate-limiter's in-memory bucket, one per hook instance; right for one process.
- ``redis``: pyrate-limiter's ``RedisBucket`` (an atomic Lua check-and-insert on a sorted set), shared by
  every hook, task and worker that reaches the same Redis with the same credential. The server is
  ``rate_limit_redis_url`` (``redis://host:6379/0``) or the Airflow connection ``rate_limit_redis_conn_id``.

The Redis key is a hash of the credential's identity (API key, or API Secret ID), never the credential:
different credentials get different logs, one credential one log wherever it is used. Timestamps come from
each worker's clock (pyrate-limiter's choice), so workers on several machines need NTP-synced clocks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from pyrate_limiter import AbstractBucket, InMemoryBucket, Rate

if TYPE_CHECKING:
    from redis import Redis

RateLimitBackend = Literal["memory", "redis"]
RATE_LIMIT_BACKENDS: tuple[str, ...] = get_args(RateLimitBackend)
DEFAULT_BACKEND: RateLimitBackend = "memory"
#: Prefix of the Redis keys; the rest is the credential hash.
REDIS_KEY_PREFIX = "heymarket_sync:rate_limit:"
#: Seconds to wait for Redis to answer before the task fails with how to fix it.
REDIS_TIMEOUT_SECONDS = 5.0


class RateLimitBackendError(ValueError):
    """The connection's rate-limit extras are wrong or the shared store cannot be reached.

    The message says what to change; it names hosts and extras, never a credential or a password.
    """


@dataclass(frozen=True)
class BucketChoice:
    """The parsed ``rate_limit_backend`` extras of one Heymarket connection.

    :param backend: which log the pacer uses.
    :param redis_url: the Redis server for ``redis`` (already resolved from a connection id).
    :param where: names the connection in messages (``Airflow connection 'heymarket_default'``).
    """

    backend: RateLimitBackend = DEFAULT_BACKEND
    #: May hold the Redis password: kept out of ``repr``.
    redis_url: str | None = field(default=None, repr=False)
    where: str = "Heymarket connection"


def parse_backend(value: object, redis_url: str | None, where: str) -> BucketChoice:
    """Check the ``rate_limit_backend`` extra against the other extras it needs.

    :param value: the extra as stored (``None`` or empty means the default).
    :param redis_url: the Redis URL from ``rate_limit_redis_url`` or ``rate_limit_redis_conn_id``.
    """
    name = DEFAULT_BACKEND if value in (None, "") else str(value).strip().lower()
    if name not in RATE_LIMIT_BACKENDS:
        raise RateLimitBackendError(
            f"rate_limit_backend {str(value)[:40]!r} is not one of {', '.join(RATE_LIMIT_BACKENDS)}; fix the "
            f"extra of the {where}"
        )
    if name == "redis" and not redis_url:
        raise RateLimitBackendError(
            f"rate_limit_backend 'redis' needs rate_limit_redis_url (redis://host:6379/0) or "
            f"rate_limit_redis_conn_id (an Airflow connection with the Redis host and port) in the {where}"
        )
    backend: RateLimitBackend = "redis" if name == "redis" else "memory"
    return BucketChoice(backend=backend, redis_url=redis_url if backend == "redis" else None, where=where)


def credential_key(identity: str) -> str:
    """The bucket name of a credential: a SHA-256 of its identity, so the key itself never reaches Redis."""
    return REDIS_KEY_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:32]


def build_bucket(choice: BucketChoice, rate: Rate, bucket_key: str) -> AbstractBucket:
    """Return the bucket the pacer logs its requests in.

    :param rate: the pacing rate (calls per window in milliseconds).
    :param bucket_key: the credential's :func:`credential_key` (the Redis key; unused in memory).
    :raises RateLimitBackendError: Redis does not answer (with the host, port and how to fix it).
    """
    if choice.backend == "memory":
        return InMemoryBucket([rate])
    return _redis_bucket(choice, rate, bucket_key)


def _redis_bucket(choice: BucketChoice, rate: Rate, bucket_key: str) -> AbstractBucket:
    from pyrate_limiter import RedisBucket
    from redis import Redis
    from redis.exceptions import RedisError

    assert choice.redis_url is not None  # noqa: S101 - parse_backend requires it for redis
    try:
        client: Redis = Redis.from_url(
            choice.redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        client.ping()
        bucket = RedisBucket.init([rate], client, bucket_key)
    except (RedisError, ValueError) as exc:
        raise RateLimitBackendError(
            f"the shared Heymarket rate limit is kept in Redis at {redacted_url(choice.redis_url)}, which did "
            f"not answer ({type(exc).__name__}); start Redis or fix rate_limit_redis_url / "
            f"rate_limit_redis_conn_id in the {choice.where}, or set rate_limit_backend to 'memory' when only "
            "one process uses this credential"
        ) from None
    assert isinstance(bucket, AbstractBucket)  # noqa: S101 - a sync client gives a bucket, not a coroutine
    return bucket


def redacted_url(url: str) -> str:
    """The URL without its password (``redis://:***@host:6379/0``), for messages."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    auth = ""
    if parts.password:
        auth = f"{parts.username or ''}:***@"
    elif parts.username:
        auth = f"{parts.username}@"
    return urlunsplit((parts.scheme, f"{auth}{host}{port}", parts.path, "", ""))


def redis_url_of_connection(host: str | None, port: int | None, password: str | None, schema: str | None,
                            login: str | None = None) -> str:
    """A Redis URL from an Airflow connection's fields (schema = database number, as the Redis provider)."""
    from urllib.parse import quote

    if not host:
        raise RateLimitBackendError("the Redis connection named by rate_limit_redis_conn_id has no host; set it")
    auth = ""
    if password:
        auth = f"{quote(login or '', safe='')}:{quote(password, safe='')}@"
    db = schema if schema and str(schema).isdigit() else "0"
    return f"redis://{auth}{host}:{port or 6379}/{db}"
