"""Operators of the ``heymarket_setup`` DAG: one per setup step, and the report that collects them.

Each step is thin: hooks in, a call to its module of :mod:`sync_engine.setup`, a :class:`StepResult` out. A step that
finds a problem records ✘ in its result instead of failing, so every other step still runs and the admin
sees all problems at once; only transient failures (rate limits, 5xx, network, after the hooks' own
retries) raise, so Airflow retries the task. The result (which may name users: personal data) is written
to the run folder; XCom carries its status, a summary and the path. The report task reads every result,
writes ``setup_report.md`` / ``setup_report.json`` and fails the run when any step is ✘.

Heavy imports (hooks, pandas, phonenumbers, SQLAlchemy) happen inside ``execute``.
"""

from __future__ import annotations

import abc
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from sync_engine.setup.registry import task_id_of
from sync_operators.runtime import DEFAULT_CONFIG_PATH, RunFolder, heymarket_hook

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg

    from salesforce_access import SalesforceAccess
    from sync_engine.config import Describe, SyncConfig
    from sync_engine.setup.report import SetupReport
    from sync_engine.setup.results import Finding, StepResult

#: The state store table of the mapping (``sync_engine.state.models.SyncUserMap``, migration 0003).
USER_MAP_TABLE = "hm_sync_user_map"
_FIX_STEP_1 = "fix the connection problem shown in step 1 and re-run"


