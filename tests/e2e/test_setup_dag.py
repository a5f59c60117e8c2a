"""``heymarket_setup`` end to end: ``dag.test()`` against both emulators over real sockets.

Each test triggers the DAG with a config file of its own (param ``config_path``) whose ``state.runs_root``
is the test's folder, then reads the report the run wrote there. Failure modes share runs where they are
independent (a bad Heymarket key and three mapping mistakes in one run), but every message is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from emulators.common import credentials
from emulators.common.client import AdminClient
from emulators.common.process import EmulatorProcess
from emulators.demo_data import generate
from sync_operators.runtime import RunFolder

pytestmark = pytest.mark.timeout(300)

SHIPPED = Path(__file__).resolve().parents[2] / "include" / "mappings" / "sync.yaml"
PERMISSION_SET = "Heymarket_User"
#: Chris has no Heymarket user of his own: he is mapped to Jordan's; the integration user is left out.
SETUP_SECTION = """\
default_inbox: Support
setup:
  permission_set: Heymarket_User
  user_mapping:
    Chris.Wong@demo-org.example.com: jordan.lee@sandbox-team.example.com
  exclude_users: [integration@sandbox.example.com]
"""


@pytest.fixture
def org(
    sf_admin: AdminClient,
    hm_admin: AdminClient,
    salesforce_conn: str,
    heymarket_conn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """The demo org (50 records, 4 users besides the integration user) and a Heymarket team whose only
    custom field is 'Customer Tier'; a state store of the test's own. Returns Salesforce user ids by username."""
    sf_admin.load(generate(50, 7).salesforce)
    hm_admin.load({"fields": [{"id": 1, "title": "Customer Tier"}]})
    monkeypatch.setenv(
        "AIRFLOW_CONN_HEYMARKET_SYNC_STATE",
        json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "state.db")}),
    )
    return {u["Username"]: u["Id"] for u in sf_admin.dump()["User"]}


def write_config(tmp_path: Path, extra: str = "") -> Path:
    """The shipped sync.yaml plus *extra* top-level YAML and a runs root inside the test's folder."""
    path = tmp_path / "sync.yaml"
    path.write_text(
        SHIPPED.read_text(encoding="utf-8") + extra + f"\nstate:\n  runs_root: {tmp_path / 'runs'}\n",
        encoding="utf-8",
    )
    return path


class SetupRun:
    """One finished DAG run and the report it wrote."""

    def __init__(self, dagbag, config: Path, apply: bool, runs_root: str | None = None) -> None:  # noqa: ANN001
        """:param runs_root: where the report goes; default the ``runs`` folder next to *config*."""
        self.dag_run = dagbag.dags["heymarket_setup"].test(
            run_conf={"apply": apply, "config_path": str(config)}
        )
        root = runs_root or str(config.parent / "runs")
        self.folder = Path(RunFolder(root, "heymarket_setup", self.dag_run.run_id).url)
        self.markdown = (self.folder / "setup_report.md").read_text(encoding="utf-8")
        self.json = json.loads((self.folder / "setup_report.json").read_text(encoding="utf-8"))

    @property
    def state(self) -> str:
        return str(self.dag_run.state)

    def step(self, step_id: str) -> dict:
        return next(s for s in self.json["steps"] if s["step"] == step_id)

    def errors(self, step_id: str) -> dict[str, str]:
        """Error message -> fix of one step."""
        return {f["message"]: f["fix"] for f in self.step(step_id)["findings"] if f["severity"] == "error"}

    def statuses(self) -> dict[str, str]:
        return {s["step"]: s["status"] for s in self.json["steps"]}


def assignments(sf_admin: AdminClient) -> list[tuple[str, str]]:
    """(AssigneeId, PermissionSetId) of every permission set assignment of Heymarket_User."""
    dump = sf_admin.dump()
    ps_id = next(p["Id"] for p in dump["PermissionSet"] if p["Name"] == PERMISSION_SET)
    return sorted(
        (a["AssigneeId"], a["PermissionSetId"])
        for a in dump["PermissionSetAssignment"]
        if a["PermissionSetId"] == ps_id
    )


def field_titles(hm_admin: AdminClient) -> list[str]:
    return sorted(f["title"] for f in hm_admin.dump()["fields"])


def stored_mapping(tmp_path: Path) -> list[tuple[str, int, str, str | None]]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT sf_user_id, hm_user_id, source, assignment_id FROM hm_sync_user_map "
                    "ORDER BY sf_user_id"
                )
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]


