"""Step 3, user mapping: the proposal, what apply assigns, and the rows the state store keeps."""

from __future__ import annotations

from sync_engine.setup.report import SetupReport
from sync_engine.setup.user_mapping import (
    AssignmentOutcome,
    PermissionSetCheck,
    SalesforceUser,
    apply_user_mapping,
    mapping_rows,
    propose_user_mapping,
    read_user_mapping,
    user_mapping_step,
    users_to_assign,
)
from tests.unit.setup.data import (
    ALEX,
    BOT,
    CHRIS,
    HM_ALEX,
    HM_JORDAN,
    HM_PRIYA,
    HM_USERS,
    PERMISSION_SET,
    PRIYA,
    SF_USERS,
    setup,
)


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


# --------------------------------------------------------------------------------------------- the step with a fake org


class FakeUserAdmin:
    """The org as the step sees it: users, permission sets, assignments; every call is recorded."""

    def __init__(self, users: list[SalesforceUser], assigned: dict[str, str], refuse: dict[str, str]) -> None:
        self.users = users
        self.assigned = dict(assigned)
        self.refuse = refuse
        self.calls: list[str] = []

    def active_users(self) -> list[dict[str, object]]:
        self.calls.append("active_users")
        return [{"Id": u.id, "Username": u.username, "Email": u.email, "Name": u.name} for u in self.users]

    def permission_sets(self) -> list[dict[str, object]]:
        self.calls.append("permission_sets")
        return [{"Id": "0PS000000000009AAA", "Name": "Heymarket_Admin"},
                {"Id": PERMISSION_SET.id, "Name": "Heymarket_User"}]

    def assignments_by_user(self, permission_set_id: str) -> dict[str, str]:
        self.calls.append(f"assignments {permission_set_id}")
        return dict(self.assigned) if permission_set_id == PERMISSION_SET.id else {}

    def assign(self, permission_set_id: str, user_ids: list[str]) -> list[tuple[bool, str | None, str]]:
        self.calls.append(f"assign {permission_set_id} {','.join(user_ids)}")
        answers: list[tuple[bool, str | None, str]] = []
        for user_id in user_ids:
            if user_id in self.refuse:
                answers.append((False, self.refuse[user_id], "refused"))
            else:
                self.assigned[user_id] = f"0Pa{user_id[3:]}"
                answers.append((True, None, ""))
        return answers


def hm_members() -> list[dict[str, object]]:
    return [{"id": u.id, "email": u.email, "name": u.name} for u in HM_USERS]


def test_the_step_reads_salesforce_then_heymarket_and_finds_the_permission_set() -> None:
    admin = FakeUserAdmin(SF_USERS, {ALEX.id: "0Pa000000000001AAA"}, {})
    order: list[str] = []

    def members() -> list[dict[str, object]]:
        order.append(admin.calls[-1])
        return hm_members()

    proposal, permission_set = read_user_mapping(admin, members, setup())
    assert order == ["active_users"]
    assert permission_set == PermissionSetCheck(
        "Heymarket_User", PERMISSION_SET.id, ("Heymarket_Admin", "Heymarket_User"), frozenset({ALEX.id}))
    assert sorted(m.sf.id for m in proposal.matches) == [ALEX.id, PRIYA.id]


def test_an_unknown_permission_set_is_not_looked_up_further() -> None:
    admin = FakeUserAdmin(SF_USERS, {}, {})
    _, permission_set = read_user_mapping(admin, hm_members, setup(permission_set="Nope"))
    assert (permission_set.id, permission_set.available) == (None, ("Heymarket_Admin", "Heymarket_User"))
    assert not any(call.startswith("assignments") for call in admin.calls)
    proposal, _ = read_user_mapping(admin, hm_members, setup(permission_set="Nope"))
    outcomes, rows = apply_user_mapping(admin, proposal, permission_set)
    assert outcomes == [] and not any(call.startswith("assign ") for call in admin.calls)
    assert {row["permission_set"] for row in rows} == {None}


def test_apply_assigns_only_the_missing_users_and_the_rows_carry_every_assignment() -> None:
    admin = FakeUserAdmin(SF_USERS, {ALEX.id: "0Pa000000000001AAA"}, {PRIYA.id: "DUPLICATE_VALUE"})
    proposal, permission_set = read_user_mapping(admin, hm_members, setup())
    outcomes, rows = apply_user_mapping(admin, proposal, permission_set)
    assert f"assign {PERMISSION_SET.id} {PRIYA.id}" in admin.calls
    assert outcomes == [AssignmentOutcome(PRIYA.id, False, "DUPLICATE_VALUE", "refused")]
    assert outcomes[0].already_assigned
    by_user = {row["sf_user_id"]: row for row in rows}
    assert by_user[ALEX.id]["assignment_id"] == "0Pa000000000001AAA"
    assert by_user[PRIYA.id]["assignment_id"] is None
    assert {row["permission_set"] for row in rows} == {"Heymarket_User"}
    assert user_mapping_step(proposal, permission_set, apply=True, outcomes=outcomes, saved_to="t").ok
