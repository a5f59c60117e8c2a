"""The org's daily API request budget: counted per authenticated call, reported in ``/limits`` and in
the ``Sforce-Limit-Info`` header, enforced with ``REQUEST_LIMIT_EXCEEDED``.

``FaultConfig.daily_api_budget`` sets the maximum (read on every call); ``FaultConfig.daily_api_used``
is a one-shot "set the used counter to N" that is applied on the next call and then cleared.
"""

from __future__ import annotations

from typing import Any

from emulators.common.faults import FaultInjector
from emulators.salesforce.errors import SalesforceError

DEFAULT_DAILY_MAX = 15000


class ApiBudget:
    def __init__(self, faults: FaultInjector) -> None:
        self._faults = faults
        self.used = 0
        self.bulk_query_jobs = 0
        self.bulk_batches = 0

    def reset(self) -> None:
        self.used = 0
        self.bulk_query_jobs = 0
        self.bulk_batches = 0

    @property
    def max(self) -> int:
        budget = self._faults.config.daily_api_budget
        return DEFAULT_DAILY_MAX if budget is None else budget

    def apply_overrides(self) -> None:
        """Take a pending ``daily_api_used`` from the fault settings (one shot)."""
        config = self._faults.config
        if config.daily_api_used is not None:
            self.used = config.daily_api_used
            config.daily_api_used = None

    def consume(self) -> None:
        """Count one API call.

        :raises SalesforceError: 403 ``REQUEST_LIMIT_EXCEEDED`` when the budget is spent (not counted).
        """
        self.apply_overrides()
        if self.used >= self.max:
            raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self.used += 1

    def header(self) -> str:
        self.apply_overrides()
        return f"api-usage={self.used}/{self.max}"

    def limits(self) -> dict[str, Any]:
        """The ``GET limits`` body (the budget is live; the rest are an org's typical allocations)."""

        def entry(maximum: int, used: int = 0) -> dict[str, int]:
            return {"Max": maximum, "Remaining": max(maximum - used, 0)}

        return {
            "ConcurrentAsyncGetReportInstances": entry(200),
            "ConcurrentSyncReportRuns": entry(20),
            "DailyApiRequests": entry(self.max, self.used),
            "DailyAsyncApexExecutions": entry(250000),
            "DailyBulkApiBatches": entry(15000, self.bulk_batches),
            "DailyBulkV2QueryFileStorageMB": entry(976562),
            "DailyBulkV2QueryJobs": entry(10000, self.bulk_query_jobs),
            "DataStorageMB": entry(5),
            "FileStorageMB": entry(20),
            "HourlyODataCallout": entry(10000),
            "SingleEmail": entry(15),
        }

    def snapshot(self) -> dict[str, int]:
        self.apply_overrides()
        return {"Max": self.max, "Used": self.used, "Remaining": max(self.max - self.used, 0)}
