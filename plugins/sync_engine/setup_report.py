"""What the ``heymarket_setup`` DAG decides and how it tells the admin: pure logic, no Airflow, no I/O.

The managed package walked an admin through setup screens (API key, default inbox, user mapping, phone
fields, field mapping, required defaults) and showed a yellow tick per finished screen. The setup DAG does
the same checks in tasks; each task turns what it read into a :class:`StepResult` with this module, and
the last task renders all of them as one report an admin reads top to bottom: ✔ or ✘ per step, and for
every ✘ what to do about it.

Personal data: names and e-mails of users appear only as a finding's ``subject``, which the report
artifact shows and the task log replaces with the record ids in ``subject_ref``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

import pandas as pd

from .phones import PhoneCache, normalise_phones

if TYPE_CHECKING:
    from .config import ConfigProblem, Describe, SetupConfig, SyncConfig
    from .vocabulary import ObjectName

LiteralT = TypeVar("LiteralT", bound=str)
Status = Literal["ok", "failed", "skipped"]
Severity = Literal["ok", "info", "warning", "error"]
#: JSON-able values (counts, ids, names of fields) that go into the JSON artifact as they are.
Facts = dict[str, object]

#: The steps in report order: (id, title). Step 0 is the config file itself.
STEPS: tuple[tuple[str, str], ...] = (
    ("config", "Configuration file"),
    ("credentials", "Credentials"),
    ("default_inbox", "Default inbox"),
    ("user_mapping", "User mapping"),
    ("phone_fields", "Phone fields"),
    ("field_mapping", "Field mapping"),
)
STEP_TITLES: dict[str, str] = dict(STEPS)
_MARKS: dict[str, str] = {"ok": "✔", "info": "•", "warning": "⚠", "error": "✘"}
_SEVERITIES: tuple[Severity, ...] = ("ok", "info", "warning", "error")
_STATUSES: tuple[Status, ...] = ("ok", "failed", "skipped")


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Finding:
    """One line of a step: something checked, counted, changed or wrong.

    :param severity: ``error`` makes the step ✘; ``warning`` is worth a look but does not fail the step.
    :param message: what was found, without personal data.
    :param fix: what the admin should do (required for errors and warnings).
    :param path: the config key it is about, if any (``objects.Lead.required_defaults.Company``).
    :param subject: who or what it is about when that is personal data (a user's name and e-mail);
        shown in the report artifact only.
    :param subject_ref: the stand-in for *subject* in task logs (e.g. ``Salesforce user 005...``).
    """

    severity: Severity
    message: str
    fix: str = ""
    path: str = ""
    subject: str | None = None
    subject_ref: str | None = None

    def as_dict(self) -> Facts:
        return {
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
            "path": self.path,
            "subject": self.subject,
            "subject_ref": self.subject_ref,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Finding:
        return cls(
            severity=_one_of(raw["severity"], _SEVERITIES),
            message=str(raw["message"]),
            fix=str(raw.get("fix") or ""),
            path=str(raw.get("path") or ""),
            subject=_opt_str(raw.get("subject")),
            subject_ref=_opt_str(raw.get("subject_ref")),
        )

    def render(self, personal: bool) -> list[str]:
        """Markdown list item(s); *personal* selects ``subject`` over ``subject_ref``."""
        who = self.subject if personal and self.subject else self.subject_ref
        text = f"{who}: {self.message}" if who else self.message
        if self.path and self.path not in text:
            text += f" (`{self.path}`)"
        lines = [f"- {_MARKS[self.severity]} {text}"]
        if self.fix and self.severity in ("error", "warning"):
            lines.append(f"  - **Fix:** {self.fix}")
        return lines


@dataclass(frozen=True)
class StepResult:
    """The outcome of one setup step.

    :param step: the step id (see :data:`STEPS`).
    :param status: ``failed`` when a finding is an error; ``skipped`` when the step could not run
        because an earlier one failed (also a ✘: nothing was verified).
    :param summary: one line, no personal data.
    :param facts: counts and ids for the JSON artifact.
    """

    step: str
    status: Status
    summary: str
    findings: tuple[Finding, ...] = ()
    facts: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def build(
        cls, step: str, summary: str, findings: Iterable[Finding], facts: Mapping[str, object] | None = None
    ) -> StepResult:
        """A step that ran: ✘ as soon as one finding is an error."""
        found = tuple(findings)
        status: Status = "failed" if any(f.severity == "error" for f in found) else "ok"
        return cls(step, status, summary, found, dict(facts or {}))

    @classmethod
    def skipped(cls, step: str, reason: str, fix: str) -> StepResult:
        """A step that could not run; *fix* says which earlier problem to solve first."""
        return cls(
            step, "skipped", f"not checked: {reason}", (Finding("error", f"not checked: {reason}", fix),)
        )

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def title(self) -> str:
        return STEP_TITLES.get(self.step, self.step)

    def as_dict(self) -> Facts:
        return {
            "step": self.step,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "findings": [f.as_dict() for f in self.findings],
            "facts": dict(self.facts),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> StepResult:
        findings = raw.get("findings")
        facts = raw.get("facts")
        return cls(
            step=str(raw["step"]),
            status=_one_of(raw["status"], _STATUSES),
            summary=str(raw.get("summary") or ""),
            findings=tuple(Finding.from_dict(f) for f in (findings if isinstance(findings, list) else [])),
            facts=dict(facts) if isinstance(facts, Mapping) else {},
        )


@dataclass(frozen=True)
class SetupReport:
    """Every step of one setup run, renderable as Markdown (for people) and JSON (for tools)."""

    steps: tuple[StepResult, ...]
    apply: bool
    run_id: str
    config_path: str
    generated_at: str

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def failed_steps(self) -> list[StepResult]:
        return [step for step in self.steps if not step.ok]

    def headline(self) -> str:
        """One line: ✔ or ✘, which steps failed, and whether warnings are worth reading."""
        warnings = sum(f.severity == "warning" for step in self.steps for f in step.findings)
        note = f" ({warnings} warning(s) worth a look)" if warnings else ""
        failed = self.failed_steps
        if not failed:
            return f"✔ all {len(self.steps)} steps passed{note}"
        names = ", ".join(step.title for step in failed)
        return f"✘ {len(failed)} of {len(self.steps)} steps need attention: {names}{note}"

    def to_markdown(self, personal: bool = True) -> str:
        """The admin's report.

        :param personal: show users' names and e-mails (the artifact); ``False`` shows record ids only
            (the task log).
        """
        mode = (
            "apply (apply=true): changes were made where a step says so"
            if self.apply
            else "report only (apply=false): nothing was changed"
        )
        lines = [
            "# Heymarket setup report",
            "",
            f"- **Result:** {self.headline()}",
            f"- **Mode:** {mode}",
            f"- **Config:** `{self.config_path}`",
            f"- **Run:** `{self.run_id}` at {self.generated_at}",
        ]
        for number, step in enumerate(self.steps):
            mark = "✔" if step.ok else "✘"
            lines += ["", f"## {mark} {number}. {step.title}", "", step.summary, ""]
            for finding in step.findings:
                lines += finding.render(personal)
        return "\n".join(lines).rstrip() + "\n"

    def to_json(self) -> str:
        return json.dumps(
            {
                "ok": self.ok,
                "apply": self.apply,
                "run_id": self.run_id,
                "config_path": self.config_path,
                "generated_at": self.generated_at,
                "headline": self.headline(),
                "steps": [step.as_dict() for step in self.steps],
            },
            indent=2,
            ensure_ascii=False,
        )


def problem_findings(problems: Iterable[ConfigProblem]) -> list[Finding]:
    """Config problems (load-time or against describe) as findings, errors first."""
    return [
        Finding(
            "error" if p.severity == "error" else "warning",
            p.problem,
            p.fix,
            path=p.path + (f" (line {p.line})" if p.line else ""),
        )
        for p in sorted(problems, key=lambda p: p.severity != "error")
    ]


def config_step(path: str, problems: Sequence[ConfigProblem]) -> StepResult:
    """Step 0: the YAML file loads and follows the model's rules."""
    if not problems:
        return StepResult.build("config", f"`{path}` loads and follows every rule.", [])
    return StepResult.build(
        "config", f"`{path}` can't be used: {len(problems)} problem(s).", problem_findings(problems)
    )


# --------------------------------------------------------------------------------------------- 1. credentials


def heymarket_team_finding(conn_id: str, team: Mapping[str, object]) -> Finding:
    """The Heymarket side of step 1 when the credential works."""
    members = team.get("members")
    count = len(members) if isinstance(members, list) else 0
    return Finding(
        "ok",
        f"Heymarket connection '{conn_id}': connected to team '{team.get('name')}' "
        f"(id {team.get('id')}), {count} member(s)",
    )


def salesforce_budget_findings(conn_id: str, used: int, maximum: int, reserve: int) -> list[Finding]:
    """The Salesforce side of step 1: login worked, and how much of the daily API allocation is left."""
    remaining = max(maximum - used, 0)
    found = [
        Finding(
            "ok",
            f"Salesforce connection '{conn_id}': logged in; daily API requests {used:,} of "
            f"{maximum:,} used ({remaining:,} left)",
        )
    ]
    if remaining < reserve:
        found.append(
            Finding(
                "warning",
                f"only {remaining:,} daily API requests are left, below the {reserve:,} the sync keeps "
                "in reserve, so sync runs will stop early as 'partial'",
                "wait for the rolling 24 h window to recover, ask Salesforce for a larger allocation, or "
                "lower "
                "salesforce.min_daily_api_remaining",
                path="salesforce.min_daily_api_remaining",
            )
        )
    return found


# --------------------------------------------------------------------------------------------- 2. inbox


def default_inbox_step(configured: str | None, inboxes: Sequence[Mapping[str, object]]) -> StepResult:
    """Step 2: the configured default inbox (name or numeric id) is one the credential can see."""
    choices = ", ".join(f"{i.get('name')} ({i.get('id')})" for i in inboxes) or "none"
    facts: Facts = {"inboxes": [{"id": i.get("id"), "name": i.get("name")} for i in inboxes]}
    found = [Finding("info", f"inboxes visible to the connection: {choices}")]
    if not inboxes:
        found.append(
            Finding(
                "error",
                "the Heymarket connection sees no inbox at all",
                "give the API user access to an inbox in Heymarket (Admin > Inboxes)",
            )
        )
        return StepResult.build("default_inbox", "No inbox is visible.", found, facts)
    if configured is None:
        found.append(
            Finding(
                "warning",
                "no default inbox is configured",
                f"set default_inbox: to one of: {choices}",
                path="default_inbox",
            )
        )
        return StepResult.build("default_inbox", "No default inbox configured.", found, facts)
    inbox, exact = _find_inbox(configured, inboxes)
    if inbox is None:
        found.append(
            Finding(
                "error",
                f"Heymarket has no inbox '{configured}' (by name or id)",
                f"set default_inbox to one of: {choices} (or give the API user access to the "
                "inbox in Heymarket)",
                path="default_inbox",
            )
        )
        return StepResult.build("default_inbox", f"Default inbox '{configured}' not found.", found, facts)
    facts["default_inbox_id"] = inbox.get("id")
    found.append(Finding("ok", f"default inbox '{configured}' is {inbox.get('name')} (id {inbox.get('id')})"))
    if not exact:
        found.append(
            Finding(
                "warning",
                f"'{configured}' matches inbox {inbox.get('name')} only when letter case is ignored",
                f"write default_inbox: {inbox.get('name')}",
                path="default_inbox",
            )
        )
    return StepResult.build(
        "default_inbox", f"Default inbox: {inbox.get('name')} ({inbox.get('id')}).", found, facts
    )


def _find_inbox(
    configured: str, inboxes: Sequence[Mapping[str, object]]
) -> tuple[Mapping[str, object] | None, bool]:
    """The inbox *configured* names: numeric id, exact name, or the only case-insensitive name match."""
    for inbox in inboxes:
        if str(inbox.get("id")) == configured or str(inbox.get("name")) == configured:
            return inbox, True
    folded = [i for i in inboxes if str(i.get("name", "")).casefold() == configured.casefold()]
    return (folded[0], False) if len(folded) == 1 else (None, False)


# --------------------------------------------------------------------------------------------- 3. users


@dataclass(frozen=True)
class SalesforceUser:
    """An active Salesforce user (``User`` record)."""

    id: str
    username: str
    email: str
    name: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> SalesforceUser:
        return cls(
            str(record["Id"]),
            str(record.get("Username") or ""),
            str(record.get("Email") or ""),
            str(record.get("Name") or ""),
        )

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}> (Salesforce username {self.username})"

    @property
    def ref(self) -> str:
        return f"Salesforce user {self.id}"

    def known_as(self, key: str) -> bool:
        """Whether a config entry (username or e-mail, any letter case) names this user."""
        folded = key.casefold()
        return folded in (self.username.casefold(), self.email.casefold())


