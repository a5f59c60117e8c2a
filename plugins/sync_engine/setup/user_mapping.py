"""Step 3, user mapping: active Salesforce users matched to Heymarket team members (by e-mail, plus the
config's overrides), the permission set to assign, and the rows the state store keeps.

Salesforce is reached through :class:`UserAdmin` (``salesforce_access.users.SalesforceUserAdmin`` in the
DAG, a fake in the tests), so the step runs without Airflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from .results import Facts, Finding, StepResult

if TYPE_CHECKING:
    from ..config import SetupConfig

log = logging.getLogger(__name__)


class UserAdmin(Protocol):
    """What the step reads and writes in Salesforce."""

    def active_users(self) -> Sequence[Mapping[str, object]]:
        """Active standard users: ``Id``, ``Username``, ``Email``, ``Name``."""
        ...

    def permission_sets(self) -> Sequence[Mapping[str, object]]:
        """Assignable permission sets: ``Id``, ``Name``."""
        ...

    def assignments_by_user(self, permission_set_id: str) -> Mapping[str, str]:
        """User Id -> PermissionSetAssignment Id for one permission set."""
        ...

    def assign(self, permission_set_id: str, user_ids: Sequence[str]) -> Sequence[tuple[bool, str | None, str]]:
        """Assign the permission set: ``(success, error status code, error message)`` per user, in order."""
        ...


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
    excluded_ids, problems = _exclusions(users, setup)
    overridden, claimed, override_problems = _overrides(users, hm_by_email, setup, excluded_ids)
    problems += override_problems

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


def _exclusions(users: Sequence[SalesforceUser], setup: SetupConfig) -> tuple[set[str], list[Finding]]:
    """The ids ``setup.exclude_users`` leaves out, and a warning for each entry that names nobody."""
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
    return excluded_ids, problems


def _overrides(
    users: Sequence[SalesforceUser],
    hm_by_email: Mapping[str, HeymarketUser],
    setup: SetupConfig,
    excluded_ids: set[str],
) -> tuple[dict[str, UserMatch], set[str], list[Finding]]:
    """``setup.user_mapping`` applied: user id -> its override match, every id an entry names (a failed
    override must not fall back to the e-mail match), and an error for each entry that can't be honoured."""
    problems: list[Finding] = []
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
    return overridden, claimed, problems


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
    found = [*proposal.problems, *_user_findings(proposal)]
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
    first, failures, more_facts = _permission_set_findings(proposal, permission_set, apply, outcomes)
    facts.update(more_facts)
    found = [first, *found, *failures]
    if saved_to:
        found.insert(1, Finding("ok", f"mapping of {len(proposal.matches)} user(s) saved to {saved_to}"))
    summary = (
        f"{len(proposal.matches)} user(s) mapped, {len(proposal.unmatched_salesforce)} Salesforce user(s) "
        f"must be invited in Heymarket, {len(proposal.unmatched_heymarket)} Heymarket user(s) unmapped."
    )
    return StepResult.build("user_mapping", summary, found, facts)


def _user_findings(proposal: UserMappingProposal) -> list[Finding]:
    """One finding per mapped, uninvited and unmapped user, then the exclusions."""
    found: list[Finding] = []
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
    return found


