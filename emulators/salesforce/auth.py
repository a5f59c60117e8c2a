"""Logins (SOAP partner ``login``, OAuth 2.0 token flows) and the sessions they hand out.

simple-salesforce logs in with the SOAP envelope when it has a security token and with the OAuth
username-password flow when it has a consumer key; both are served here. Session ids look like real
ones (``<org id>!<random>``) and are never logged.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html import escape
from typing import Any

from emulators.common import credentials
from emulators.salesforce.store import OrgStore

_PARTNER_NS = "urn:partner.soap.sforce.com"
INVALID_LOGIN_MESSAGE = "Invalid username, password, security token; or user locked out."


@dataclass
class Session:
    user_id: str
    issued_at: float


class SessionRegistry:
    """Live session tokens -> user. ``expire_all`` is the ``expire_sessions`` fault."""

    def __init__(self, org_id: str) -> None:
        self._org_id = org_id
        self._sessions: dict[str, Session] = {}

    def issue(self, user_id: str) -> str:
        token = f"{self._org_id[:15]}!{secrets.token_urlsafe(72)}"
        self._sessions[token] = Session(user_id, time.time())
        return token

    def user_for(self, token: str | None) -> str | None:
        if not token:
            return None
        session = self._sessions.get(token)
        return session.user_id if session else None

    def expire_all(self) -> None:
        self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)

    def __repr__(self) -> str:  # tokens are secrets: never show them
        return f"SessionRegistry({len(self._sessions)} live sessions)"


class LoginFailed(Exception):
    """Bad credentials (or a login body that is not a login)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_password(store: OrgStore, username: str, password: str, *, token_required: bool) -> str:
    """The user id for *username* if *password* (with the security token appended) is right.

    Only the integration user from ``credentials.py`` has a password; users created through the API
    cannot log in, as on an org where they never set one.

    :param token_required: SOAP login needs ``password + security token``; the OAuth password flow
        accepts the password alone too (trusted IP range).
    :raises LoginFailed: ``INVALID_LOGIN`` for any mismatch, without saying which part was wrong.
    """
    good = credentials.SALESFORCE_PASSWORD + credentials.SALESFORCE_SECURITY_TOKEN
    ok_password = secrets.compare_digest(password.encode(), good.encode()) or (
        not token_required
        and secrets.compare_digest(password.encode(), credentials.SALESFORCE_PASSWORD.encode())
    )
    user = _active_user(store, username)
    if user is None or user["Id"] != store.integration_user_id or not ok_password:
        raise LoginFailed("INVALID_LOGIN", INVALID_LOGIN_MESSAGE)
    return user["Id"]


def _active_user(store: OrgStore, username: str) -> dict[str, Any] | None:
    wanted = username.strip().lower()
    for user in store.records["User"].values():
        if str(user.get("Username", "")).lower() == wanted and user.get("IsActive"):
            return user
    return None


def parse_soap_login(body: bytes) -> tuple[str, str]:
    """(username, password) from a partner-WSDL ``login`` envelope.

    :raises LoginFailed: when the body is not a SOAP login request.
    """
    try:
        root = ET.fromstring(body)  # noqa: S314 - local emulator; expat refuses external entities
    except ET.ParseError:
        raise LoginFailed("INVALID_SOAP", "Unable to parse the SOAP request envelope") from None
    login = root.find(f".//{{{_PARTNER_NS}}}login")
    if login is None:
        raise LoginFailed("INVALID_SOAP", "No operation available for request {urn:partner.soap.sforce.com}")
    username = login.findtext(f"{{{_PARTNER_NS}}}username") or ""
    password = login.findtext(f"{{{_PARTNER_NS}}}password") or ""
    return username, password