@dataclass(frozen=True)
class HeymarketUser:
    """A Heymarket team member (``memberships`` of ``GET /v1/users/get``)."""

    id: int
    email: str
    name: str = ""

    @classmethod
    def from_membership(cls, raw: Mapping[str, object]) -> HeymarketUser:
        return cls(int(str(raw["id"])), str(raw.get("email") or ""), str(raw.get("name") or ""))

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def ref(self) -> str:
        return f"Heymarket user {self.id}"


MatchSource = Literal["email", "override"]


@dataclass(frozen=True)
class UserMatch:
    """A proposed pair; *source* says whether the e-mails matched or the config said so."""

    sf: SalesforceUser
    hm: HeymarketUser
    source: MatchSource


@dataclass(frozen=True)
class UserMappingProposal:
    """The mapping the admin would save in the package's User Mapping screen.

    :param unmatched_salesforce: active users no Heymarket member matches: invite them in Heymarket
        (the package's "invite" link), map them in ``setup.user_mapping``, or exclude them.
    :param unmatched_heymarket: members no Salesforce user maps to (informational).
    :param problems: config entries that can't be honoured.
    """

    matches: tuple[UserMatch, ...]
    unmatched_salesforce: tuple[SalesforceUser, ...]
    unmatched_heymarket: tuple[HeymarketUser, ...]
    excluded: tuple[SalesforceUser, ...]
    problems: tuple[Finding, ...]