def _permission_set_findings(
    proposal: UserMappingProposal,
    permission_set: PermissionSetCheck,
    apply: bool,
    outcomes: Sequence[AssignmentOutcome],
) -> tuple[Finding, list[Finding], Facts]:
    """The permission set line that heads the step, an error per failed assignment, and their counts."""
    failures: list[Finding] = []
    more_facts: Facts = {}
    to_assign = users_to_assign(proposal, permission_set)
    if permission_set.id is None:
        names = ", ".join(permission_set.available) or "none"
        first = Finding(
            "error",
            f"Salesforce has no permission set with the API name '{permission_set.name}'",
            f"set setup.permission_set to the API name (not the label) of one of: {names}; or "
            "install/create "
            "the permission set (Setup > Permission Sets)",
            path="setup.permission_set",
        )
    elif apply:
        assigned = [o.user_id for o in outcomes if o.success]
        already = [o.user_id for o in outcomes if o.already_assigned]
        failed = [o for o in outcomes if not o.success and not o.already_assigned]
        more_facts.update(
            assigned_now=len(assigned),
            already_assigned=len(permission_set.assigned) + len(already),
            assignment_failures=len(failed),
        )
        first = Finding(
            "ok",
            f"permission set {permission_set.name}: assigned to {len(assigned)} user(s) now; "
            f"{len(proposal.matches) - len(assigned) - len(failed)} mapped user(s) already had it",
        )
        by_id = {m.sf.id: m.sf for m in proposal.matches}
        for outcome in failed:
            sf_user = by_id.get(outcome.user_id)
            failures.append(
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
        more_facts.update(would_assign=len(to_assign), already_assigned=len(proposal.matches) - len(to_assign))
        first = Finding(
            "info",
            f"permission set {permission_set.name}: would be assigned to {len(to_assign)} user(s); "
            f"{len(proposal.matches) - len(to_assign)} mapped user(s) already have it "
            "(run with apply=true "
            "to assign and save the mapping)",
        )
    return first, failures, more_facts


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


def read_user_mapping(
    admin: UserAdmin, hm_members: Callable[[], Iterable[Mapping[str, object]]], setup: SetupConfig
) -> tuple[UserMappingProposal, PermissionSetCheck]:
    """Read both sides (Salesforce first) and propose the mapping; find the configured permission set.

    :param hm_members: reads the Heymarket team members (``HeymarketHook.list_users``).
    """
    sf_users = [SalesforceUser.from_record(record) for record in admin.active_users()]
    hm_users = [HeymarketUser.from_membership(member) for member in hm_members()]
    proposal = propose_user_mapping(sf_users, hm_users, setup)
    log.info(
        "Users: %d active in Salesforce, %d in Heymarket; %d mapped, %d to invite",
        len(sf_users), len(hm_users), len(proposal.matches), len(proposal.unmatched_salesforce),
    )
    return proposal, find_permission_set(admin, setup.permission_set)


def find_permission_set(admin: UserAdmin, name: str) -> PermissionSetCheck:
    """The permission set with API name *name*, who has it already, and the org's other assignable sets."""
    available = admin.permission_sets()
    found = next((record for record in available if str(record.get("Name")) == name), None)
    names = tuple(str(record.get("Name")) for record in available)
    if found is None:
        return PermissionSetCheck(name, None, names)
    assigned = frozenset(admin.assignments_by_user(str(found["Id"])))
    return PermissionSetCheck(name, str(found["Id"]), names, assigned)


def assign_permission_set(
    admin: UserAdmin, proposal: UserMappingProposal, permission_set: PermissionSetCheck
) -> list[AssignmentOutcome]:
    """Create the missing assignments.

    Salesforce's ``DUPLICATE_VALUE`` (someone assigned it meanwhile) means "already assigned", not an error.
    """
    todo = users_to_assign(proposal, permission_set)
    if not todo or permission_set.id is None:
        return []
    answers = admin.assign(permission_set.id, todo)
    return [
        AssignmentOutcome(user_id, success, code, message)
        for user_id, (success, code, message) in zip(todo, answers, strict=True)
    ]


def apply_user_mapping(
    admin: UserAdmin, proposal: UserMappingProposal, permission_set: PermissionSetCheck
) -> tuple[list[AssignmentOutcome], list[Facts]]:
    """Apply mode: assign the permission set to mapped users (when it exists); the mapping rows to store."""
    if permission_set.id is None:
        return [], mapping_rows(proposal, None)
    outcomes = assign_permission_set(admin, proposal, permission_set)
    rows = mapping_rows(proposal, permission_set.name, admin.assignments_by_user(permission_set.id))
    return outcomes, rows
