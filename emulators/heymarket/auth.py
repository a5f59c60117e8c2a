"""Who is calling: team API key (Bearer or Basic) or an HS256 JWT signed with an API Secret.

Credentials come from ``emulators.common.credentials``; ``POST /__admin/load {"credentials": ...}`` can add
more. Nothing here ever puts a key, secret or token into a message or a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from emulators.common import credentials
from emulators.heymarket import choices
from emulators.heymarket.errors import ApiError


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``bucket`` names its rate-limit window and is safe to log."""

    bucket: str
    disabled: bool = False


@dataclass
class _Secret:
    key: str = field(repr=False)
    disabled: bool = False


def _bucket_of_key(api_key: str) -> str:
    return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


def _unauthorized(message: str = choices.UNAUTHORIZED_MESSAGE) -> ApiError:
    return ApiError(401, message)


class CredentialSet:
    def __init__(self) -> None:
        self._api_keys: dict[str, bool] = {credentials.HEYMARKET_API_KEY: False}
        self._secrets: dict[str, _Secret] = {
            credentials.HEYMARKET_SECRET_ID: _Secret(credentials.HEYMARKET_SECRET_KEY)
        }

    def __repr__(self) -> str:
        return f"CredentialSet(api_keys={len(self._api_keys)}, secrets={len(self._secrets)})"

    def load(self, raw: dict[str, Any]) -> int:
        """``{"api_keys": ["k" | {"key": "k", "disabled": true}], "secrets": [{"id", "key", "disabled"?}]}``.

        A disabled credential authenticates but gets 403 ``denied`` (a team that may not use the API).
        """
        if not isinstance(raw, dict):
            raise ValueError("'credentials' must be an object with 'api_keys' and/or 'secrets'")
        count = 0
        for item in raw.get("api_keys", []):
            key, disabled = (item, False) if isinstance(item, str) else (item.get("key"), item.get("disabled"))
            if not isinstance(key, str) or not key:
                raise ValueError("each api_keys entry must be a non-empty string or {\"key\": ...}")
            self._api_keys[key] = bool(disabled)
            count += 1
        for item in raw.get("secrets", []):
            if not isinstance(item, dict) or not item.get("id") or not item.get("key"):
                raise ValueError("each secrets entry must be {\"id\": ..., \"key\": ...}")
            self._secrets[str(item["id"])] = _Secret(str(item["key"]), bool(item.get("disabled")))
            count += 1
        return count

    def summary(self) -> dict[str, Any]:
        """For ``/__admin/dump``: counts and secret ids only, never a key."""
        return {"api_keys": len(self._api_keys), "secret_ids": sorted(self._secrets)}

    def authenticate(self, authorization: str | None) -> Principal:
        """Check an ``Authorization`` header value; raise 401 ``ApiError`` when it is not acceptable."""
        if not authorization:
            raise _unauthorized()
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            return self._basic(value)
        if scheme.lower() != "bearer" or not value:
            raise _unauthorized()
        if value in self._api_keys:
            return Principal(_bucket_of_key(value), self._api_keys[value])
        if value.count(".") == 2:
            return self._jwt(value)
        raise _unauthorized()

    def _basic(self, value: str) -> Principal:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized() from None
        api_key, _, password = decoded.partition(":")
        if api_key not in self._api_keys or (password and not choices.BASIC_PASSWORD_IGNORED):
            raise _unauthorized()
        return Principal(_bucket_of_key(api_key), self._api_keys[api_key])

    def _jwt(self, token: str) -> Principal:
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise _unauthorized() from None
        secret = self._secrets.get(str(issuer)) if issuer else None
        if secret is None:
            raise _unauthorized()
        try:
            claims = jwt.decode(
                token, f"{issuer}||{secret.key}", algorithms=["HS256"],
                options={"require": ["iss", "iat"], "verify_iat": False},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("JWT expired (exp is in the past); sign a fresh token") from None
        except jwt.PyJWTError:
            raise _unauthorized() from None
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise _unauthorized("JWT claim 'iat' must be the Unix time in seconds")
        now = time.time()
        if iat < now - choices.JWT_MAX_AGE_SECONDS:
            raise _unauthorized(
                f"JWT expired: iat is more than {choices.JWT_MAX_AGE_SECONDS} seconds old; "
                "sign a fresh token (iat = now) at least every 5 minutes"
            )
        if iat > now + choices.JWT_MAX_FUTURE_SECONDS:
            raise _unauthorized("JWT iat is in the future; check the client clock (NTP)")
        return Principal(f"secret:{issuer}", secret.disabled)