def propose_user_mapping(
    sf_users: Sequence[SalesforceUser],
    hm_users: Sequence[HeymarketUser],
    setup: SetupConfig,
) -> UserMappingProposal:
    """Map active Salesforce users to Heymarket users by e-mail, letter case ignored, with the config's say.

    ``setup.exclude_users`` are left out; ``setup.user_mapping`` entries (Salesforce username or e-mail ->
    Heymarket e-mail) win over the e-mail match. Several Salesforce users may share one Heymarket user
    (e.g. an admin's two logins). Deterministic: ordered by Salesforce username.

    :param sf_users: active Salesforce users.
    :param hm_users: Heymarket team members.
    :param setup: the config's ``setup`` section.
    """
    users = sorted(sf_users, key=lambda u: (u.username.casefold(), u.id))
    hm_by_email: dict[str, HeymarketUser] = {}
    for member in sorted(hm_users, key=lambda m: m.id):
        hm_by_email.setdefault(member.email.casefold(), member)
    problems: list[Finding] = []

    excluded_ids: set[str] = set()
    for index, entry in enumerate(setup.exclude_users):
        named = [u for u in users if u.known_as(entry)]
        excluded_ids.update(u.id for u in named)
        if not named:
            problems.append(
                Finding(
                    "warning",
                    "no active Salesforce user has this username or e-mail, so excluding it changes nothing",
                    "remove the entry, or correct it",
                    path=f"setup.exclude_users[{index}]",
                    subject=entry,
                    subject_ref=f"setup.exclude_users[{index}]",
                )
            )

    overridden: dict[str, UserMatch] = {}
    claimed: set[str] = set()
    for index, (key, hm_email) in enumerate(setup.user_mapping.items()):
        path = f"setup.user_mapping[{index}]"
        named = _named_by(users, key)
        claimed.update(u.id for u in named)
        if not named:
            problems.append(
                Finding(
                    "error",
                    "no active Salesforce user has this username or e-mail (inactive users are not mapped)",
                    "correct the Salesforce username or e-mail in setup.user_mapping, or remove the entry",
                    path=path,
                    subject=key,
                    subject_ref=path,
                )
            )
            continue
        for user in named:
            if user.id in excluded_ids:
                problems.append(
                    Finding(
                        "error",
                        "this user is mapped in setup.user_mapping and also excluded in setup.exclude_users",
                        "remove one of the two entries",
                        path=path,
                        subject=user.label,
                        subject_ref=user.ref,
                    )
                )
        target = hm_by_email.get(hm_email.casefold())
        if target is None:
            problems.append(
                Finding(
                    "error",
                    "setup.user_mapping maps to an e-mail no Heymarket team member has",
                    f"invite {hm_email} in Heymarket (Admin > Users) and re-run, or correct "
                    "setup.user_mapping",
                    path=path,
                    subject=f"{key} -> {hm_email}",
                    subject_ref=path,
                )
            )
            continue
        for user in named:
            if user.id not in excluded_ids:
                overridden[user.id] = UserMatch(user, target, "override")

    matches: list[UserMatch] = []
    unmatched: list[SalesforceUser] = []
    for user in users:
        if user.id in excluded_ids:
            continue
        if user.id in overridden:
            matches.append(overridden[user.id])
        elif user.id in claimed:
            continue  # its override failed and is reported; an e-mail match would contradict the config
        elif user.email.casefold() in hm_by_email:
            matches.append(UserMatch(user, hm_by_email[user.email.casefold()], "email"))
        else:
            unmatched.append(user)
    mapped_hm = {m.hm.id for m in matches}
    return UserMappingProposal(
        matches=tuple(matches),
        unmatched_salesforce=tuple(unmatched),
        unmatched_heymarket=tuple(m for m in sorted(hm_users, key=lambda m: m.id) if m.id not in mapped_hm),
        excluded=tuple(u for u in users if u.id in excluded_ids),
        problems=tuple(problems),
    )


