"""Salesforce access for the sync: reads, writes, describe and API budget on top of the provider's hook.

Importing this package does not import Airflow; :class:`SalesforceAccess` loads the hook on first use.
"""

from salesforce_access.access import ChangeWindow, ListView, SalesforceAccess
from salesforce_access.budget import ApiBudget
from salesforce_access.errors import (
    BudgetExhausted,
    BulkJobError,
    FullResyncRequired,
    ListViewError,
    ListViewNotFound,
    ListViewNotQueryable,
    SalesforceAccessError,
    SalesforceAuthError,
    SalesforceRequestError,
    SessionExpiredError,
    SoqlRewriteError,
    TransientSalesforceError,
)
from salesforce_access.metadata import FieldMetadata, ObjectMetadata
from salesforce_access.writes import RecordError, WriteResult

__all__ = [
    "ApiBudget",
    "BudgetExhausted",
    "BulkJobError",
    "ChangeWindow",
    "FieldMetadata",
    "FullResyncRequired",
    "ListView",
    "ListViewError",
    "ListViewNotFound",
    "ListViewNotQueryable",
    "ObjectMetadata",
    "RecordError",
    "SalesforceAccess",
    "SalesforceAccessError",
    "SalesforceAuthError",
    "SalesforceRequestError",
    "SessionExpiredError",
    "SoqlRewriteError",
    "TransientSalesforceError",
    "WriteResult",
]
