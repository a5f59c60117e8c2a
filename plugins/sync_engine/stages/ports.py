"""The protocols the stage functions take: what a stage reads and writes, nothing more.

``sync_operators.runtime.RunFolder`` is a :class:`RunFiles`, ``sync_engine.state.StateStore`` a
:class:`PlanState`; the unit tests pass in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Connection

    from sync_engine.message_tasks import MessagePage, TaskUpsertOutcome
    from sync_engine.state import RecordRef
    from sync_engine.state.pending_messages import PendingMessage
    from sync_engine.state.phone_cache import PhoneResult


class RunFiles(Protocol):
    """The run folder: frames (Parquet) and small JSON texts by name, and where a name lives."""

    def path(self, name: str) -> str: ...

    def read_frame(self, name: str) -> pd.DataFrame: ...

    def write_frame(self, name: str, frame: pd.DataFrame) -> str: ...

    def exists(self, name: str) -> bool: ...

    def read_text(self, name: str) -> str: ...


class ReportFiles(RunFiles, Protocol):
    """A run folder a stage also writes a small text report to (validate's ``validation.json``, preflight's
    describes)."""

    def write_text(self, name: str, text: str) -> str: ...


class RunFolders(Protocol):
    """Every run folder of the DAG: their names, when each was last written (UTC), and deleting one."""

    def name_of(self, run_id: str) -> str: ...

    def written(self) -> Mapping[str, datetime]: ...

    def remove(self, name: str) -> None: ...


class PlanState(Protocol):
    """What the plan stage reads from and writes to the state store."""

    def load_links(self) -> pd.DataFrame: ...

    def get_phone_cache(self, raws: Iterable[str], region: str) -> dict[str, PhoneResult]: ...

    def put_phone_cache(self, mapping: Mapping[str, PhoneResult], region: str) -> int: ...

    def due_retries(self, now: datetime | None = None) -> pd.DataFrame: ...

    def transaction(self) -> AbstractContextManager[Connection]: ...

    def resolve_errors(self, keys: Iterable[RecordRef], run_id: str, conn: Connection | None = None) -> int: ...

    def clear_retries(self, keys: Iterable[RecordRef], conn: Connection | None = None) -> int: ...


class MessageSource(Protocol):
    """Heymarket's message list: a walk oldest first over ``(after, until]``, and one page from a date."""

    #: the most messages one call returns (a shorter answer is the end of the list).
    page_limit: int

    def pages(self, after: datetime, until: datetime | None) -> Iterator[MessagePage]: ...

    def messages_from(self, at: datetime) -> list[Mapping[str, object]]: ...


class TaskWriter(Protocol):
    """Salesforce Tasks upserted on the external id field, chunk by chunk, results by row position."""

    def upsert(self, rows: Sequence[Mapping[str, str | None]]) -> Iterator[list[TaskUpsertOutcome]]: ...


class MessageState(Protocol):
    """What the message copy reads from and writes to the state store."""

    def get_watermark(self, system: str, object_name: str) -> datetime | None: ...

    def set_watermark(self, system: str, object_name: str, value: datetime, run_id: str | None) -> datetime: ...

    def linked_records(self) -> dict[str, tuple[str, str]]: ...

    def links_changed_at(self) -> datetime | None: ...

    def load_user_map(self) -> list[dict[str, object]]: ...

    def keep_pending_messages(self, messages: Sequence[PendingMessage], run_id: str | None) -> int: ...

    def pending_messages(self, reasons: Iterable[str] | None = None) -> list[PendingMessage]: ...

    def drop_pending_messages(self, message_ids: Iterable[int]) -> int: ...