def _named_by(users: Sequence[SalesforceUser], key: str) -> list[SalesforceUser]:
    """Users a config key names: by username if any username matches (usernames are unique), else e-mail."""
    folded = key.casefold()
    by_username = [u for u in users if u.username.casefold() == folded]
    return by_username or [u for u in users if u.email.casefold() == folded]


@dataclass(frozen=True)
class PermissionSetCheck:
    """The configured permission set as found in the org.

    :param id: its Id, ``None`` when no permission set has that API name.
    :param available: API names of the org's assignable permission sets (for the fix text).
    :param assigned: Salesforce user ids that already have it.
    """

    name: str
    id: str | None
    available: tuple[str, ...] = ()
    assigned: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AssignmentOutcome:
    """Result of one permission set assignment attempt (``DUPLICATE_VALUE`` counts as already assigned)."""

    user_id: str
    success: bool
    error_code: str | None = None
    message: str = ""

    @property
    def already_assigned(self) -> bool:
        return not self.success and self.error_code == "DUPLICATE_VALUE"


def users_to_assign(proposal: UserMappingProposal, permission_set: PermissionSetCheck) -> list[str]:
    """Mapped users that do not have the permission set yet, once each, in proposal order."""
    wanted = dict.fromkeys(m.sf.id for m in proposal.matches)
    return [user_id for user_id in wanted if user_id not in permission_set.assigned]


