"""Step 2, default inbox: the configured inbox (name or numeric id) is one the credential can see."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .results import Facts, Finding, StepResult


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
