"""The team, its members (TeamUser) and its inboxes: read-only fixtures for the API, editable via admin load."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from emulators.heymarket import seed

ROLE_NAMES = {1: "admin", 4: "member"}


def _team_user(raw: dict[str, Any], team_id: int, fallback_id: int) -> dict[str, Any]:
    """A TeamUser with every documented key, defaults filled in."""
    stamp = raw.get("created_at") or seed.SEED_TIMESTAMP
    user = {
        "id": int(raw.get("id") or fallback_id),
        "phone": raw.get("phone") or "",
        "name": raw.get("name") or "",
        "email": raw.get("email") or "",
        "role_id": int(raw.get("role_id") or 4),
        "team_id": team_id,
        "created_at": stamp,
        "updated_at": raw.get("updated_at") or stamp,
        "user_created_at": raw.get("user_created_at") or stamp,
        "user_updated_at": raw.get("user_updated_at") or stamp,
    }
    if not user["email"]:
        raise ValueError(f"user {user['id']} needs an email")
    return user


def _inbox(raw: dict[str, Any], team_id: int, fallback_id: int) -> dict[str, Any]:
    phone = raw.get("phone") or ""
    return {
        "id": int(raw.get("id") or fallback_id),
        "name": raw.get("name") or f"Inbox {fallback_id}",
        "team": team_id,
        "members": [int(m) for m in raw.get("members", [])],
        "phone": phone,
        "phones": list(raw.get("phones") or ([phone] if phone else [])),
        "auto_assignable": bool(raw.get("auto_assignable", False)),
        "forward_number": raw.get("forward_number") or "",
        "widget_code": raw.get("widget_code") or "",
        "widget_settings": dict(raw.get("widget_settings") or {}),
        "allowed_domains": list(raw.get("allowed_domains") or []),
        "invited": list(raw.get("invited") or []),
        "bco_chats": bool(raw.get("bco_chats", False)),
        "op": raw.get("op") or "create",
        "rev": int(raw.get("rev") or 1),
    }


class Directory:
    """Team, members and inboxes. Loading upserts by id, so a payload can restate the seeds harmlessly."""

    def __init__(self) -> None:
        self.team: dict[str, Any] = {"id": seed.TEAM_ID, "name": seed.TEAM_NAME}
        self.users: dict[int, dict[str, Any]] = {}
        self.inboxes: dict[int, dict[str, Any]] = {}
        self.load_users(copy.deepcopy(seed.SEED_USERS))
        self.load_inboxes(copy.deepcopy(seed.SEED_INBOXES))

    @property
    def team_id(self) -> int:
        return int(self.team["id"])

    def load_team(self, raw: dict[str, Any]) -> int:
        if not isinstance(raw, dict):
            raise ValueError("'team' must be an object like {\"name\": \"...\"}")
        self.team.update({k: v for k, v in raw.items() if k in ("id", "name")})
        return 1

    def load_users(self, items: Iterable[dict[str, Any]]) -> int:
        count = 0
        for raw in items:
            user = _team_user(raw, self.team_id, max(self.users, default=500) + 1)
            self.users[user["id"]] = user
            count += 1
        return count

    def load_inboxes(self, items: Iterable[dict[str, Any]]) -> int:
        count = 0
        for raw in items:
            inbox = _inbox(raw, self.team_id, max(self.inboxes, default=9000) + 1)
            self.inboxes[inbox["id"]] = inbox
            count += 1
        return count

    def default_creator_id(self) -> int | None:
        """The first admin (lowest id), who "creates" contacts made through the API."""
        admins = sorted(u["id"] for u in self.users.values() if u["role_id"] == 1)
        return admins[0] if admins else min(self.users, default=None)

    def default_inbox_id(self) -> int | None:
        return min(self.inboxes, default=None)

    def find_users(self, phones: list[str], emails: list[str]) -> list[dict[str, Any]]:
        """``GET /v1/users/get``: members matching any phone or (case-insensitive) email; no filter = all."""
        users = sorted(self.users.values(), key=lambda u: u["id"])
        if not phones and not emails:
            return users
        wanted_emails = {e.lower() for e in emails}
        wanted_phones = set(phones)
        return [u for u in users if u["phone"] in wanted_phones or u["email"].lower() in wanted_emails]

    def team_json(self, list_size: int) -> dict[str, Any]:
        members = [
            {"id": u["id"], "name": u["name"], "role": ROLE_NAMES.get(u["role_id"], "member")}
            for u in sorted(self.users.values(), key=lambda u: u["id"])
        ]
        return {"id": self.team_id, "name": self.team["name"], "list_size": list_size, "members": members}

    def inboxes_json(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(self.inboxes[i]) for i in sorted(self.inboxes)]

    def dump(self) -> dict[str, Any]:
        return {
            "team": dict(self.team),
            "users": [dict(self.users[i]) for i in sorted(self.users)],
            "inboxes": self.inboxes_json(),
        }
