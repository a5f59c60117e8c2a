"""A small client for the emulators' ``/__admin`` interface (tests, sandbox, demo, benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests


@dataclass
class AdminClient:
    base_url: str
    verify: str | bool = True

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        resp = requests.request(method, f"{self.base_url}/__admin/{path}", json=payload, timeout=600,
                                verify=self.verify)
        resp.raise_for_status()
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