def user_mapping_step(
    proposal: UserMappingProposal,
    permission_set: PermissionSetCheck,
    *,
    apply: bool,
    outcomes: Sequence[AssignmentOutcome] = (),
    saved_to: str | None = None,
) -> StepResult:
    """Step 3: the proposed mapping, who must be invited, and the permission set assignments.

    :param outcomes: what assigning did (apply mode); empty in report mode.
    :param saved_to: where the mapping was stored (apply mode).
    """
    found: list[Finding] = list(proposal.problems)
    for match in proposal.matches:
        how = "same e-mail" if match.source == "email" else "setup.user_mapping"
        found.append(
            Finding(
                "ok",
                f"maps to {match.hm.ref} ({how})",
                subject=f"{match.sf.label} -> {match.hm.label}",
                subject_ref=match.sf.ref,
            )
        )
    for user in proposal.unmatched_salesforce:
        found.append(
            Finding(
                "warning",
                "no Heymarket team member has this e-mail: must be invited in Heymarket",
                "invite the user in Heymarket (Admin > Users) with this e-mail and re-run, map them to "
                "another "
                "e-mail in setup.user_mapping, or list them in setup.exclude_users",
                subject=user.label,
                subject_ref=user.ref,
            )
        )
    for member in proposal.unmatched_heymarket:
        found.append(
            Finding(
                "info",
                "no Salesforce user maps to this Heymarket user",
                subject=member.label,
                subject_ref=member.ref,
            )
        )
    if proposal.excluded:
        found.append(
            Finding("info", f"{len(proposal.excluded)} Salesforce user(s) excluded by setup.exclude_users")
        )

    to_assign = users_to_assign(proposal, permission_set)
    facts: Facts = {
        "mapped": len(proposal.matches),
        "by_email": sum(m.source == "email" for m in proposal.matches),
        "by_override": sum(m.source == "override" for m in proposal.matches),
        "unmatched_salesforce": len(proposal.unmatched_salesforce),
        "unmatched_heymarket": len(proposal.unmatched_heymarket),
        "excluded": len(proposal.excluded),
        "permission_set": permission_set.name,
        "permission_set_found": permission_set.id is not None,
    }
    if permission_set.id is None:
        names = ", ".join(permission_set.available) or "none"
        found.insert(
            0,
            Finding(
                "error",
                f"Salesforce has no permission set with the API name '{permission_set.name}'",
                f"set setup.permission_set to the API name (not the label) of one of: {names}; or "
                "install/create "
                "the permission set (Setup > Permission Sets)",
                path="setup.permission_set",
            ),
        )
    elif apply:
        assigned = [o.user_id for o in outcomes if o.success]
        already = [o.user_id for o in outcomes if o.already_assigned]
        failed = [o for o in outcomes if not o.success and not o.already_assigned]
        facts.update(
            assigned_now=len(assigned),
            already_assigned=len(permission_set.assigned) + len(already),
            assignment_failures=len(failed),
        )
        found.insert(
            0,
            Finding(
                "ok",
                f"permission set {permission_set.name}: assigned to {len(assigned)} user(s) now; "
                f"{len(proposal.matches) - len(assigned) - len(failed)} mapped user(s) already had it",
            ),
        )
        by_id = {m.sf.id: m.sf for m in proposal.matches}
        for outcome in failed:
            sf_user = by_id.get(outcome.user_id)
            found.append(
                Finding(
                    "error",
                    f"assigning permission set {permission_set.name} failed ({outcome.error_code}: "
                    f"{outcome.message})",
                    "check that the integration user may assign permission sets (Assign Permission Sets or "
                    "Manage "
                    "Users) and that the user's license allows this permission set, then re-run",
                    subject=sf_user.label if sf_user else None,
                    subject_ref=f"Salesforce user {outcome.user_id}",
                )
            )
    else:
        facts.update(would_assign=len(to_assign), already_assigned=len(proposal.matches) - len(to_assign))
        found.insert(
            0,
            Finding(
                "info",
                f"permission set {permission_set.name}: would be assigned to {len(to_assign)} user(s); "
                f"{len(proposal.matches) - len(to_assign)} mapped user(s) already have it "
                "(run with apply=true "
                "to assign and save the mapping)",
            ),
        )
    if saved_to:
        found.insert(1, Finding("ok", f"mapping of {len(proposal.matches)} user(s) saved to {saved_to}"))
    summary = (
        f"{len(proposal.matches)} user(s) mapped, {len(proposal.unmatched_salesforce)} Salesforce user(s) "
        f"must be invited in Heymarket, {len(proposal.unmatched_heymarket)} Heymarket user(s) unmapped."
    )
    return StepResult.build("user_mapping", summary, found, facts)


