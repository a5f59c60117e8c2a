"""Everything one emulator process holds, and the per-request authentication step.

:class:`EmulatorState` is also the ``EmulatorStore`` the shared ``/__admin`` routes drive: ``reset``
empties the org (sessions survive, so a client that logged in keeps working), ``load`` adds records,
``dump`` shows the whole org including deleted records and the API budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from emulators.common.faults import CallStats, FaultInjector
from emulators.salesforce.auth import SessionRegistry
from emulators.salesforce.bulk import BulkService
from emulators.salesforce.bulk1 import BulkV1Service
from emulators.salesforce.errors import SalesforceError, invalid_session, not_found
from emulators.salesforce.lifecycle import Lifecycle
from emulators.salesforce.limits import ApiBudget
from emulators.salesforce.query import QueryService
from emulators.salesforce.store import OrgStore

_VERSION_RE = re.compile(r"^(\d{2})\.\d$")
MIN_VERSION, MAX_VERSION = 20, 66


@dataclass
class ApiContext:
    """Who is calling and with which API version (``59.0``)."""

    user_id: str
    version: str
    allow_duplicates: bool = False


class EmulatorState:
    def __init__(self) -> None:
        self.faults = FaultInjector()
        self.stats = CallStats()
        self.org = OrgStore()
        self.sessions = SessionRegistry(self.org.org_id)
        self.budget = ApiBudget(self.faults)
        self.queries = QueryService(self.org)
        self.bulk = BulkService(self.org, self.queries)
        self.bulk1 = BulkV1Service(self.org, self.queries)
        self.lifecycle = Lifecycle(self.org)

    # --- EmulatorStore protocol (admin routes) ---------------------------------------------------

    def reset(self) -> None:
        self.org.reset()
        self.queries.clear()
        self.bulk.clear()
        self.bulk1.clear()
        self.budget.reset()

    def load(self, payload: dict[str, Any]) -> dict[str, int]:
        return self.org.load(payload)

    def dump(self) -> dict[str, Any]:
        out = self.org.dump()
        out["limits"] = {"DailyApiRequests": self.budget.snapshot()}
        out["BulkJobs"] = [
            job.info()
            for job in [
                *self.bulk.query_jobs.values(),
                *self.bulk.ingest_jobs.values(),
                *self.bulk1.jobs.values(),
            ]
        ]
        out["sessions"] = len(self.sessions)
        return out

    # --- per request -----------------------------------------------------------------------------

    def authenticate(self, request: Request, version: str) -> ApiContext:
        """Check the API version and the session, then count the call against the daily budget.

        :raises SalesforceError: 404 for an unknown version, 401 ``INVALID_SESSION_ID``, 403
            ``REQUEST_LIMIT_EXCEEDED``.
        """
        check_version(version)
        if self.faults.config.expire_sessions:
            self.sessions.expire_all()
            self.faults.config.expire_sessions = False
        user_id = self.sessions.user_for(session_token(request))
        if user_id is None:
            raise invalid_session()
        self.budget.consume()
        header = request.headers.get("sforce-duplicate-rule-header", "")
        allow = "allowsave=true" in header.replace(" ", "").lower()
        return ApiContext(user_id, version, allow)


def check_version(version: str) -> None:
    """``vNN.N`` versions from 20.0 to 66.x are served; others are 404 like on a real org."""
    match = _VERSION_RE.match(version)
    if not match or not MIN_VERSION <= int(match.group(1)) <= MAX_VERSION:
        raise not_found()


def session_token(request: Request) -> str | None:
    """The session id from ``Authorization: Bearer|OAuth <id>`` or ``X-SFDC-Session`` (Bulk 1.0)."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return request.headers.get("x-sfdc-session") or None


__all__ = ["ApiContext", "EmulatorState", "SalesforceError", "check_version", "session_token"]
