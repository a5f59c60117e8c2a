"""The setup DAG's pure logic: user mapping proposal, phone field counts, step results and the report.

No server and no Airflow: the describe fixture is the Salesforce emulator's Contact and Lead describe.
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import pytest

from sync_engine.config import (
    ConfigError,
    ConfigProblem,
    SetupConfig,
    SyncConfig,
    load_config,
    validate_against_describe,
)
from sync_engine.setup_report import (
    STEPS,
    AssignmentOutcome,
    HeymarketUser,
    PermissionSetCheck,
    PhoneFieldCounter,
    PhoneFieldStats,
    SalesforceUser,
    SetupReport,
    StepResult,
    config_step,
    creatable_titles,
    default_inbox_step,
    field_mapping_step,
    mapping_rows,
    phone_field_labels,
    phone_fields_step,
    propose_user_mapping,
    required_fields,
    salesforce_budget_findings,
    split_problems,
    user_mapping_step,
    users_to_assign,
)

REPO = Path(__file__).resolve().parents[2]
DESCRIBES: dict[str, dict] = json.loads(
    (Path(__file__).parent / "fixtures" / "salesforce_describe.json").read_text(encoding="utf-8")
)

ALEX = SalesforceUser(
    "005000000000001AAA", "alex@org.example.com", "Alex.Morgan@Team.example.com", "Alex Morgan"
)
PRIYA = SalesforceUser("005000000000002AAA", "priya@org.example.com", "priya@team.example.com", "Priya Shah")
CHRIS = SalesforceUser(
    "005000000000003AAA", "chris@org.example.com", "chris@elsewhere.example.com", "Chris Wong"
)
BOT = SalesforceUser(
    "005000000000004AAA", "integration@org.example.com", "integration@org.example.com", "Bot"
)
HM_ALEX = HeymarketUser(501, "alex.morgan@team.example.com", "Alex Morgan")
HM_PRIYA = HeymarketUser(502, "priya@team.example.com", "Priya Shah")
HM_JORDAN = HeymarketUser(503, "jordan@team.example.com", "Jordan Lee")
SF_USERS = [PRIYA, CHRIS, ALEX, BOT]
HM_USERS = [HM_JORDAN, HM_PRIYA, HM_ALEX]
PERMISSION_SET = PermissionSetCheck(
    "Heymarket_User", "0PS000000000001AAA", ("Heymarket_Admin", "Heymarket_User")
)


def setup(**values: object) -> SetupConfig:
    return SetupConfig.model_validate(values)


def config(**values: object) -> SyncConfig:
    return SyncConfig.model_validate(values)


# --------------------------------------------------------------------------------------------- user mapping


def test_users_match_by_email_ignoring_case_and_the_rest_is_reported_on_both_sides() -> None:
    proposal = propose_user_mapping(SF_USERS, HM_USERS, setup())
    assert [(m.sf.id, m.hm.id, m.source) for m in proposal.matches] == [
        (ALEX.id, 501, "email"),
        (PRIYA.id, 502, "email"),
    ]
    assert proposal.unmatched_salesforce == (CHRIS, BOT)
    assert proposal.unmatched_heymarket == (HM_JORDAN,)
    assert proposal.problems == ()


def test_overrides_win_over_email_by_username_or_email_and_exclusions_drop_users() -> None:
    rules = setup(
        user_mapping={
            "CHRIS@org.example.com": "Jordan@Team.example.com",
            "priya@team.example.com": "alex.morgan@team.example.com",
        },
        exclude_users=["Integration@org.example.com"],
    )
    proposal = propose_user_mapping(SF_USERS, HM_USERS, rules)
    assert [(m.sf.id, m.hm.id, m.source) for m in proposal.matches] == [
        (ALEX.id, 501, "email"),
        (CHRIS.id, 503, "override"),
        (PRIYA.id, 501, "override"),
    ]
    assert proposal.excluded == (BOT,)
    assert proposal.unmatched_salesforce == ()
    assert proposal.unmatched_heymarket == (HM_PRIYA,)


def test_override_to_an_unknown_heymarket_email_is_an_error_that_says_to_invite() -> None:
    proposal = propose_user_mapping(
        SF_USERS, HM_USERS, setup(user_mapping={"chris@org.example.com": "new@team.example.com"})
    )
    [problem] = proposal.problems
    assert problem.severity == "error"
    assert "invite new@team.example.com in Heymarket" in problem.fix
    assert problem.subject_ref == "setup.user_mapping[0]" and "@" not in problem.subject_ref
    # Chris is neither mapped by e-mail nor listed again as "to invite": the error covers him.
    assert CHRIS.id not in {m.sf.id for m in proposal.matches}
    assert CHRIS not in proposal.unmatched_salesforce


def test_config_entries_that_name_nobody_are_reported() -> None:
    proposal = propose_user_mapping(
        SF_USERS,
        HM_USERS,
        setup(
            user_mapping={"gone@org.example.com": "jordan@team.example.com"},
            exclude_users=["old@org.example.com"],
        ),
    )
    by_path = {p.path: p for p in proposal.problems}
    assert by_path["setup.user_mapping[0]"].severity == "error"
    assert "no active Salesforce user" in by_path["setup.user_mapping[0]"].message
    assert by_path["setup.exclude_users[0]"].severity == "warning"


def test_a_user_both_mapped_and_excluded_is_an_error() -> None:
    proposal = propose_user_mapping(
        SF_USERS,
        HM_USERS,
        setup(
            user_mapping={"alex@org.example.com": "jordan@team.example.com"},
            exclude_users=["alex.morgan@team.example.com"],
        ),
    )
    assert [p.message for p in proposal.problems] == [
        "this user is mapped in setup.user_mapping and also excluded in setup.exclude_users"
    ]
    assert ALEX in proposal.excluded and ALEX.id not in {m.sf.id for m in proposal.matches}


def test_two_salesforce_logins_of_one_person_share_a_heymarket_user() -> None:
    second = SalesforceUser(
        "005000000000009AAA", "alex.admin@org.example.com", "alex.morgan@team.example.com"
    )
    proposal = propose_user_mapping([ALEX, second], HM_USERS, setup())
    assert [(m.sf.id, m.hm.id) for m in proposal.matches] == [(second.id, 501), (ALEX.id, 501)]


def test_proposal_is_deterministic_whatever_the_input_order() -> None:
    first = propose_user_mapping(SF_USERS, HM_USERS, setup())
    assert propose_user_mapping(list(reversed(SF_USERS)), list(reversed(HM_USERS)), setup()) == first


def test_only_users_without_the_permission_set_are_assigned() -> None:
    proposal = propose_user_mapping(SF_USERS, HM_USERS, setup())
    having = PermissionSetCheck("Heymarket_User", "0PS000000000001AAA", assigned=frozenset({ALEX.id}))
    assert users_to_assign(proposal, having) == [PRIYA.id]
    assert users_to_assign(proposal, PERMISSION_SET) == [ALEX.id, PRIYA.id]


def test_report_mode_says_what_apply_would_do_and_logs_carry_ids_only() -> None:
    proposal = propose_user_mapping(SF_USERS, HM_USERS, setup())
    result = user_mapping_step(proposal, PERMISSION_SET, apply=False)
    assert result.ok
    assert result.facts["would_assign"] == 2
    assert "would be assigned to 2 user(s)" in result.findings[0].message
    invite = [f for f in result.findings if "must be invited" in f.message]
    assert [f.subject_ref for f in invite] == [f"Salesforce user {CHRIS.id}", f"Salesforce user {BOT.id}"]
    report = SetupReport((result,), apply=False, run_id="r", config_path="c.yaml", generated_at="now")
    assert "chris@elsewhere.example.com" in report.to_markdown(personal=True)
    assert "@" not in report.to_markdown(personal=False).replace("c.yaml", "")


def test_apply_counts_duplicate_value_as_already_assigned_and_reports_real_failures() -> None:
    proposal = propose_user_mapping(
        SF_USERS, HM_USERS, setup(user_mapping={"chris@org.example.com": "jordan@team.example.com"})
    )
    outcomes = [
        AssignmentOutcome(ALEX.id, True),
        AssignmentOutcome(CHRIS.id, False, "DUPLICATE_VALUE", "Duplicate PermissionSetAssignment"),
        AssignmentOutcome(PRIYA.id, False, "INSUFFICIENT_ACCESS", "license does not allow it"),
    ]
    result = user_mapping_step(proposal, PERMISSION_SET, apply=True, outcomes=outcomes, saved_to="table x")
    assert result.status == "failed"
    assert (
        result.facts["assigned_now"],
        result.facts["already_assigned"],
        result.facts["assignment_failures"],
    ) == (1, 1, 1)
    errors = [f for f in result.findings if f.severity == "error"]
    assert len(errors) == 1 and "INSUFFICIENT_ACCESS" in errors[0].message
    assert "Assign Permission Sets" in errors[0].fix
    assert any("saved to table x" in f.message for f in result.findings)


def test_unknown_permission_set_fails_the_step_and_lists_the_real_names() -> None:
    proposal = propose_user_mapping(SF_USERS, HM_USERS, setup())
    missing = PermissionSetCheck("Heymarket_Users", None, ("Heymarket_Admin", "Heymarket_User"))
    result = user_mapping_step(proposal, missing, apply=True)
    assert result.status == "failed"
    assert (
        result.findings[0].message == "Salesforce has no permission set with the API name 'Heymarket_Users'"
    )
    assert "Heymarket_Admin, Heymarket_User" in result.findings[0].fix


def test_mapping_rows_hold_ids_and_the_assignment() -> None:
    proposal = propose_user_mapping([ALEX], HM_USERS, setup())
    assert mapping_rows(proposal, "Heymarket_User", {ALEX.id: "0Pa000000000001AAA"}) == [
        {
            "sf_user_id": ALEX.id,
            "sf_username": ALEX.username,
            "sf_email": ALEX.email,
            "hm_user_id": 501,
            "hm_email": HM_ALEX.email,
            "source": "email",
            "permission_set": "Heymarket_User",
            "assignment_id": "0Pa000000000001AAA",
        }
    ]


# --------------------------------------------------------------------------------------------- setup config


def test_setup_section_defaults_and_every_key_is_documented() -> None:
    assert SyncConfig().setup == SetupConfig(
        permission_set="Heymarket_User", user_mapping={}, exclude_users=()
    )
    text = (REPO / "include" / "mappings" / "example-full.yaml").read_text(encoding="utf-8")
    assert [name for name in SetupConfig.model_fields if f"{name}:" not in text] == []
    assert (
        load_config(REPO / "include" / "mappings" / "example-full.yaml").setup.permission_set
        == "Heymarket_User"
    )


def test_setup_section_mistakes_are_reported_with_their_fix(tmp_path: Path) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text(
        textwrap.dedent("""\
        setup:
          permission_set: Heymarket User
          user_mapping:
            Alex@org.example.com: alex@team.example.com
            alex@ORG.example.com: other@team.example.com
          exclude_users: [alex@org.example.com, not-an-email]
        """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    messages = {p.path: str(p) for p in info.value.problems}
    assert "'Heymarket User' is not a valid name" in messages["setup.permission_set"]
    assert "is not an e-mail address" in messages["setup.exclude_users[1]"]


def test_setup_users_named_twice_or_mapped_and_excluded_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text(
        textwrap.dedent("""\
        setup:
          user_mapping:
            a@x.example.com: b@x.example.com
            A@X.example.com: c@x.example.com
          exclude_users: [a@x.example.com]
        """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    messages = {p.path: str(p) for p in info.value.problems}
    assert (
        "A@X.example.com is mapped twice (also as a@x.example.com"
        in messages["setup.user_mapping.A@X.example.com"]
    )
    assert (
        "both mapped in user_mapping and listed in exclude_users — keep it in one of them"
        in (messages["setup.exclude_users[0]"])
    )


# --------------------------------------------------------------------------------------------- steps 0-2


def test_config_step_lists_every_problem_with_line_and_fix() -> None:
    ok = config_step("sync.yaml", [])
    assert ok.ok and ok.findings == ()
    bad = config_step(
        "sync.yaml",
        [ConfigProblem("objects.Lead.scope", "'x' is not allowed", "must be one of: all", line=7)],
    )
    assert bad.status == "failed"
    assert bad.findings[0].path == "objects.Lead.scope (line 7)"
    assert bad.findings[0].fix == "must be one of: all"


def test_budget_below_the_reserve_is_a_warning() -> None:
    [ok] = salesforce_budget_findings("sf", 100, 15_000, 1_000)
    assert ok.severity == "ok" and "14,900 left" in ok.message
    low = salesforce_budget_findings("sf", 14_500, 15_000, 1_000)
    assert [f.severity for f in low] == ["ok", "warning"]
    assert low[1].path == "salesforce.min_daily_api_remaining"


INBOXES = [{"id": 9001, "name": "Sales"}, {"id": 9002, "name": "Support"}]


@pytest.mark.parametrize(
    ("configured", "status", "severities"),
    [
        ("Sales", "ok", ["info", "ok"]),
        ("9002", "ok", ["info", "ok"]),
        ("sales", "ok", ["info", "ok", "warning"]),
        (None, "ok", ["info", "warning"]),
        ("Marketing", "failed", ["info", "error"]),
    ],
)
def test_default_inbox(configured: str | None, status: str, severities: list[str]) -> None:
    result = default_inbox_step(configured, INBOXES)
    assert result.status == status
    assert [f.severity for f in result.findings] == severities


def test_unknown_inbox_names_the_choices() -> None:
    error = default_inbox_step("Marketing", INBOXES).findings[-1]
    assert error.message == "Heymarket has no inbox 'Marketing' (by name or id)"
    assert error.fix.startswith("set default_inbox to one of: Sales (9001), Support (9002)")


def test_no_visible_inbox_is_an_error() -> None:
    assert default_inbox_step("Sales", []).status == "failed"


# --------------------------------------------------------------------------------------------- step 4: phones


def test_phone_counter_counts_values_and_valid_numbers_across_pages_and_fields() -> None:
    counter = PhoneFieldCounter("Contact", {"Phone": "Business Phone", "MobilePhone": "Mobile"}, "US")
    counter.add(
        [
            {"Id": "1", "Phone": "(415) 555-2671", "MobilePhone": None},
            {"Id": "2", "Phone": "+44 20 7946 0958", "MobilePhone": "415.555.2671"},
            {"Id": "3", "Phone": "12345", "MobilePhone": ""},
        ]
    )
    counter.add([{"Id": "4", "Phone": "not a phone", "MobilePhone": "  "}, {"Id": "5", "Phone": None}])
    assert counter.stats() == [
        PhoneFieldStats(
            "Contact",
            "Phone",
            "Business Phone",
            records=5,
            filled=4,
            valid=2,
            unusable=(("not_possible", 1), ("unparseable", 1)),
        ),
        PhoneFieldStats("Contact", "MobilePhone", "Mobile", records=5, filled=1, valid=1),
    ]


def test_phone_counter_parses_each_distinct_value_once() -> None:
    counter = PhoneFieldCounter("Lead", {"Phone": "Phone", "MobilePhone": "Mobile"}, "US")
    counter.add([{"Phone": "(415) 555-2671", "MobilePhone": "(415) 555-2671"}] * 3)
    counter.add([{"Phone": "(415) 555-2671", "MobilePhone": "12345"}])
    assert set(counter._cache) == {"(415) 555-2671", "12345"}
    assert [(s.filled, s.valid) for s in counter.stats()] == [(4, 4), (4, 3)]


def test_phone_counter_uses_the_default_region_for_national_numbers() -> None:
    gb = PhoneFieldCounter("Lead", {"Phone": "Phone"}, "GB")
    gb.add([{"Phone": "020 7946 0958"}, {"Phone": "(415) 555-2671"}])
    assert gb.stats()[0].valid == 1


def test_phone_field_labels_come_from_describe() -> None:
    assert phone_field_labels(DESCRIBES["Lead"]) == {
        "Phone": "Phone",
        "MobilePhone": "Mobile Phone",
        "Fax": "Fax",
    }


def stats(obj: str, records: int, **fields: tuple[int, int]) -> list[PhoneFieldStats]:
    """Stats whose unusable values are all ``invalid``."""
    return [
        PhoneFieldStats(
            obj, name, name, records, filled, valid, (("invalid", filled - valid),) if filled > valid else ()
        )
        for name, (filled, valid) in fields.items()
    ]


def test_phone_step_lists_every_field_and_approves_a_good_default() -> None:
    cfg = config(objects={"Lead": {"enabled": False}})
    result = phone_fields_step(
        cfg, {"Contact": stats("Contact", 100, Phone=(90, 85), MobilePhone=(20, 20))}, []
    )
    assert result.ok
    lines = [f.message for f in result.findings]
    assert (
        lines[0]
        == "Contact.Phone (Phone): 90 of 100 records have a value, 85 valid E.164 (94%); 5 not usable (invalid 5)"
        " ← default phone field"
    )
    assert lines[-1] == "Contact default phone field Phone: 85 valid numbers"
    assert result.facts["Contact"]["fields"]["Phone"] == {
        "label": "Phone",
        "filled": 90,
        "valid": 85,
        "unusable": {"invalid": 5},
    }


def test_phone_step_warns_about_an_empty_or_weaker_default_field_and_the_guard() -> None:
    cfg = config(objects={"Lead": {"enabled": False}})
    empty = phone_fields_step(cfg, {"Contact": stats("Contact", 50, Phone=(0, 0), MobilePhone=(40, 40))}, [])
    assert [f.severity for f in empty.findings][-1] == "warning"
    assert "phone_field: MobilePhone" in empty.findings[-1].fix
    weaker = phone_fields_step(
        cfg, {"Contact": stats("Contact", 100, Phone=(30, 30), MobilePhone=(80, 70))}, []
    )
    assert "MobilePhone holds 70 valid numbers, Phone only 30" in weaker.findings[-1].message
    messy = phone_fields_step(cfg, {"Contact": stats("Contact", 100, Phone=(90, 50))}, [])
    assert "above guards.max_invalid_phone_share (25%)" in messy.findings[-1].message
    assert messy.ok  # warnings do not fail the step


def test_phone_step_fails_when_the_default_field_is_not_a_phone_field() -> None:
    cfg = config(objects={"Contact": {"phone_field": "Email"}, "Lead": {"enabled": False}})
    problems, _ = split_problems(validate_against_describe(cfg, DESCRIBES, []))
    result = phone_fields_step(cfg, {"Contact": stats("Contact", 10, Phone=(5, 5))}, problems)
    assert result.status == "failed"
    assert result.findings[0].message == "Contact.Email is of type email, not a phone field"
    assert result.findings[0].fix.startswith("choose one of the phone fields: ")


# --------------------------------------------------------------------------------------------- step 5: fields


def mapping_config(**top: object) -> SyncConfig:
    return config(
        **{
            "auto_create": "Lead",
            "objects": {
                "Contact": {
                    "fields": [
                        {"salesforce": "Birthdate", "heymarket": "Birthday"},
                        {"salesforce": "Favourite_Colour__c", "heymarket": "Colour"},
                        {"salesforce": "Customer_Tier__c", "heymarket": "Customer Tier"},
                    ]
                },
                "Lead": {
                    "fields": [{"salesforce": "Preferred_Language__c", "heymarket": "Preferred Language"}]
                },
            },
            **top,
        }
    )


def field_step(
    cfg: SyncConfig, hm_fields: list[dict] | None, apply: bool = False, created: tuple = ()
) -> StepResult:
    problems = validate_against_describe(cfg, DESCRIBES, hm_fields or [])
    if hm_fields is None:
        problems = [p for p in problems if not p.path.endswith(".heymarket")]
    _, other = split_problems(problems)
    required = [r for obj in cfg.enabled_objects() for r in required_fields(cfg, obj, DESCRIBES[obj])]
    return field_mapping_step(cfg, other, required, heymarket_fields=hm_fields, created=created, apply=apply)


def test_field_step_reports_forbidden_types_unknown_fields_and_missing_required_defaults() -> None:
    result = field_step(mapping_config(), [{"id": 1, "title": "Customer Tier"}])
    assert result.status == "failed"
    errors = {f.message: f.fix for f in result.findings if f.severity == "error"}
    assert (
        errors["Contact.Birthdate is a date field and can't be mapped"]
        == "date fields can't be mapped; use a text field"
    )
    assert errors["Contact has no field 'Favourite_Colour__c'"].startswith(
        "check the API name in Setup > Object Manager"
    )
    assert errors["Lead.Company is required to create a Lead"] == "add objects.Lead.required_defaults.Company"
    assert "Heymarket has no custom field titled 'Preferred Language'" in errors
    # Only the title whose Salesforce side works would be created; Birthday and Colour would be clutter.
    assert result.facts["would_create"] == ["Preferred Language"]


def test_required_defaults_are_reported_for_every_object() -> None:
    cfg = config(auto_create="Contact", objects={"Lead": {"required_defaults": {"Company": "Unknown"}}})
    assert [
        (r.object, r.field, r.default)
        for obj in cfg.enabled_objects()
        for r in required_fields(cfg, obj, DESCRIBES[obj])
    ] == [("Lead", "Company", "Unknown")]
    result = field_step(cfg, [])
    assert any(
        f.message == "Lead.Company is required to create a Lead: default 'Unknown' configured"
        for f in result.findings
    )
    without = field_step(config(auto_create="Contact"), [])
    note = [f for f in without.findings if f.path == "objects.Lead.required_defaults.Company"]
    assert [(f.severity, f.message) for f in note] == [
        (
            "info",
            "Lead.Company is required to create a Lead; no default configured "
            "(needed only with auto_create: Lead)",
        )
    ]


def test_field_step_without_heymarket_checks_the_salesforce_side_only() -> None:
    result = field_step(mapping_config(), None)
    messages = [f.message for f in result.findings]
    assert "Heymarket custom fields not checked: the Heymarket connection failed" in messages
    assert not any("no custom field titled" in m for m in messages)
    assert "Contact.Birthdate is a date field and can't be mapped" in messages


def test_field_step_after_apply_lists_created_fields_and_passes() -> None:
    cfg = config(
        auto_create="none",
        objects={
            "Lead": {"enabled": False},
            "Contact": {"fields": [{"salesforce": "Customer_Tier__c", "heymarket": "Customer Tier"}]},
        },
    )
    result = field_step(
        cfg, [{"id": 7, "title": "Customer Tier"}], apply=True, created=({"id": 7, "title": "Customer Tier"},)
    )
    assert result.ok
    assert "created Heymarket custom field 'Customer Tier' (id 7)" in [f.message for f in result.findings]
    assert result.facts["created"] == ["Customer Tier"]


def test_creatable_titles_skip_case_variants_and_broken_mappings() -> None:
    cfg = mapping_config()
    problems = validate_against_describe(cfg, DESCRIBES, [])
    assert creatable_titles(cfg, [{"id": 1, "title": "customer tier"}], problems) == ["Preferred Language"]
    assert creatable_titles(cfg, [], problems) == ["Customer Tier", "Preferred Language"]


def test_problems_split_between_phone_step_and_field_step() -> None:
    problems = [
        ConfigProblem("objects.Lead.phone_field", "p", "f"),
        ConfigProblem("objects.Lead.fields[0].salesforce", "p", "f"),
    ]
    phone, other = split_problems(problems)
    assert [p.path for p in phone] == ["objects.Lead.phone_field"]
    assert [p.path for p in other] == ["objects.Lead.fields[0].salesforce"]


# --------------------------------------------------------------------------------------------- the report


def test_report_reads_top_to_bottom_with_a_mark_per_step_and_a_fix_per_problem() -> None:
    steps = (
        config_step("sync.yaml", []),
        StepResult.build("credentials", "Working connections: Heymarket.", []),
        default_inbox_step("Marketing", INBOXES),
        StepResult.skipped("user_mapping", "the Salesforce connection failed", "fix step 1 and re-run"),
    )
    report = SetupReport(
        steps, apply=False, run_id="manual__1", config_path="sync.yaml", generated_at="2026-11-24"
    )
    text = report.to_markdown()
    assert not report.ok
    assert report.headline() == "✘ 2 of 4 steps need attention: Default inbox, User mapping"
    headers = [line for line in text.splitlines() if line.startswith("## ")]
    assert headers == [
        "## ✔ 0. Configuration file",
        "## ✔ 1. Credentials",
        "## ✘ 2. Default inbox",
        "## ✘ 3. User mapping",
    ]
    assert "- ✘ Heymarket has no inbox 'Marketing' (by name or id) (`default_inbox`)" in text
    assert "  - **Fix:** set default_inbox to one of: Sales (9001), Support (9002)" in text
    assert "- ✘ not checked: the Salesforce connection failed" in text
    assert "report only (apply=false): nothing was changed" in text


def test_report_json_round_trips_every_step() -> None:
    steps = (default_inbox_step("sales", INBOXES), StepResult.skipped("phone_fields", "x", "y"))
    report = SetupReport(steps, apply=True, run_id="r", config_path="c", generated_at="t")
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["apply"] is True
    assert [StepResult.from_dict(s) for s in data["steps"]] == list(steps)
    assert [s["title"] for s in data["steps"]] == ["Default inbox", "Phone fields"]


def test_warnings_do_not_fail_but_show_in_the_headline() -> None:
    report = SetupReport(
        (default_inbox_step(None, INBOXES),), apply=False, run_id="r", config_path="c", generated_at="t"
    )
    assert report.ok
    assert report.headline() == "✔ all 1 steps passed (1 warning(s) worth a look)"


def test_step_results_refuse_unknown_states_read_back_from_files() -> None:
    raw = copy.deepcopy(StepResult.build("credentials", "s", []).as_dict())
    raw["status"] = "great"
    with pytest.raises(ValueError, match="'great' is not one of ok, failed, skipped"):
        StepResult.from_dict(raw)


def test_steps_are_numbered_in_the_guides_order() -> None:
    assert [step for step, _ in STEPS] == [
        "config",
        "credentials",
        "default_inbox",
        "user_mapping",
        "phone_fields",
        "field_mapping",
    ]