def mapping_rows(
    proposal: UserMappingProposal, permission_set: str | None, assignment_ids: Mapping[str, str] | None = None
) -> list[Facts]:
    """The mapping as stored (ids only) and as the JSON artifact lists it (with names and e-mails)."""
    ids = assignment_ids or {}
    return [
        {
            "sf_user_id": m.sf.id,
            "sf_username": m.sf.username,
            "sf_email": m.sf.email,
            "hm_user_id": m.hm.id,
            "hm_email": m.hm.email,
            "source": m.source,
            "permission_set": permission_set,
            "assignment_id": ids.get(m.sf.id),
        }
        for m in proposal.matches
    ]


# --------------------------------------------------------------------------------------------- 4. phones


@dataclass(frozen=True)
class PhoneFieldStats:
    """How usable one phone field's values are: records with a value, and how many are valid E.164.

    :param unusable: why the other values can't be used: ``(reason, count)`` pairs with the reasons of
        :data:`sync_engine.phones.REASONS` (``unparseable``, ``not_possible``, ``invalid``), most common first.
    """

    object: str
    field: str
    label: str
    records: int
    filled: int
    valid: int
    unusable: tuple[tuple[str, int], ...] = ()

    @property
    def invalid(self) -> int:
        return self.filled - self.valid


class PhoneFieldCounter:
    """Counts, page by page, the values of every phone field of one object and how many are valid numbers.

    Values are judged by :func:`sync_engine.phones.normalise_phones`, the sync's own match-key rules, so
    "valid" here means "the sync can match this record". One pass over the records covers all phone fields,
    and each distinct raw value is parsed once (a value seen in another field or on an earlier page comes
    from the cache), so an org of 100k records takes one query and about as many parses as it has numbers.

    :param obj: ``Contact`` or ``Lead``.
    :param fields: API name -> label of the object's phone fields (from describe).
    :param default_region: region for numbers without a country code (the config's ``default_region``).
    """

    def __init__(self, obj: str, fields: Mapping[str, str], default_region: str) -> None:
        self.object = obj
        self.fields = dict(fields)
        self.default_region = default_region
        self.records = 0
        self._reasons: dict[str, Counter[str]] = {name: Counter() for name in self.fields}
        self._cache: PhoneCache = {}

    def add(self, records: Sequence[Mapping[str, object]]) -> None:
        """Count one page of records (each a mapping with the phone fields' values)."""
        self.records += len(records)
        for name in self.fields:
            raw = pd.Series([record.get(name) for record in records], dtype=object)
            reasons = normalise_phones(raw, self.default_region, self._cache)["phone_reason"]
            self._reasons[name].update(reasons.value_counts().to_dict())

    def stats(self) -> list[PhoneFieldStats]:
        out = []
        for name, label in self.fields.items():
            reasons = self._reasons[name]
            unusable = tuple(
                sorted(
                    ((r, n) for r, n in reasons.items() if r not in ("ok", "empty")),
                    key=lambda x: (-x[1], x[0]),
                )
            )
            out.append(
                PhoneFieldStats(
                    self.object,
                    name,
                    label,
                    self.records,
                    self.records - reasons["empty"],
                    reasons["ok"],
                    unusable,
                )
            )
        return out


