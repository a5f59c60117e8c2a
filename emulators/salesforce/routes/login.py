"""``POST /services/Soap/u/{version}`` (partner login) and ``POST /services/oauth2/token``."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from emulators.salesforce.auth import (
    LoginFailed,
    check_password,
    oauth_user,
    parse_soap_login,
    soap_fault,
    soap_login_response,
    token_response,
)
from emulators.salesforce.responses import sf_json
from emulators.salesforce.state import EmulatorState

log = logging.getLogger(__name__)
_XML = "text/xml; charset=utf-8"


def router(state: EmulatorState) -> APIRouter:
    api = APIRouter()

    @api.post("/services/Soap/u/{version}")
    async def soap_login(version: str, request: Request) -> Response:
        try:
            username, password = parse_soap_login(await request.body())
            user_id = check_password(state.org, username, password, token_required=True)
        except LoginFailed as exc:
            log.info("SOAP login refused: %s", exc.code)
            return Response(soap_fault(exc.code, exc.message), status_code=500, media_type=_XML)
        token = state.sessions.issue(user_id)
        host = request.headers.get("host", "127.0.0.1")
        return Response(soap_login_response(state.org, host, version, token, user_id), media_type=_XML)

    @api.post("/services/oauth2/token")
    async def oauth_token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        try:
            user_id = oauth_user(state.org, form, request.headers.get("authorization"))
        except LoginFailed as exc:
            log.info("OAuth token refused: %s", exc.code)
            return sf_json({"error": exc.code, "error_description": exc.message}, 400)
        token = state.sessions.issue(user_id)
        return sf_json(token_response(state.org, request.headers.get("host", "127.0.0.1"), token, user_id))

    return api