def soap_login_response(store: OrgStore, host: str, version: str, session_id: str, user_id: str) -> str:
    """The partner ``loginResponse`` (serverUrl points back at this emulator)."""
    user = store.records["User"][user_id]
    server = f"https://{host}/services/Soap/u/{version}/{store.org_id[:15]}"
    metadata = f"https://{host}/services/Soap/m/{version}/{store.org_id[:15]}"
    user_info = "".join(
        f"<{k}>{escape(str(v))}</{k}>"
        for k, v in [
            ("accessibilityMode", "false"),
            ("chatterExternal", "false"),
            ("currencySymbol", "$"),
            ("orgAttachmentFileSizeLimit", "5242880"),
            ("orgDefaultCurrencyIsoCode", "USD"),
            ("orgDisallowHtmlAttachments", "false"),
            ("orgHasPersonAccounts", "false"),
            ("organizationId", store.org_id),
            ("organizationMultiCurrency", "false"),
            ("organizationName", "Heymarket Sync Sandbox"),
            ("profileId", user.get("ProfileId") or ""),
            ("roleId", ""),
            ("sessionSecondsValid", "7200"),
            ("userDefaultCurrencyIsoCode", ""),
            ("userEmail", user.get("Email") or ""),
            ("userFullName", f"{user.get('FirstName', '')} {user['LastName']}"),
            ("userId", user_id),
            ("userLanguage", "en_US"),
            ("userLocale", "en_US"),
            ("userName", user["Username"]),
            ("userTimeZone", user.get("TimeZoneSidKey") or "GMT"),
            ("userType", "Standard"),
            ("userUiSkin", "Theme3"),
        ]
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
        f"<metadataServerUrl>{metadata}</metadataServerUrl><passwordExpired>false</passwordExpired>"
        f"<sandbox>true</sandbox><serverUrl>{server}</serverUrl><sessionId>{session_id}</sessionId>"
        f"<userId>{user_id}</userId><userInfo>{user_info}</userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def soap_fault(code: str, message: str) -> str:
    """A partner ``LoginFault`` (simple-salesforce reads ``sf:exceptionCode``/``sf:exceptionMessage``)."""
    faultcode = "soapenv:Client" if code == "INVALID_SOAP" else f"sf:{code}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>{faultcode}</faultcode><faultstring>{escape(code)}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{escape(code)}</sf:exceptionCode><sf:exceptionMessage>{escape(message)}"
        "</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


def oauth_user(store: OrgStore, form: dict[str, str], authorization: str | None) -> str:
    """The user an OAuth token request authenticates (password, JWT bearer or client credentials).

    The JWT signature is not verified (the emulator has no connected-app certificate); the
    assertion's ``sub`` must name an active user.

    :raises LoginFailed: with the OAuth ``error`` code as ``code``.
    """
    grant = form.get("grant_type", "")
    if grant == "password":
        if not form.get("client_id"):
            raise LoginFailed("invalid_client_id", "client identifier invalid")
        try:
            return check_password(
                store, form.get("username", ""), form.get("password", ""), token_required=False
            )
        except LoginFailed:
            raise LoginFailed("invalid_grant", "authentication failure") from None
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        subject = _jwt_subject(form.get("assertion", ""))
        user = _active_user(store, subject) if subject else None
        if user is None:
            raise LoginFailed(
                "invalid_grant", "user hasn't approved this consumer" if subject else "invalid assertion"
            )
        return user["Id"]
    if grant == "client_credentials":
        if not authorization or not authorization.lower().startswith("basic "):
            raise LoginFailed("invalid_client", "invalid client credentials")
        return store.integration_user_id
    raise LoginFailed("unsupported_grant_type", "grant type not supported")


def _jwt_subject(assertion: str) -> str | None:
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    return sub if isinstance(sub, str) else None


def token_response(store: OrgStore, host: str, token: str, user_id: str) -> dict[str, str]:
    issued = str(int(time.time() * 1000))
    return {
        "access_token": token,
        "instance_url": f"https://{host}",
        "id": f"https://{host}/id/{store.org_id}/{user_id}",
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