def phone_fields_step(
    config: SyncConfig,
    stats: Mapping[str, Sequence[PhoneFieldStats]],
    problems: Sequence[ConfigProblem],
) -> StepResult:
    """Step 4: every phone field's fill and validity per object, and whether the default phone field fits.

    :param stats: object -> its phone fields' stats (enabled objects).
    :param problems: the describe problems about ``objects.<Object>.phone_field``.
    """
    found = problem_findings(problems)
    facts: Facts = {}
    for obj in config.enabled_objects():
        fields = list(stats.get(obj, ()))
        chosen = config.object_config(obj).phone_field
        facts[obj] = {
            "default_field": chosen,
            "records": fields[0].records if fields else 0,
            "fields": {
                s.field: {
                    "label": s.label,
                    "filled": s.filled,
                    "valid": s.valid,
                    "unusable": dict(s.unusable),
                }
                for s in fields
            },
        }
        for s in fields:
            marker = " ← default phone field" if s.field.casefold() == chosen.casefold() else ""
            why = ", ".join(f"{reason.replace('_', ' ')} {count:,}" for reason, count in s.unusable)
            unusable = f"; {s.invalid:,} not usable" + (f" ({why})" if why else "") if s.invalid else ""
            found.append(
                Finding(
                    "info",
                    f"{obj}.{s.field} ({s.label}): {s.filled:,} of {s.records:,} records have a value, "
                    f"{s.valid:,} valid E.164{_share(s.valid, s.filled)}{unusable}{marker}",
                )
            )
        found += _default_field_findings(config, obj, chosen, fields)
    counts = ", ".join(f"{obj} {len(stats.get(obj, ()))}" for obj in config.enabled_objects())
    return StepResult.build("phone_fields", f"Phone fields per object: {counts}.", found, facts)


def _default_field_findings(
    config: SyncConfig, obj: ObjectName, chosen: str, fields: Sequence[PhoneFieldStats]
) -> list[Finding]:
    path = f"objects.{obj}.phone_field"
    current = next((s for s in fields if s.field.casefold() == chosen.casefold()), None)
    if current is None:
        return []  # not a phone field: the describe problem says so
    found = []
    best = max(fields, key=lambda s: s.valid)
    if current.records and current.valid == 0:
        found.append(
            Finding(
                "warning",
                f"no {obj} has a usable number in {current.field}, so no {obj} can be synced",
                f"choose the phone field your users fill (counts above), e.g. phone_field: {best.field}",
                path=path,
            )
        )
    elif best.field != current.field and best.valid > 2 * current.valid:
        found.append(
            Finding(
                "warning",
                f"{best.field} holds {best.valid:,} valid numbers, {current.field} only {current.valid:,}",
                f"consider phone_field: {best.field} (changing it later re-keys every record)",
                path=path,
            )
        )
    guards = config.guards
    if current.records >= guards.min_records_for_share_guards and current.records:
        share = current.invalid / current.records
        if share > guards.max_invalid_phone_share:
            found.append(
                Finding(
                    "warning",
                    f"{share:.0%} of {obj} records have an unusable number in {current.field}, above "
                    f"guards.max_invalid_phone_share ({guards.max_invalid_phone_share:.0%}): sync runs would "
                    "stop before writing",
                    "clean the numbers, check default_region, choose another phone "
                    "field, or raise guards.max_invalid_phone_share",
                    path="guards.max_invalid_phone_share",
                )
            )
    if not found:
        found.append(
            Finding("ok", f"{obj} default phone field {current.field}: {current.valid:,} valid numbers")
        )
    return found


def _share(part: int, whole: int) -> str:
    return f" ({part / whole:.0%})" if whole else ""


# --------------------------------------------------------------------------------------------- 5. fields


@dataclass(frozen=True)
class RequiredField:
    """A field Salesforce needs on create, and how an auto-created record would get a value."""

    object: str
    field: str
    default: str | int | float | bool | None
    mapped_from: str | None


def required_fields(config: SyncConfig, obj: ObjectName, describe: Describe) -> list[RequiredField]:
    """Fields required to create *obj* (from describe), except LastName, which the sync always fills."""
    from .config import required_on_create

    cfg = config.object_config(obj)
    defaults = {name.casefold(): value for name, value in cfg.required_defaults.items()}
    mapped = {name.casefold(): key for key, name in config.salesforce_fields(obj).items()}
    return [
        RequiredField(obj, name, defaults.get(name.casefold()), mapped.get(name.casefold()))
        for name in required_on_create(describe)
        if name.casefold() != "lastname"
    ]


def missing_heymarket_titles(
    config: SyncConfig, heymarket_fields: Sequence[Mapping[str, object]]
) -> list[str]:
    """Mapped Heymarket field titles with no field at all; a title that differs only in letter case is not
    missing (creating it would make a near-duplicate field: the describe check tells the admin to fix it)."""
    titles = {str(f.get("title")).casefold() for f in heymarket_fields if f.get("title") is not None}
    return [title for title in config.heymarket_field_titles() if title.casefold() not in titles]


def creatable_titles(
    config: SyncConfig, heymarket_fields: Sequence[Mapping[str, object]], problems: Sequence[ConfigProblem]
) -> list[str]:
    """Missing Heymarket titles worth creating: those with at least one mapping whose Salesforce side is
    sound (a field for a mapping that can't work yet would only clutter Heymarket's field list)."""
    broken = {
        p.path.rsplit(".", 1)[0]
        for p in problems
        if p.severity == "error" and ".fields[" in p.path and not p.path.endswith(".heymarket")
    }
    usable = {
        mapping.heymarket
        for obj in config.enabled_objects()
        for index, mapping in enumerate(config.object_config(obj).fields)
        if f"objects.{obj}.fields[{index}]" not in broken
    }
    return [title for title in missing_heymarket_titles(config, heymarket_fields) if title in usable]


