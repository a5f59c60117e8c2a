"""The team's custom contact fields: ``{id, title}``, referenced from ``contact.custom`` by id (as a string)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from emulators.heymarket import choices


def _title_key(title: str) -> str:
    title = title.strip()
    return title if choices.FIELD_TITLE_CASE_SENSITIVE else title.lower()


class FieldRegistry:
    def __init__(self) -> None:
        self.titles: dict[int, str] = {}
        self._ids_by_title: dict[str, int] = {}
        self._known_ids: set[str] = set()

    def known_ids(self) -> set[str]:
        """Ids as strings: the only keys ``custom`` may carry."""
        return self._known_ids

    def _add(self, field_id: int, title: str) -> None:
        self.titles[field_id] = title
        self._ids_by_title[_title_key(title)] = field_id
        self._known_ids.add(str(field_id))

    def create(self, titles: Iterable[str]) -> list[dict[str, Any]]:
        """``POST /v1/contacts/fields``: new fields, or ``duplicate: true`` for a title that exists."""
        result = []
        for title in titles:
            existing = self._ids_by_title.get(_title_key(title))
            if existing is not None:
                result.append({"id": existing, "title": self.titles[existing], "duplicate": True})
                continue
            field_id = max(self.titles, default=0) + 1
            self._add(field_id, title.strip())
            result.append({"id": field_id, "title": title.strip(), "duplicate": False})
        return result

    def list(self) -> list[dict[str, Any]]:
        return [{"id": i, "title": self.titles[i]} for i in sorted(self.titles)]

    def load(self, items: Iterable[dict[str, Any]]) -> int:
        """Admin load: ``[{"id"?: int, "title": str}]``. A title that exists under another id is an error."""
        count = 0
        for raw in items:
            if not isinstance(raw, dict) or not str(raw.get("title") or "").strip():
                raise ValueError("each field needs a non-empty 'title', e.g. {\"id\": 1, \"title\": \"Tier\"}")
            title = str(raw["title"]).strip()
            field_id = int(raw.get("id") or max(self.titles, default=0) + 1)
            other = self._ids_by_title.get(_title_key(title))
            if other is not None and other != field_id:
                raise ValueError(f"field title '{title}' already exists with id {other}")
            if field_id in self.titles:
                self._ids_by_title.pop(_title_key(self.titles[field_id]), None)
            self._add(field_id, title)
            count += 1
        return count
