"""One thin operator per stage of the ``heymarket_sync`` DAG.

Importing this package is cheap (no pandas, no hooks): heavy imports happen inside ``execute``, so the
DAG file parses in well under a second.
"""

from sync_operators.apply import HeymarketApplyOperator, SalesforceApplyOperator
from sync_operators.extract import HeymarketExtractOperator, SalesforceExtractOperator
from sync_operators.plan import PlanOperator
from sync_operators.preflight import PreflightOperator
from sync_operators.record import RecordRunOperator
from sync_operators.validate import ValidatePlanOperator

__all__ = [
    "HeymarketApplyOperator",
    "HeymarketExtractOperator",
    "PlanOperator",
    "PreflightOperator",
    "RecordRunOperator",
    "SalesforceApplyOperator",
    "SalesforceExtractOperator",
    "ValidatePlanOperator",
]
