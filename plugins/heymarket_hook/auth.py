"""Credentials for Heymarket: the legacy team API key, or an API secret that signs short-lived JWTs.

Heymarket's JWT carries only ``iss`` (the secret id) and ``iat`` (Unix seconds), is signed with
HMAC-SHA256 over the UTF-8 string ``"<secret id>||<secret key>"`` and is valid for five minutes after
``iat``. Minting one per request would be correct but wasteful, so :class:`JwtAuth` caches a token
for less than its life (``max_age``, a safety margin below 300 s) and drops it when Heymarket
rejects it, so the hook can mint a fresh one exactly once.

Neither class ever puts a credential into its ``repr`` or into an exception.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import jwt

#: Heymarket accepts a JWT for this many seconds after its ``iat``.
JWT_LIFETIME_SECONDS = 300
#: A cached JWT is replaced this long before it would expire (clock skew, slow requests, retries).
JWT_SAFETY_MARGIN_SECONDS = 60


class Authenticator(Protocol):
    """What the hook needs from a credential: a header value, and a way to drop a rejected one."""

    #: ``"jwt"`` or ``"api_key"``; shown in logs and the connection test message.
    mode: str
    #: True when :meth:`invalidate` makes a retry worthwhile (a fresh JWT), False for a static key.
    refreshable: bool

    def authorization(self) -> str:
        """The ``Authorization`` header value for the next request."""
        ...

    def invalidate(self) -> None:
        """Forget the current credential so the next :meth:`authorization` makes a new one."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Every secret string this credential has sent or could send, for scrubbing text."""
        ...


class ApiKeyAuth:
    """The team API key as a Bearer token (Heymarket calls this legacy and plans to retire it).

    :param api_key: the team API key from Settings > Integrations.
    """

    mode = "api_key"
    refreshable = False

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("Heymarket API key is empty")
        self._api_key = api_key

    def authorization(self) -> str:
        return f"Bearer {self._api_key}"

    def invalidate(self) -> None:
        """A static key cannot be renewed; the caller fails instead of retrying."""

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    def __repr__(self) -> str:
        return "ApiKeyAuth(api_key=***)"


class JwtAuth:
    """HS256 JWTs signed with an API secret, cached below their five-minute life.

    :param secret_id: the API Secret ID (goes into ``iss``; not secret on its own).
    :param secret_key: the API Secret Key; together with the id it forms the signing secret.
    :param max_age: seconds a minted token is reused; must stay below Heymarket's 300 s life.
    :param wall_clock: source of ``iat`` (Unix seconds); injectable so tests can mint a stale token.
    :param monotonic: source of the cache age, immune to wall-clock jumps.
    :param on_mint: called with every new token (the hook registers it with Airflow's log masker).
    """

    mode = "jwt"
    refreshable = True

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        *,
        max_age: float = JWT_LIFETIME_SECONDS - JWT_SAFETY_MARGIN_SECONDS,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_mint: Callable[[str], None] | None = None,
    ) -> None:
        if not secret_id or not secret_key:
            raise ValueError("Heymarket API secret needs both a Secret ID and a Secret Key")
        if not 0 < max_age < JWT_LIFETIME_SECONDS:
            raise ValueError(f"max_age must be between 0 and {JWT_LIFETIME_SECONDS} seconds, got {max_age}")
        self._secret_id = secret_id
        self._signing_key = f"{secret_id}||{secret_key}"
        self._secret_key = secret_key
        self.max_age = max_age
        self.wall_clock = wall_clock
        self.monotonic = monotonic
        self._on_mint = on_mint
        self._token: str | None = None
        self._minted_at = 0.0
        # Every token handed out, so the hook can scrub any of them from text; bounded by the run's length
        # (one per max_age), tiny in practice.
        self._issued: list[str] = []
        self._lock = threading.Lock()
        #: How many tokens were minted (tests and diagnostics).
        self.mint_count = 0

    def _mint(self) -> str:
        claims = {"iss": self._secret_id, "iat": int(self.wall_clock())}
        token = jwt.encode(claims, self._signing_key, algorithm="HS256")
        self._token = token
        self._minted_at = self.monotonic()
        self._issued.append(token)
        self.mint_count += 1
        if self._on_mint is not None:
            self._on_mint(token)
        return token

    def token(self) -> str:
        """The cached JWT, or a new one when there is none or it is older than ``max_age``."""
        with self._lock:
            if self._token is None or self.monotonic() - self._minted_at >= self.max_age:
                return self._mint()
            return self._token

    def authorization(self) -> str:
        return f"Bearer {self.token()}"

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def secrets(self) -> tuple[str, ...]:
        return (self._secret_key, self._signing_key, *self._issued)

    def __repr__(self) -> str:
        return f"JwtAuth(secret_id={self._secret_id!r}, secret_key=***)"