def test_report_mode_changes_nothing_and_says_what_apply_would_do(
    org: dict[str, str], dagbag, sf_admin: AdminClient, hm_admin: AdminClient, tmp_path: Path
) -> None:  # noqa: ANN001
    run = SetupRun(dagbag, write_config(tmp_path, "default_inbox: Sales\n"), apply=False)

    # The mapped Heymarket field 'Preferred Language' is missing: the sync would fail, so the step is ✘.
    assert run.state == "failed"
    assert run.statuses() == {
        "config": "ok",
        "credentials": "ok",
        "default_inbox": "ok",
        "user_mapping": "ok",
        "phone_fields": "ok",
        "field_mapping": "failed",
        "task_external_id": "ok",
    }
    assert "- ✘ Heymarket has no custom field titled 'Preferred Language'" in run.markdown
    assert (
        "  - **Fix:** run heymarket_setup with apply=true to create it, or create it in Heymarket > Admin > "
        "Fields"
    ) in run.markdown
    assert (
        "with apply=true these Heymarket custom fields would be created: 'Preferred Language'" in run.markdown
    )
    assert "report only (apply=false): nothing was changed" in run.markdown

    credentials_step = run.step("credentials")
    assert credentials_step["facts"]["team_id"] == 3301
    assert credentials_step["facts"]["api_requests_max"] == 15_000
    assert "connected to team 'Sandbox Team' (id 3301), 3 member(s)" in run.markdown
    assert "default inbox 'Sales' is Sales (id 9001)" in run.markdown

    users = run.step("user_mapping")["facts"]
    assert (users["mapped"], users["would_assign"], users["unmatched_salesforce"]) == (3, 3, 2)
    # The e-mail that differs only in letter case (Priya.Shah@Sandbox-Team...) still matched.
    assert "Priya Shah <Priya.Shah@Sandbox-Team.example.com>" in run.markdown
    assert (
        "Chris Wong <chris.wong@sandbox-team.example.com> (Salesforce username chris.wong@demo-org.example.com): "
        "no Heymarket team member has this e-mail: must be invited in Heymarket" in run.markdown
    )

    phones = run.step("phone_fields")["facts"]
    expected = generate(50, 7).expected
    for obj in ("Contact", "Lead"):
        phone = phones[obj]["fields"]["Phone"]
        assert phones[obj]["records"] == expected[obj]["records"]
        assert phone["filled"] == expected[obj]["records"] - expected[obj]["no_phone"]
        assert phone["valid"] == expected[obj]["valid_phone"]
    assert set(phones["Contact"]["fields"]) == {
        "Phone",
        "MobilePhone",
        "HomePhone",
        "OtherPhone",
        "AssistantPhone",
        "Fax",
    }

    # Nothing changed anywhere.
    assert assignments(sf_admin) == []
    assert field_titles(hm_admin) == ["Customer Tier"]
    assert not (run.folder / "user_mapping.json").exists()
    # XCom carries statuses and paths, never names or e-mails.
    for task_id in ("map_users", "check_credentials"):
        pushed = run.dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id)
        assert "@" not in json.dumps(pushed).replace(str(tmp_path), "")


