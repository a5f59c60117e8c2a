"""Heymarket emulator auth, rate limit and fault injection over a real socket."""

from __future__ import annotations

import base64
import time

import jwt
import pytest
import requests

from emulators.common import credentials
from emulators.common.client import AdminClient
from emulators.common.process import EmulatorProcess

EXPECTED_401 = "missing valid authentication credentials; check Authorization header and signed JWT"


def signed_jwt(iat: float | None = None, secret_id: str = credentials.HEYMARKET_SECRET_ID,
               secret_key: str = credentials.HEYMARKET_SECRET_KEY) -> str:
    claims = {"iss": secret_id, "iat": int(time.time() if iat is None else iat)}
    return jwt.encode(claims, f"{secret_id}||{secret_key}", algorithm="HS256")


@pytest.fixture
def base_url(heymarket_emulator: EmulatorProcess, hm_admin: AdminClient) -> str:
    return heymarket_emulator.base_url


def inboxes(base_url: str, authorization: str | None) -> requests.Response:
    """``GET /v1/inboxes``: the documented cheap credential check."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    return requests.get(f"{base_url}/v1/inboxes", headers=headers, timeout=10)


def assert_401(resp: requests.Response, mentions: str = EXPECTED_401) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "unauthorized"
    assert mentions in resp.json()["message"]
    assert resp.headers["X-Request-Id"]


def test_api_key_bearer_and_basic(base_url: str) -> None:
    assert inboxes(base_url, f"Bearer {credentials.HEYMARKET_API_KEY}").status_code == 200
    basic = base64.b64encode(f"{credentials.HEYMARKET_API_KEY}:".encode()).decode()
    assert inboxes(base_url, f"Basic {basic}").status_code == 200
    with_requests_auth = requests.get(f"{base_url}/v1/team", auth=(credentials.HEYMARKET_API_KEY, ""), timeout=10)
    assert with_requests_auth.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong-key",
        f"Token {credentials.HEYMARKET_API_KEY}",
        "Basic " + base64.b64encode(b"wrong-key:").decode(),
        "Basic not-base64!",
        "Bearer a.b.c",
    ],
)
def test_bad_or_missing_credentials_get_401(base_url: str, authorization: str | None) -> None:
    resp = inboxes(base_url, authorization)
    assert_401(resp)
    assert credentials.HEYMARKET_API_KEY not in resp.text


def test_jwt_accepted_within_five_minutes(base_url: str) -> None:
    assert inboxes(base_url, f"Bearer {signed_jwt()}").status_code == 200
    assert inboxes(base_url, f"Bearer {signed_jwt(time.time() - 290)}").status_code == 200
    assert inboxes(base_url, f"Bearer {signed_jwt(time.time() + 20)}").status_code == 200


def test_jwt_expired_wrong_secret_or_issuer_rejected(base_url: str) -> None:
    assert_401(inboxes(base_url, f"Bearer {signed_jwt(time.time() - 301)}"), mentions="expired")
    assert_401(inboxes(base_url, f"Bearer {signed_jwt(time.time() + 120)}"), mentions="future")
    assert_401(inboxes(base_url, f"Bearer {signed_jwt(secret_key='not-the-secret-key-0123456789ab')}"))
    assert_401(inboxes(base_url, f"Bearer {signed_jwt(secret_id='00000000-0000-4000-8000-000000000001')}"))
    no_iat = jwt.encode({"iss": credentials.HEYMARKET_SECRET_ID},
                        f"{credentials.HEYMARKET_SECRET_ID}||{credentials.HEYMARKET_SECRET_KEY}", algorithm="HS256")
    assert_401(inboxes(base_url, f"Bearer {no_iat}"))


def test_admin_loaded_credentials_and_disabled_team(base_url: str, hm_admin: AdminClient) -> None:
    hm_admin.load({"credentials": {
        "api_keys": ["rotated-key", {"key": "disabled-key", "disabled": True}],
        "secrets": [{"id": "second-secret-id", "key": "SecondSecretKey0123456789abcdefg"}],
    }})
    assert inboxes(base_url, "Bearer rotated-key").status_code == 200
    token = signed_jwt(secret_id="second-secret-id", secret_key="SecondSecretKey0123456789abcdefg")
    assert inboxes(base_url, f"Bearer {token}").status_code == 200
    denied = inboxes(base_url, "Bearer disabled-key")
    assert denied.status_code == 403 and denied.json()["error"] == "denied"
    hm_admin.reset()
    assert_401(inboxes(base_url, "Bearer rotated-key"))


def _wait_for_fresh_window(margin: float = 3.0) -> None:
    """The window is aligned to the clock minute; start a counting test well inside one."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def test_rate_limit_429_with_retry_after_per_credential(base_url: str, hm_admin: AdminClient) -> None:
    hm_admin.faults(rate_limit_per_minute=5)
    _wait_for_fresh_window()
    key = f"Bearer {credentials.HEYMARKET_API_KEY}"
    assert_401(inboxes(base_url, "Bearer wrong"))  # failed auth is not counted
    statuses = [inboxes(base_url, key).status_code for _ in range(5)]
    assert statuses == [200] * 5
    limited = inboxes(base_url, key)
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limit_exceeded"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert inboxes(base_url, key).status_code == 429, "rejected requests count against the window"
    assert inboxes(base_url, f"Bearer {signed_jwt()}").status_code == 200, "another credential, another window"
    hm_admin.faults(rate_limit_per_minute=100)
    assert inboxes(base_url, key).status_code == 200, "the limit is read at request time"
    assert hm_admin.stats()["by_status"]["429"] == 2


def test_rate_limit_window_scaled_down_in_time(base_url: str, hm_admin: AdminClient) -> None:
    """``rate_limit_window_seconds`` 2 with 3 requests: the same fixed window, aligned to multiples of 2 s."""
    hm_admin.faults(rate_limit_per_minute=3, rate_limit_window_seconds=2)
    if 2 - time.time() % 2 < 0.8:
        time.sleep(2 - time.time() % 2 + 0.05)
    key = f"Bearer {credentials.HEYMARKET_API_KEY}"
    assert [inboxes(base_url, key).status_code for _ in range(3)] == [200] * 3
    limited = inboxes(base_url, key)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) in (1, 2)
    assert "3 requests per 2 s" in limited.json()["message"]
    time.sleep(2 - time.time() % 2 + 0.05)  # the next window
    assert inboxes(base_url, key).status_code == 200


def test_fail_next_and_error_rates_inject_errors(base_url: str, hm_admin: AdminClient) -> None:
    key = f"Bearer {credentials.HEYMARKET_API_KEY}"
    hm_admin.faults(fail_next=[500, 503, 429])
    first, second, third = (inboxes(base_url, key) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (500, 503, 429)
    assert first.json()["error"] == "server_error" and set(first.json()) == {"error", "message"}
    assert second.json()["error"] == "service_unavailable"
    assert third.headers["Retry-After"] == "1" and third.json()["error"] == "rate_limit_exceeded"
    assert all(r.headers["X-Request-Id"] for r in (first, second, third))
    assert inboxes(base_url, key).status_code == 200

    hm_admin.faults(error_rates={500: 1.0}, path_prefixes=["/v1/contacts"])
    contacts = requests.post(f"{base_url}/v1/contacts", json={}, headers={"Authorization": key}, timeout=10)
    assert contacts.status_code == 500 and contacts.json()["error"] == "server_error"
    assert inboxes(base_url, key).status_code == 200, "other paths are not affected"
    assert hm_admin.stats()["injected_failures"] == {"429": 1, "500": 2, "503": 1}
