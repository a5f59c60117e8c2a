"""A small client for the emulators' ``/__admin`` interface (tests, sandbox, demo, benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests


class AdminCallError(requests.HTTPError):
    """An admin call the emulator refused; the message carries its ``detail``.

    :ivar status: the HTTP status.
    :ivar body: the JSON answer (e.g. a lifecycle call's per-record ``errors``), or None.
    """

    def __init__(self, message: str, response: requests.Response, body: Any) -> None:
        super().__init__(message, response=response)
        self.status = response.status_code
        self.body = body


@dataclass
class AdminClient:
    base_url: str
    verify: str | bool = True

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        resp = requests.request(method, f"{self.base_url}/__admin/{path}", json=payload, timeout=600,
                                verify=self.verify)
        if not resp.ok:
            try:
                body = resp.json()
            except ValueError:
                body = None
            detail = body.get("detail") if isinstance(body, dict) else resp.text[:500]
            raise AdminCallError(f"{method} /__admin/{path} -> HTTP {resp.status_code}: {detail}", resp, body)
        return resp.json()

    def reset(self) -> None:
        self._call("POST", "reset")

    def load(self, payload: dict[str, Any]) -> dict[str, int]:
        return self._call("POST", "load", payload)["loaded"]

    def dump(self) -> dict[str, Any]:
        return self._call("GET", "dump")

    def faults(self, **changes: Any) -> dict[str, Any]:
        return self._call("POST", "faults", changes)

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("POST", "stats/reset")

    # --- Salesforce org setup ----------------------------------------------------------------------

    def delete_field(self, sobject: str, name: str) -> None:
        """Delete a custom field of the Salesforce org (e.g. ``Task.Heymarket_Message_Id__c``, for an org
        without it); ``load({"FieldDefinition": [...]})`` defines it again, right or wrong."""
        self.load({"FieldDefinition": [{"sobject": sobject, "name": name, "deleted": True}]})

    # --- Salesforce record lifecycle (the emulator's stand-ins for SOAP/UI-only operations) --------

    def undelete(self, ids: list[str]) -> dict[str, Any]:
        """Restore records from the recycle bin; ``{"results": [{"id", "success", "errors"}]}``."""
        return self._call("POST", "undelete", {"ids": ids})

    def merge(
        self,
        sobject: str,
        master_id: str,
        victim_ids: list[str],
        master_values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Merge one or two records of *sobject* into *master_id*; a ``MergeResult`` as JSON."""
        payload: dict[str, Any] = {"object": sobject, "master_id": master_id, "victim_ids": victim_ids}
        if master_values is not None:
            payload["master_values"] = master_values
        return self._call("POST", "merge", payload)

    def convert(
        self,
        lead_id: str,
        contact_id: str | None = None,
        account_id: str | None = None,
        converted_status: str | None = None,
    ) -> dict[str, Any]:
        """Convert a Lead (into a new or an existing Contact); a ``LeadConvertResult`` as JSON."""
        payload = {
            "lead_id": lead_id,
            "contact_id": contact_id,
            "account_id": account_id,
            "converted_status": converted_status,
        }
        return self._call("POST", "convert", {k: v for k, v in payload.items() if v is not None})

    def purge(self, ids: list[str]) -> dict[str, Any]:
        """Empty records from the recycle bin (gone from queryAll; still in the deleted feed)."""
        return self._call("POST", "purge", {"ids": ids})