def test_apply_assigns_creates_and_stores_once_even_when_run_twice(
    org: dict[str, str], dagbag, sf_admin: AdminClient, hm_admin: AdminClient, tmp_path: Path
) -> None:  # noqa: ANN001
    alex = org["alex.morgan@demo-org.example.com"]
    ps_id = next(p["Id"] for p in sf_admin.dump()["PermissionSet"] if p["Name"] == PERMISSION_SET)
    sf_admin.load({"PermissionSetAssignment": [{"AssigneeId": alex, "PermissionSetId": ps_id}]})
    config = write_config(tmp_path, SETUP_SECTION)

    first = SetupRun(dagbag, config, apply=True)
    assert first.state == "success", first.markdown
    assert first.markdown.startswith("# Heymarket setup report\n\n- **Result:** ✔ all 7 steps passed")
    users = first.step("user_mapping")["facts"]
    assert (users["mapped"], users["by_override"], users["excluded"], users["unmatched_salesforce"]) == (
        4,
        1,
        1,
        0,
    )
    assert (users["assigned_now"], users["already_assigned"]) == (3, 1)
    assert first.step("field_mapping")["facts"]["created"] == ["Preferred Language"]
    mapped = {
        org[name]
        for name in (
            "alex.morgan@demo-org.example.com",
            "priya.shah@demo-org.example.com",
            "jordan.lee@demo-org.example.com",
            "chris.wong@demo-org.example.com",
        )
    }
    after_first = assignments(sf_admin)
    assert after_first == sorted((user, ps_id) for user in mapped)
    assert field_titles(hm_admin) == ["Customer Tier", "Preferred Language"]
    stored = stored_mapping(tmp_path)
    assert {(sf, hm, source) for sf, hm, source, _ in stored} == {
        (org["alex.morgan@demo-org.example.com"], 501, "email"),
        (org["priya.shah@demo-org.example.com"], 502, "email"),
        (org["jordan.lee@demo-org.example.com"], 503, "email"),
        (org["chris.wong@demo-org.example.com"], 503, "override"),
    }
    assert all(assignment_id and assignment_id.startswith("0Pa") for *_, assignment_id in stored)
    artifact = json.loads((first.folder / "user_mapping.json").read_text(encoding="utf-8"))
    assert {row["hm_email"] for row in artifact} == {
        "alex.morgan@sandbox-team.example.com",
        "priya.shah@sandbox-team.example.com",
        "jordan.lee@sandbox-team.example.com",
    }

    second = SetupRun(dagbag, config, apply=True)
    assert second.state == "success", second.markdown
    assert (
        "permission set Heymarket_User: assigned to 0 user(s) now; 4 mapped user(s) already had it"
        in second.markdown
    )
    assert second.step("field_mapping")["facts"]["created"] == []
    assert assignments(sf_admin) == after_first
    assert field_titles(hm_admin) == ["Customer Tier", "Preferred Language"]
    assert stored_mapping(tmp_path) == stored


def test_bad_heymarket_key_and_mapping_mistakes_each_get_their_own_message(
    org: dict[str, str],
    dagbag,
    heymarket_emulator: EmulatorProcess,
    hm_admin: AdminClient,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HEYMARKET_WRONG_KEY",
        json.dumps(
            {"conn_type": "heymarket", "host": heymarket_emulator.base_url, "password": "not-the-key"}
        ),
    )
    config = tmp_path / "sync.yaml"
    config.write_text(
        f"""\
auto_create: Lead
objects:
  Contact:
    fields:
      - {{salesforce: Birthdate, heymarket: Birthday}}
      - {{salesforce: Favourite_Colour__c, heymarket: Colour}}
heymarket:
  conn_id: heymarket_wrong_key
state:
  runs_root: {tmp_path / "runs"}
""",
        encoding="utf-8",
    )

    run = SetupRun(dagbag, config, apply=True)

    assert run.state == "failed"
    assert run.statuses() == {
        "config": "ok",
        "credentials": "failed",
        "default_inbox": "skipped",
        "user_mapping": "skipped",
        "phone_fields": "ok",
        "field_mapping": "failed",
        "task_external_id": "ok",
    }
    assert "## ✘ 1. Credentials" in run.markdown
    [(message, fix)] = run.errors("credentials").items()
    assert message.startswith(
        "Heymarket connection 'heymarket_wrong_key': Heymarket GET /v1/team failed with HTTP 401"
    )
    assert "Heymarket rejected the credentials" in message
    assert fix.startswith(
        "generate an API key in Heymarket (Admin > Integrations > Manage > Generate API Key)"
    )
    assert "not-the-key" not in run.markdown
    assert "- ✔ Salesforce connection 'salesforce_default': logged in" in run.markdown

    assert run.errors("default_inbox") == {
        "not checked: the Heymarket connection failed": "fix the connection problem shown in step 1 and re-run"
    }

    fields = run.errors("field_mapping")
    assert (
        fields["Contact.Birthdate is a date field and can't be mapped"]
        == "date fields can't be mapped; use a text field"
    )
    assert fields["Contact has no field 'Favourite_Colour__c'"] == (
        "check the API name in Setup > Object Manager > Contact > Fields & Relationships"
    )
    assert fields["Lead.Company is required to create a Lead"] == "add objects.Lead.required_defaults.Company"
    assert "Heymarket custom fields not checked: the Heymarket connection failed" in fields
    assert (
        "- ✘ Contact.Birthdate is a date field and can't be mapped (`objects.Contact.fields[0].salesforce`)"
        in run.markdown
    )
    assert "  - **Fix:** add objects.Lead.required_defaults.Company" in run.markdown
    assert field_titles(hm_admin) == ["Customer Tier"]


