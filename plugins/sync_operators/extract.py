"""extract_*: read one system into a canonical Parquet frame in the run folder; XCom gets path and counts.

The stages are :func:`sync_engine.stages.extract_stage.run_salesforce_extract` and ``run_heymarket_extract``
(what is read in which mode, retries, list views: see that module); the operators build the clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from sync_engine.vocabulary import ObjectName


class SalesforceExtractOperator(SyncStageOperator):
    """Reads one Salesforce object (Contact or Lead) in its configured scope: all records or a list view, in
    full or since the watermark, or the run's record ids; plus the records whose retry is due.

    :param object_name: ``Contact`` or ``Lead``.
    """

    template_fields: Sequence[str] = (*SyncStageOperator.template_fields, "object_name")

    def __init__(self, *, object_name: ObjectName, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.object_name = object_name

    def execute(self, context: Context) -> dict[str, object]:
        from salesforce_access import SalesforceAccess
        from sync_engine.stages.extract_stage import run_salesforce_extract
        from sync_operators.adapters import salesforce_refused_id
        from sync_operators.runtime import open_state_store

        config = self.load_config()
        access = SalesforceAccess(config.salesforce.conn_id, bulk_threshold=config.salesforce.bulk_threshold)
        result = run_salesforce_extract(self.object_name, self.run_info(), config, self.run_folder(), access,
                                        lambda: open_state_store(config.state.conn_id),
                                        refused_id=salesforce_refused_id, progress=self.log.info,
                                        warn=self.log.warning)
        return result.to_xcom()


class HeymarketExtractOperator(SyncStageOperator):
    """Reads Heymarket contacts: a full sweep, or a date-cursor walk back to the watermark, plus the contacts
    whose retry is due."""

    def execute(self, context: Context) -> dict[str, object]:
        from sync_engine.stages.extract_stage import run_heymarket_extract
        from sync_operators.adapters import heymarket_missing
        from sync_operators.runtime import heymarket_hook, open_state_store

        config = self.load_config()
        result = run_heymarket_extract(self.run_info(), config, self.run_folder(), heymarket_hook(config),
                                       lambda: open_state_store(config.state.conn_id), missing=heymarket_missing,
                                       stop_requested=self._stop.is_set, progress=self.log.info)
        return result.to_xcom()