class SetupStepOperator(BaseOperator):
    """Shared plumbing of the setup steps: config, run folder, error capture, result file.

    :param config_path: the sync YAML; the DAG param ``config_path`` overrides it when set.
    :param credentials: the output of the credentials step (``check_credentials.output``); steps that need
        a system whose connection failed are reported as not checked.

    The task id defaults to the step's in the registry (``sync_engine.setup.registry``), which the report
    task reads the results by.
    """

    step: ClassVar[str] = ""
    #: Which connections the step needs: ``heymarket`` and/or ``salesforce``.
    needs: ClassVar[tuple[str, ...]] = ()
    template_fields: Sequence[str] = ("config_path", "credentials")
    ui_color = "#fdf6e3"

    def __init__(
        self,
        *,
        config_path: str = DEFAULT_CONFIG_PATH,
        credentials: Mapping[str, object] | XComArg | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("task_id", task_id_of(self.step))
        super().__init__(**kwargs)
        self.config_path = config_path
        self.credentials = credentials

    def checked_credentials(self) -> Mapping[str, object]:
        """The credentials step's output (rendered from XCom by now), or nothing when it was not given."""
        return self.credentials if isinstance(self.credentials, Mapping) else {}

    def pre_execute(self, context: Context) -> None:
        """Library loggers (GX, Alembic, ...) to WARNING in the task process, as in the sync stages."""
        from sync_operators.runtime import quiet_library_logs

        quiet_library_logs()

    def execute(self, context: Context) -> dict[str, object]:
        config, _ = read_config(resolve_config_path(context, self.config_path))
        result = self._result(config, bool(context["params"].get("apply")), context)
        folder = setup_run_folder(config, context)
        target = folder.write_text(f"setup/{self.step}.json", json.dumps(result.as_dict(), indent=2))
        self.log.info("Setup step %s: %s — %s", self.step, "✔" if result.ok else "✘", result.summary)
        return {
            "step": self.step,
            "status": result.status,
            "summary": result.summary,
            "result_path": target,
            **self.xcom_extras(result),
        }

    def _result(self, config: SyncConfig | None, apply: bool, context: Context) -> StepResult:
        """The step's result; not checked when the config is broken or a connection it needs failed."""
        from sync_engine.setup.results import StepResult

        if config is None:
            return StepResult.skipped(
                self.step, "the config file has problems", "fix the problems listed under step 0 and re-run"
            )
        return self._missing_connection() or self._run_checked(config, apply, context)

    @abc.abstractmethod
    def run_step(self, config: SyncConfig, apply: bool, context: Context) -> StepResult:
        """The step itself: read (and with *apply*, change) the systems, return the result."""

    def xcom_extras(self, result: StepResult) -> dict[str, object]:
        """Extra XCom keys (no personal data) for the steps downstream."""
        return {}

    def _missing_connection(self) -> StepResult | None:
        from sync_engine.setup.results import StepResult

        checked = self.checked_credentials()
        failed = [name for name in self.needs if not checked.get(f"{name}_ok")]
        if not failed:
            return None
        names = " and ".join(name.capitalize() for name in failed)
        return StepResult.skipped(self.step, f"the {names} connection failed", _FIX_STEP_1)

    def _run_checked(self, config: SyncConfig, apply: bool, context: Context) -> StepResult:
        """Run the step; a problem retrying can't fix becomes a ✘ finding, a transient one is raised."""
        from heymarket_hook.errors import HeymarketError
        from salesforce_access import SalesforceAccessError, TransientSalesforceError
        from sync_engine.setup.results import Finding, StepResult

        try:
            return self.run_step(config, apply, context)
        except HeymarketError as exc:
            if exc.retriable:
                raise
            problem = str(exc)
        except SalesforceAccessError as exc:
            if isinstance(exc, TransientSalesforceError):
                raise
            problem = str(exc)
        return StepResult.build(
            self.step,
            "stopped by an API error.",
            [Finding("error", problem, "fix what the message says and re-run")],
        )


def read_config(path: str) -> tuple[SyncConfig | None, StepResult]:
    """The config (``None`` when it can't be used) and step 0's result, which lists its problems."""
    from sync_engine.config import ConfigError, load_config
    from sync_engine.setup.config_file import config_step

    try:
        return load_config(path), config_step(path, [])
    except ConfigError as exc:
        return None, config_step(path, exc.problems)


def resolve_config_path(context: Context, default: str) -> str:
    """The ``config_path`` param when the trigger form set one, else the operator's (deployment) default."""
    value = context["params"].get("config_path")
    return str(value).strip() if value and str(value).strip() else default


def setup_run_folder(config: SyncConfig | None, context: Context) -> RunFolder:
    """``<runs_root>/heymarket_setup/<run_id>``; the default runs root when the config can't be read."""
    from sync_engine.config import StateConfig

    root = config.state.runs_root if config is not None else StateConfig().runs_root
    return RunFolder(root, context["dag"].dag_id, context["run_id"])


# --------------------------------------------------------------------------------------------- step 1


class CheckCredentialsOperator(SetupStepOperator):
    """Step 1: the Heymarket and Salesforce connections work; the team and the org's API budget."""

    step = "credentials"

    def run_step(self, config: SyncConfig, apply: bool, context: Context) -> StepResult:
        from sync_engine.setup.results import StepResult

        hm_findings, team = check_heymarket(config)
        sf_findings, budget = check_salesforce(config)
        facts: dict[str, object] = {"heymarket_ok": team is not None, "salesforce_ok": budget is not None}
        if team is not None:
            members = team.get("members")
            facts.update(team_id=team.get("id"), team_members=len(members) if isinstance(members, list) else 0)
        if budget is not None:
            facts.update(api_requests_used=budget[0], api_requests_max=budget[1])
        ok = [name for name, good in (("Heymarket", team), ("Salesforce", budget)) if good is not None]
        summary = f"Working connections: {', '.join(ok) or 'none'}."
        return StepResult.build(self.step, summary, [*hm_findings, *sf_findings], facts)

    def xcom_extras(self, result: StepResult) -> dict[str, object]:
        return {
            "heymarket_ok": bool(result.facts.get("heymarket_ok")),
            "salesforce_ok": bool(result.facts.get("salesforce_ok")),
        }


def check_heymarket(config: SyncConfig) -> tuple[list[Finding], dict[str, object] | None]:
    """Read the team with the configured connection; every failure becomes an error finding with its fix."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from heymarket_hook.errors import HeymarketAuthError, HeymarketConfigError, HeymarketError
    from sync_engine.setup.credentials import heymarket_team_finding
    from sync_engine.setup.results import Finding

    conn_id = config.heymarket.conn_id
    hook = heymarket_hook(config)
    try:
        team = hook.get_team()
    except AirflowNotFoundException:
        return [
            Finding(
                "error",
                f"Airflow connection '{conn_id}' does not exist",
                "create it under Admin > Connections (type Heymarket; the API key in Password, or the "
                "API Secret ID and Secret Key), or set heymarket.conn_id",
                path="heymarket.conn_id",
            )
        ], None
    except HeymarketAuthError as exc:
        if exc.status == 403:
            fix = (
                "ask a Heymarket admin to enable this API key or secret and give it access to the team "
                "(Admin > Integrations), then re-run"
            )
        else:
            fix = (
                "generate an API key in Heymarket (Admin > Integrations > Manage > Generate API Key) and "
                f"paste it into the Password of Airflow connection '{conn_id}' (or fill its API Secret ID "
                "and Secret Key); then re-run"
            )
        return [Finding("error", f"Heymarket connection '{conn_id}': {exc}", fix)], None
    except HeymarketConfigError as exc:
        return [Finding("error", str(exc), f"complete Airflow connection '{conn_id}' and re-run")], None
    except HeymarketError as exc:
        return [
            Finding(
                "error",
                f"Heymarket connection '{conn_id}': {exc}",
                f"check the host (API base URL) of Airflow connection '{conn_id}' and the network, "
                "then re-run",
            )
        ], None
    return [heymarket_team_finding(conn_id, team)], dict(team)


def check_salesforce(config: SyncConfig) -> tuple[list[Finding], tuple[int, int] | None]:
    """Log in and read the org's daily API budget (``/limits``); failures become error findings."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from salesforce_access import SalesforceAccessError, SalesforceAuthError
    from sync_engine.setup.credentials import salesforce_budget_findings
    from sync_engine.setup.results import Finding

    conn_id = config.salesforce.conn_id
    try:
        budget = salesforce_access(config).daily_budget()
    except AirflowNotFoundException:
        return [
            Finding(
                "error",
                f"Airflow connection '{conn_id}' does not exist",
                "create it under Admin > Connections (type Salesforce), or set salesforce.conn_id",
                path="salesforce.conn_id",
            )
        ], None
    except SalesforceAuthError as exc:
        fix = (
            f"correct the username, password and security token of Airflow connection '{conn_id}' (a new "
            "token comes from Salesforce Settings > Reset My Security Token; a sandbox needs domain 'test'); "
            "then re-run"
        )
        return [Finding("error", f"Salesforce connection '{conn_id}': {exc}", fix)], None
    except SalesforceAccessError as exc:
        return [
            Finding(
                "error",
                f"Salesforce connection '{conn_id}': {exc}",
                f"check Airflow connection '{conn_id}' and the integration user's permissions "
                "(View Setup and Configuration), then re-run",
            )
        ], None
    findings = salesforce_budget_findings(
        conn_id, budget.used, budget.max, config.salesforce.min_daily_api_remaining
    )
    return findings, (budget.used, budget.max)


def salesforce_access(config: SyncConfig) -> SalesforceAccess:
    from salesforce_access import SalesforceAccess

    return SalesforceAccess(config.salesforce.conn_id, bulk_threshold=config.salesforce.bulk_threshold)


# --------------------------------------------------------------------------------------------- step 2


class CheckDefaultInboxOperator(SetupStepOperator):
    """Step 2: list the inboxes and check the configured default inbox is one of them."""

    step = "default_inbox"
    needs = ("heymarket",)

    def run_step(self, config: SyncConfig, apply: bool, context: Context) -> StepResult:
        from sync_engine.setup.default_inbox import default_inbox_step

        inboxes = heymarket_hook(config).list_inboxes()
        self.log.info("Heymarket inboxes visible: %d", len(inboxes))
        return default_inbox_step(config.default_inbox, inboxes)


# --------------------------------------------------------------------------------------------- step 3


class MapUsersOperator(SetupStepOperator):
    """Step 3: propose the Salesforce -> Heymarket user mapping; with ``apply``, assign the permission set
    to mapped users (idempotent) and store the mapping (state store table and ``user_mapping.json``)."""

    step = "user_mapping"
    needs = ("heymarket", "salesforce")

    def run_step(self, config: SyncConfig, apply: bool, context: Context) -> StepResult:
        from salesforce_access.users import SalesforceUserAdmin
        from sync_engine.setup.user_mapping import apply_user_mapping, read_user_mapping, user_mapping_step
        from sync_operators.runtime import open_state_store

        admin = SalesforceUserAdmin(salesforce_access(config))
        proposal, permission_set = read_user_mapping(admin, heymarket_hook(config).list_users, config.setup)
        if not apply:
            return user_mapping_step(proposal, permission_set, apply=False)
        outcomes, rows = apply_user_mapping(admin, proposal, permission_set)
        artifact = setup_run_folder(config, context).write_text(
            "user_mapping.json", json.dumps(rows, indent=2, ensure_ascii=False))
        saved = open_state_store(config.state.conn_id).replace_user_map(rows, context["run_id"])
        self.log.info("User mapping stored: %d rows in %s, artifact %s", saved, USER_MAP_TABLE, artifact)
        saved_to = f"state store table {USER_MAP_TABLE} and {artifact}"
        return user_mapping_step(proposal, permission_set, apply=True, outcomes=outcomes, saved_to=saved_to)


# --------------------------------------------------------------------------------------------- step 4


class CheckPhoneFieldsOperator(SetupStepOperator):
    """Step 4: per object, every phone field's filled and valid-E.164 counts; the default phone field fits."""

    step = "phone_fields"
    needs = ("salesforce",)

    def run_step(self, config: SyncConfig, apply: bool, context: Context) -> StepResult:
        from sync_engine.setup.phone_fields import check_phone_fields

        access = salesforce_access(config)
        return check_phone_fields(config, describe_enabled(access, config), access.iter_records)


def describe_enabled(access: SalesforceAccess, config: SyncConfig) -> dict[str, Describe]:
    """The full describe of every enabled object."""
    return {obj: describe_raw(access, obj) for obj in config.enabled_objects()}


def describe_raw(access: SalesforceAccess, sobject: str) -> Describe:
    """The full describe of *sobject*, as ``validate_against_describe`` needs it (picklist values included).

    ``SalesforceAccess.describe`` reduces it to typed metadata; calling it first logs in through
    SalesforceAccess (timeouts, call counting, typed errors), and the provider hook's ``describe_object``
    then reuses that session.
    """
    import requests
    from simple_salesforce.exceptions import SalesforceError

    from salesforce_access.errors import classify

    access.describe(sobject)
    try:
        return dict(access.hook.describe_object(sobject))
    except (SalesforceError, requests.RequestException) as exc:
        raise classify(exc, f"describe {sobject}") from exc


# --------------------------------------------------------------------------------------------- step 5


class CheckFieldMappingOperator(SetupStepOperator):
    """Step 5: every mapping against describe and the Heymarket field list (the sync's own rules); with
    ``apply``, create the missing Heymarket custom fields; required fields and their defaults."""

    step = "field_mapping"
    needs = ("salesforce",)

    def run_step(self, config: SyncConfig, apply: bool, context: Context) -> StepResult:
        from sync_engine.setup.field_mapping import check_field_mapping

        describes = describe_enabled(salesforce_access(config), config)
        heymarket = heymarket_hook(config) if self.checked_credentials().get("heymarket_ok") else None
        return check_field_mapping(config, describes, heymarket, apply=apply)


# --------------------------------------------------------------------------------------------- step 6


class CheckTaskExternalIdOperator(SetupStepOperator):
    """Step 6: the Task external id field the messages DAG upserts on (exists, External ID, Unique, writable)."""

    step = "task_external_id"
    needs = ("salesforce",)

    def run_step(self, config: SyncConfig, apply: bool, context: Context) -> StepResult:
        from sync_engine.setup.task_external_id import check_task_external_id

        return check_task_external_id(config.messages.external_id_field, describe_raw(salesforce_access(config),
                                                                                      "Task"))


# --------------------------------------------------------------------------------------------- report


class SetupReportOperator(BaseOperator):
    """Collects every step's result, writes ``setup_report.md`` and ``.json`` to the run folder, logs the
    report (record ids instead of names), and fails the run when a step is ✘ so the admin sees red.

    Runs with trigger rule ALL_DONE: a step task that crashed is reported as "did not finish".

    :param config_path: as for the steps.
    """

    template_fields: Sequence[str] = ("config_path",)
    ui_color = "#eee8d5"

    def __init__(self, *, config_path: str = DEFAULT_CONFIG_PATH, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path

    def execute(self, context: Context) -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowFailException

        from sync_engine.setup.registry import TASK_STEPS
        from sync_engine.setup.report import SetupReport

        path = resolve_config_path(context, self.config_path)
        config, config_result = read_config(path)
        steps = (config_result, *(self._step_result(context, step.id, str(step.task_id)) for step in TASK_STEPS))
        report = SetupReport(
            steps,
            apply=bool(context["params"].get("apply")),
            run_id=context["run_id"],
            config_path=path,
            generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        markdown = self._write(report, setup_run_folder(config, context))
        if not report.ok:
            raise AirflowFailException(f"Heymarket setup: {report.headline()}. Read the fixes in {markdown}")
        return {"ok": True, "report": markdown, "headline": report.headline()}

    def _write(self, report: SetupReport, folder: RunFolder) -> str:
        """Write ``setup_report.md`` (names and e-mails included) and ``.json``; log the report with ids only."""
        markdown = folder.write_text("setup_report.md", report.to_markdown(personal=True))
        folder.write_text("setup_report.json", report.to_json())
        self.log.info(
            "Setup report (names and e-mails only in %s):\n%s", markdown, report.to_markdown(personal=False)
        )
        return markdown

    def _step_result(self, context: Context, step: str, task_id: str) -> StepResult:
        from sync_engine.setup.results import StepResult

        pushed = context["ti"].xcom_pull(task_ids=task_id)
        result_path = pushed.get("result_path") if isinstance(pushed, Mapping) else None
        if not result_path:
            return StepResult.build(
                step,
                "did not finish.",
                [
                    _did_not_finish(task_id),
                ],
            )
        return StepResult.from_dict(json.loads(_read_text(str(result_path))))


def _did_not_finish(task_id: str) -> Finding:
    from sync_engine.setup.results import Finding

    return Finding(
        "error",
        f"task {task_id} did not finish (it failed after its retries, or an earlier task failed)",
        f"read the log of task {task_id}; fix the cause (often Heymarket or "
        "Salesforce being unreachable) and re-run",
    )


def _read_text(url: str) -> str:
    if "://" not in url:
        return Path(url).read_text(encoding="utf-8")
    import fsspec

    with fsspec.open(url, "r", encoding="utf-8") as handle:
        return str(handle.read())
