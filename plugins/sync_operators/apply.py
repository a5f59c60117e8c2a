"""apply_heymarket / apply_salesforce: write the validated plan, batch by batch, checkpointed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync_operators.base import SyncStageOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from sync_engine.apply import ApplyResult


class _ApplyOperator(SyncStageOperator):
    """Shared set-up of both apply stages: the plan, the state, the stop conditions, the result dict."""

    def _stop_reason(self) -> str | None:
        if self._stop.is_set():
            return "the run was cancelled (marked failed); what was applied so far is recorded"
        return None

    def _result_dict(self, result: ApplyResult, api_calls: dict[str, int], dry_run: bool) -> dict[str, object]:
        return {
            "counts": result.as_dict(),
            "failed": result.failed,
            "stopped": result.stopped,
            "stop_reason": result.stop_reason,
            "api_calls": api_calls,
            "dry_run": dry_run,
        }


class HeymarketApplyOperator(_ApplyOperator):
    """Links/unlinks, then creates and updates contacts in batches of 100, then deletes (where enabled)."""

    def execute(self, context: Context) -> dict[str, object]:
        from heymarket_hook import HeymarketHook
        from sync_engine.apply import ApplyResult, PlanApplier
        from sync_engine.plan import Plan
        from sync_engine.settings import direction_keys
        from sync_operators.adapters import HookHeymarketWriter, StoreApplyState, uuid_map
        from sync_operators.runtime import open_state_store

        info = self.run_info()
        result = ApplyResult()
        if info["dry_run"]:
            self.log.info("Dry run: nothing written to Heymarket")
            return self._result_dict(result, {}, dry_run=True)
        config = self.load_config()
        folder = self.run_folder()
        plan = Plan.from_dir(folder.path("plan"))
        store = open_state_store(config.state.conn_id)
        hook = HeymarketHook(heymarket_conn_id=config.heymarket.conn_id)
        extract = context["ti"].xcom_pull(task_ids="extract_heymarket") or {}
        field_ids = dict(extract.get("field_ids") or {})
        to_hm, to_sf = direction_keys(config, list(info["objects"]))
        applier = PlanApplier(StoreApplyState(store, lock_run_id=str(info["run_id"])), str(info["run_id"]),
                              to_hm, to_sf, stop=self._stop_reason,
                              batch_size_heymarket=config.heymarket.batch_size, progress=self.log.info)
        delete_objects = {name for name in info["objects"] if config.object_config(name).delete_in_heymarket}
        applier.apply_heymarket(plan.actions, HookHeymarketWriter(hook), field_ids,
                                uuid_map(folder, store), delete_objects, result)
        self.log.info("Heymarket apply: %s%s", result.as_dict(),
                      f" (stopped: {result.stop_reason})" if result.stopped else "")
        return self._result_dict(result, dict(hook.api_calls), dry_run=False)


class SalesforceApplyOperator(_ApplyOperator):
    """Auto-creates Contacts/Leads and updates mapped fields through sObject Collections (Bulk 2.0 when big).

    Before every batch it checks the org's daily API budget; when the configured reserve is reached it
    stops cleanly and the run ends ``partial``.
    """

    def execute(self, context: Context) -> dict[str, object]:
        from salesforce_access import SalesforceAccess
        from sync_engine.apply import ApplyResult, PlanApplier
        from sync_engine.plan import Plan
        from sync_engine.settings import direction_keys
        from sync_operators.adapters import AccessSalesforceWriter, StoreApplyState, uuid_map
        from sync_operators.runtime import open_state_store

        info = self.run_info()
        result = ApplyResult()
        if info["dry_run"]:
            self.log.info("Dry run: nothing written to Salesforce")
            return self._result_dict(result, {}, dry_run=True)
        config = self.load_config()
        folder = self.run_folder()
        plan = Plan.from_dir(folder.path("plan"))
        store = open_state_store(config.state.conn_id)
        access = SalesforceAccess(config.salesforce.conn_id, bulk_threshold=config.salesforce.bulk_threshold)
        to_hm, to_sf = direction_keys(config, list(info["objects"]))
        reserve = config.salesforce.min_daily_api_remaining

        def stop_reason() -> str | None:
            reason = self._stop_reason()
            if reason:
                return reason
            budget = access.daily_budget(refresh=False)
            if budget.max and budget.remaining <= reserve:
                return (f"Salesforce daily API budget reserve reached ({budget.remaining} of {budget.max} left, "
                        f"reserve {reserve}); the rest is applied by a later run")
            return None

        applier = PlanApplier(StoreApplyState(store, lock_run_id=str(info["run_id"])), str(info["run_id"]),
                              to_hm, to_sf, stop=stop_reason, progress=self.log.info)
        sf_fields = {name: config.salesforce_fields(name) for name in info["objects"]}
        defaults = {name: dict(config.object_config(name).required_defaults) for name in info["objects"]}
        applier.apply_salesforce(plan.actions, AccessSalesforceWriter(access), sf_fields, defaults,
                                 uuid_map(folder, store), result)
        self.log.info("Salesforce apply: %s%s", result.as_dict(),
                      f" (stopped: {result.stop_reason})" if result.stopped else "")
        return self._result_dict(result, dict(access.api_calls), dry_run=False)
