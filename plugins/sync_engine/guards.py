"""Guards: stop a run before it writes when its plan looks like an accident, not like business as usual.

Two shapes of accident matter. A broken extract (a list view someone edited, a permission taken away)
makes many linked records look gone, and with the delete option on the plan would then delete their
Heymarket contacts, which Heymarket deletes for good, conversation history included. A wrong phone
field or default region makes many phones unusable, and the plan would quietly drop those records.
Each guard compares a share with a configured limit; small objects (below
``min_records_for_share_guards``) are exempt because 2 of 5 is noise, not a pattern.

Pure functions on counts, so the planner, the validate task and tests can all call them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from .vocabulary import DELETE_ACTIONS

if TYPE_CHECKING:
    from .config import GuardsConfig

GuardName = Literal["mass_delete", "invalid_phone_share"]

#: Order objects are reported in (the config's precedence order); others follow alphabetically.
_OBJECT_ORDER = ("Contact", "Lead")


@dataclass(frozen=True)
class GuardTrip:
    """One guard that stops the run.

    :param guard: which guard tripped
    :param object: the Salesforce object it is about
    :param count: records the guard counted (deletes, unusable phones)
    :param total: what they are a share of (linked pairs, in-scope records)
    :param share: ``count / total``
    :param limit: the configured limit the share exceeded
    :param message: what happened, the numbers, and how to go on, for the admin
    """

    guard: GuardName
    object: str
    count: int
    total: int
    share: float
    limit: float
    message: str

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, str | int | float]:
        """JSON-able form for XCom and the run history."""
        return asdict(self)


class GuardsTripped(Exception):
    """The plan was stopped by one or more guards; nothing was written."""

    def __init__(self, trips: Sequence[GuardTrip]) -> None:
        self.trips = list(trips)
        super().__init__("\n".join(["The sync stopped before writing anything:", *(f"  - {t}" for t in trips)]))


def check_guards(
    counts: Mapping[str, Mapping[str, int]],
    linked_counts: Mapping[str, int],
    in_scope_counts: Mapping[str, int],
    invalid_counts: Mapping[str, int],
    guards_config: GuardsConfig,
    allow_mass_delete: bool,
) -> list[GuardTrip]:
    """Return the guards the plan trips (empty: the run may write).

    :param counts: per object, the plan's row count per action (``{"Contact": {"delete_heymarket": 3}}``)
    :param linked_counts: per object, active linked pairs before this run (what deletes are a share of)
    :param in_scope_counts: per object, in-scope Salesforce records this run saw
    :param invalid_counts: per object, in-scope records whose phone field holds a value that is not a valid
        number (unparseable or invalid). Empty phone fields don't count: many records simply have none.
    :param guards_config: the limits (``guards`` section of the sync config)
    :param allow_mass_delete: the run's override param; lifts the mass delete guard only
    """
    trips: list[GuardTrip] = []
    if not allow_mass_delete:
        for obj in _objects(counts, linked_counts):
            deletes = sum(counts.get(obj, {}).get(action, 0) for action in DELETE_ACTIONS)
            trip = _share_trip("mass_delete", obj, deletes, linked_counts.get(obj, 0),
                               guards_config.max_delete_share, guards_config.min_records_for_share_guards)
            if trip:
                trips.append(trip)
    for obj in _objects(invalid_counts, in_scope_counts):
        trip = _share_trip("invalid_phone_share", obj, invalid_counts.get(obj, 0), in_scope_counts.get(obj, 0),
                           guards_config.max_invalid_phone_share, guards_config.min_records_for_share_guards)
        if trip:
            trips.append(trip)
    return trips


def _objects(*maps: Iterable[str]) -> list[str]:
    names = {name for m in maps for name in m}
    return sorted(names, key=lambda n: (_OBJECT_ORDER.index(n) if n in _OBJECT_ORDER else len(_OBJECT_ORDER), n))


def _share_trip(guard: GuardName, obj: str, count: int, total: int, limit: float, min_records: int
                ) -> GuardTrip | None:
    if count <= 0 or total < min_records:
        return None
    share = count / total if total else 1.0
    if share <= limit:
        return None
    message = _MESSAGES[guard].format(obj=obj, count=count, total=total, share=share, limit=limit)
    return GuardTrip(guard=guard, object=obj, count=count, total=total, share=share, limit=limit, message=message)


_MESSAGES: dict[GuardName, str] = {
    "mass_delete": (
        "{obj}: this run would delete {count} of {total} linked Heymarket contacts ({share:.1%}), more than"
        " guards.max_delete_share allows ({limit:.0%}). Heymarket deletes are permanent, so nothing was"
        " written. Check why these {obj} records are gone from Salesforce or from the sync scope (deleted,"
        " list view changed, sharing or permissions). If the deletions are intended, trigger the run with"
        " allow_mass_delete=true."
    ),
    "invalid_phone_share": (
        "{obj}: {count} of {total} in-scope records ({share:.1%}) have a phone number that can't be used,"
        " more than guards.max_invalid_phone_share allows ({limit:.0%}); nothing was written. This usually"
        " means a wrong objects.{obj}.phone_field or default_region; the run report lists the records"
        " (kind invalid_phone). If the numbers really are unusable, raise"
        " guards.max_invalid_phone_share in the sync config."
    ),
}