def field_mapping_step(
    config: SyncConfig,
    problems: Sequence[ConfigProblem],
    required: Sequence[RequiredField],
    *,
    heymarket_fields: Sequence[Mapping[str, object]] | None,
    created: Sequence[Mapping[str, object]] = (),
    apply: bool = False,
) -> StepResult:
    """Step 5: every mapping against describe and the Heymarket field list; required-field defaults.

    :param problems: describe problems except those about phone fields (step 4 shows those).
    :param heymarket_fields: the Heymarket custom fields after any creation; ``None`` when Heymarket could
        not be read (its side is then reported as not checked).
    :param created: fields this run created (apply mode).
    """
    found = problem_findings(problems)
    for obj in config.enabled_objects():
        count = len(config.object_config(obj).fields)
        found.append(
            Finding(
                "info",
                f"{obj}: FirstName, LastName, Email and {config.object_config(obj).phone_field} "
                f"are fixed mappings; {count} extra mapping(s) checked",
            )
        )
    facts: Facts = {"mapped_titles": list(config.heymarket_field_titles())}
    if heymarket_fields is None:
        found.append(
            Finding(
                "error",
                "Heymarket custom fields not checked: the Heymarket connection failed",
                "fix the Heymarket connection (step 1) and re-run",
            )
        )
    else:
        titles = {str(f.get("title")) for f in heymarket_fields}
        present = [t for t in config.heymarket_field_titles() if t in titles]
        facts["heymarket_fields"] = len(heymarket_fields)
        found.append(
            Finding(
                "info",
                f"Heymarket has {len(present)} of the {len(config.heymarket_field_titles())} "
                "mapped custom fields",
            )
        )
    for item in created:
        found.append(
            Finding("ok", f"created Heymarket custom field '{item.get('title')}' (id {item.get('id')})")
        )
    facts["created"] = [str(item.get("title")) for item in created]
    if not apply and heymarket_fields is not None:
        missing = creatable_titles(config, heymarket_fields, problems)
        if missing:
            facts["would_create"] = missing
            found.append(
                Finding(
                    "info",
                    "with apply=true these Heymarket custom fields would be created: "
                    + ", ".join(f"'{title}'" for title in missing),
                )
            )
    found += _required_findings(config, required)
    facts["required_fields"] = [
        {"object": r.object, "field": r.field, "default_configured": r.default is not None} for r in required
    ]
    errors = sum(f.severity == "error" for f in found)
    summary = (
        "Every mapping fits Salesforce and Heymarket."
        if not errors
        else f"{errors} mapping problem(s) to fix before syncing."
    )
    return StepResult.build("field_mapping", summary, found, facts)


def _required_findings(config: SyncConfig, required: Sequence[RequiredField]) -> list[Finding]:
    """Required Salesforce fields and their defaults; missing ones for the auto-create object come from
    the describe check as errors, so only the other cases are added here."""
    found = []
    for item in required:
        what = f"{item.object}.{item.field} is required to create a {item.object}"
        path = f"objects.{item.object}.required_defaults.{item.field}"
        if item.default is not None:
            found.append(Finding("ok", f"{what}: default {item.default!r} configured", path=path))
        elif config.auto_create != item.object:
            found.append(
                Finding(
                    "info",
                    f"{what}; no default configured (needed only with auto_create: {item.object})",
                    path=path,
                )
            )
    return found


def split_problems(problems: Iterable[ConfigProblem]) -> tuple[list[ConfigProblem], list[ConfigProblem]]:
    """Describe problems for step 4 (``objects.<Object>.phone_field``) and for step 5 (everything else)."""
    phone: list[ConfigProblem] = []
    other: list[ConfigProblem] = []
    for problem in problems:
        (phone if problem.path.endswith(".phone_field") else other).append(problem)
    return phone, other


def phone_field_labels(describe: Describe) -> dict[str, str]:
    """API name -> label of the fields of type ``phone`` in a describe, in describe order."""
    raw = describe.get("fields")
    items = raw if isinstance(raw, list) else []
    return {
        str(f["name"]): str(f.get("label") or f["name"])
        for f in items
        if isinstance(f, Mapping) and str(f.get("type", "")).lower() == "phone"
    }


def _one_of(value: object, allowed: tuple[LiteralT, ...]) -> LiteralT:
    """*value* as a member of a closed set (results read back from JSON are checked, not trusted)."""
    for member in allowed:
        if value == member:
            return member
    raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")


def _opt_str(value: object) -> str | None:
    return None if value in (None, "") else str(value)
