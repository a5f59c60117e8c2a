"""All of the emulator's state in one object, with the ``reset``/``load``/``dump`` the admin routes need."""

from __future__ import annotations

from typing import Any

from emulators.heymarket import choices
from emulators.heymarket.auth import CredentialSet
from emulators.heymarket.contacts import ContactBook
from emulators.heymarket.directory import Directory
from emulators.heymarket.fields import FieldRegistry
from emulators.heymarket.messages import MessageBook
from emulators.heymarket.ratelimit import FixedWindowLimiter
from emulators.heymarket.timestamps import WriteClock

LOAD_KEYS = ("team", "credentials", "users", "inboxes", "fields", "contacts", "messages", "settings")
SETTINGS = (choices.SETTING_DUPLICATE_TIMESTAMPS,)


class HeymarketStore:
    """Team fixtures, custom fields, contacts, messages, credentials, rate-limit windows and fault settings.

    ``reset`` replaces the parts instead of clearing them, so nothing can keep a stale reference alive
    across tests; callers always go through ``store.<part>``.
    """

    def __init__(self) -> None:
        self.limiter = FixedWindowLimiter()
        self.reset()

    def reset(self) -> None:
        self.clock = WriteClock()
        self.directory = Directory()
        self.fields = FieldRegistry()
        self.contacts = ContactBook(self.clock, self.fields, self.directory)
        self.messages = MessageBook(self.clock, self.directory, self.contacts)
        self.contacts.on_delete = self.messages.forget_phone
        self.credentials = CredentialSet()
        self.settings: dict[str, bool] = {name: False for name in SETTINGS}
        self.limiter.reset()

    def load(self, payload: dict[str, Any]) -> dict[str, int]:
        """Add what *payload* holds, in dependency order (fields before the contacts that use them).

        Not atomic: on a bad record the earlier ones stay loaded; reset and load again.
        """
        unknown = set(payload) - set(LOAD_KEYS)
        if unknown:
            raise ValueError(f"unknown load keys {sorted(unknown)}; expected some of {list(LOAD_KEYS)}")
        loaded: dict[str, int] = {}
        if "team" in payload:
            loaded["team"] = self.directory.load_team(payload["team"])
        if "credentials" in payload:
            loaded["credentials"] = self.credentials.load(payload["credentials"])
        if "users" in payload:
            loaded["users"] = self.directory.load_users(_objects(payload, "users"))
        if "inboxes" in payload:
            loaded["inboxes"] = self.directory.load_inboxes(_objects(payload, "inboxes"))
        if "fields" in payload:
            loaded["fields"] = self.fields.load(_objects(payload, "fields"))
        if "contacts" in payload:
            loaded["contacts"] = self.contacts.load_many(_objects(payload, "contacts"))
        if "messages" in payload:
            loaded["messages"] = self.messages.load(payload["messages"])
        if "settings" in payload:
            loaded["settings"] = self._load_settings(payload["settings"])
        return loaded

    def _load_settings(self, raw: dict[str, Any]) -> int:
        if not isinstance(raw, dict) or set(raw) - set(SETTINGS):
            raise ValueError(f"'settings' must be an object with keys from {list(SETTINGS)}")
        for name, value in raw.items():
            self.settings[name] = bool(value)
        self.clock.set_duplicate_timestamps(self.settings[choices.SETTING_DUPLICATE_TIMESTAMPS])
        return len(raw)

    def dump(self) -> dict[str, Any]:
        """Everything, contacts, messages and conversations sorted by id; credentials only as counts and
        secret ids. Messages are in the flat form ``load`` takes back."""
        messages, conversations = self.messages.dump()
        return {
            **self.directory.dump(),
            "fields": self.fields.list(),
            "contacts": self.contacts.dump(),
            "messages": messages,
            "conversations": conversations,
            "settings": dict(self.settings),
            "credentials": self.credentials.summary(),
        }


def _objects(payload: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = payload[key]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"'{key}' must be a list of objects")
    return items