def test_bad_salesforce_login_and_unknown_inbox_each_get_their_own_message(
    org: dict[str, str],
    dagbag,
    salesforce_emulator: EmulatorProcess,
    sf_admin: AdminClient,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.conftest import salesforce_conn_json

    wrong = json.loads(salesforce_conn_json(salesforce_emulator))
    wrong["password"] = "not-the-password"
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_WRONG_LOGIN", json.dumps(wrong))
    config = write_config(
        tmp_path, "default_inbox: Marketing\nsalesforce:\n  conn_id: salesforce_wrong_login\n"
    )

    run = SetupRun(dagbag, config, apply=True)

    assert run.state == "failed"
    assert run.statuses() == {
        "config": "ok",
        "credentials": "failed",
        "default_inbox": "failed",
        "user_mapping": "skipped",
        "phone_fields": "skipped",
        "field_mapping": "skipped",
        "task_external_id": "skipped",
    }
    [(message, fix)] = run.errors("credentials").items()
    assert message.startswith("Salesforce connection 'salesforce_wrong_login': Salesforce login was refused")
    assert fix.startswith(
        "correct the username, password and security token of Airflow connection 'salesforce_wrong_login'"
    )
    assert (
        "not-the-password" not in run.markdown and credentials.SALESFORCE_SECURITY_TOKEN not in run.markdown
    )
    assert "- ✔ Heymarket connection 'heymarket_default': connected to team 'Sandbox Team'" in run.markdown

    assert run.errors("default_inbox") == {
        "Heymarket has no inbox 'Marketing' (by name or id)": "set default_inbox to one of: Sales (9001), Support (9002) (or give the API user access to the inbox "
        "in Heymarket)"
    }
    assert "## ✘ 2. Default inbox" in run.markdown
    assert run.errors("phone_fields") == {
        "not checked: the Salesforce connection failed": "fix the connection problem shown in step 1 and re-run"
    }
    assert assignments(sf_admin) == []


def test_a_broken_config_file_is_step_zero_and_nothing_else_runs(
    org: dict[str, str], dagbag, tmp_path: Path
) -> None:  # noqa: ANN001
    config = tmp_path / "sync.yaml"
    config.write_text("objects:\n  Lead:\n    scope: everything\n", encoding="utf-8")

    # An unreadable config has no runs_root: the report goes to the default one (relative to $AIRFLOW_HOME).
    run = SetupRun(dagbag, config, apply=False, runs_root="runs")

    assert run.state == "failed"
    assert set(run.statuses().values()) == {"failed", "skipped"}
    assert run.errors("config") == {"'everything' is not allowed": "must be one of: all, list_view"}
    assert "## ✘ 0. Configuration file" in run.markdown
    assert run.errors("credentials") == {
        "not checked: the config file has problems": "fix the problems listed under step 0 and re-run"
    }


def test_missing_airflow_connections_say_how_to_create_them(airflow_db: Path) -> None:
    from sync_engine.config import SyncConfig
    from sync_operators.setup import check_heymarket, check_salesforce

    config = SyncConfig.model_validate(
        {"heymarket": {"conn_id": "no_such_hm"}, "salesforce": {"conn_id": "no_such_sf"}}
    )
    [heymarket], team = check_heymarket(config)
    [salesforce], budget = check_salesforce(config)
    assert team is None and budget is None
    assert (heymarket.severity, heymarket.message) == (
        "error",
        "Airflow connection 'no_such_hm' does not exist",
    )
    assert heymarket.fix.startswith("create it under Admin > Connections (type Heymarket")
    assert (salesforce.severity, salesforce.message) == (
        "error",
        "Airflow connection 'no_such_sf' does not exist",
    )
    assert salesforce.fix.startswith("create it under Admin > Connections (type Salesforce)")


def test_a_missing_task_external_id_field_is_reported_with_how_to_create_it(
    org: dict[str, str], dagbag, sf_admin: AdminClient, hm_admin: AdminClient, tmp_path: Path
) -> None:  # noqa: ANN001
    """The messages DAG upserts on Heymarket_Message_Id__c: an org without it gets step 6 ✘ and the Setup path."""
    hm_admin.load({"fields": [{"title": "Preferred Language"}]})
    sf_admin.delete_field("Task", "Heymarket_Message_Id__c")
    run = SetupRun(dagbag, write_config(tmp_path, "default_inbox: Sales\n"), apply=False)

    assert run.state == "failed"
    assert run.statuses()["task_external_id"] == "failed"
    [(message, fix)] = run.errors("task_external_id").items()
    assert message == "Task has no field Heymarket_Message_Id__c"
    assert fix.startswith("in Salesforce Setup > Object Manager > Activity > Fields & Relationships > New: Text")
    assert "Task external id (messages)" in run.markdown and "- ✘ Task has no field" in run.markdown
