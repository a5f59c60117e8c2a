"""Record-level outcomes: which records a run wrote, had rejected or held back, and why (ids and codes only).

A run writes thousands of these, so they go in as one multi-row ``INSERT`` per chunk (SQLAlchemy's
"insertmanyvalues" batches an executemany of a core insert on both backends), never row by row. Reads are
paged and filtered on indexed columns: a run's records by ``(run_id, object, action)``, a record's history by
``(sf_id, recorded_at)`` or ``(hm_id, recorded_at)``; pruning by ``recorded_at``.

Every value is checked before it is stored: the closed sets of ``sync_engine.vocabulary``, ids and codes
of a safe shape, field *names* only. A value that does not look like a code (an error code that is really a
sentence, say) is refused here rather than stored, because it could carry a phone, an e-mail or a name.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, or_, select

from sync_engine.outcomes import RecordOutcome
from sync_engine.state.models import OUTCOME_OBJECTS, SyncRecordOutcome, table_of
from sync_engine.state.sqlhelpers import chunks
from sync_engine.vocabulary import COUNT_DIRECTIONS, OUTCOME_ACTIONS

_table = table_of(SyncRecordOutcome)

#: Rows per ``INSERT`` statement (each row binds 10 values; PostgreSQL allows 65,535 per statement).
INSERT_CHUNK = 2_000
#: The most rows one page may ask for (the page and exports page through larger sets).
MAX_PAGE = 10_000
#: A Salesforce Id: 15 or 18 letters and digits.
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
#: A code: plan reasons, hold reasons, phone reasons and API error codes (``STRING_TOO_LONG``, ``http_422``).
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
#: A canonical field key (``first``, ``email``, ``phone``, ``custom.<Heymarket field title>``): no comma (the
#: separator), no ``@`` or digit run that would make it look like an e-mail or a phone.
_FIELD = re.compile(r"^(?!.*\d{5})[\w .()/&'-]{1,80}$")
#: What a reason that does not look like a code is stored as.
UNREADABLE_CODE = "unreadable_code"


@dataclass(frozen=True)
class StoredOutcome:
    """A row of ``hm_sync_record_outcome`` as read back (``fields`` split into names)."""

    id: int
    run_id: str
    recorded_at: datetime
    object: str
    sf_id: str | None
    hm_id: int | None
    action: str
    direction: str | None
    reason: str | None
    fields: tuple[str, ...]
    planned: bool


@dataclass(frozen=True)
class OutcomePage:
    """One page of a run's outcomes and how many rows match the filters in all."""

    rows: tuple[StoredOutcome, ...]
    total: int


def _checked(outcome: RecordOutcome, run_id: str, now: datetime, planned: bool) -> dict[str, object]:
    """The row to insert, after checking every value against its closed set or safe shape."""
    if outcome.object not in OUTCOME_OBJECTS:
        raise ValueError(f"outcome object must be one of {OUTCOME_OBJECTS}, got {outcome.object!r}")
    if outcome.action not in OUTCOME_ACTIONS:
        raise ValueError(f"outcome action must be one of {OUTCOME_ACTIONS}, got {outcome.action!r}")
    if outcome.direction is not None and outcome.direction not in COUNT_DIRECTIONS:
        raise ValueError(f"outcome direction must be one of {COUNT_DIRECTIONS} or None, got {outcome.direction!r}")
    if outcome.sf_id is not None and not _SF_ID.match(outcome.sf_id):
        raise ValueError("outcome sf_id is not a Salesforce Id (15 or 18 letters and digits)")
    if outcome.hm_id is not None and (isinstance(outcome.hm_id, bool) or not isinstance(outcome.hm_id, int)):
        raise ValueError(f"outcome hm_id must be an int, got {type(outcome.hm_id).__name__}")
    bad = [name for name in outcome.fields if not _FIELD.match(name)]
    if bad:
        raise ValueError(f"outcome fields must be field names (no ',', '@' or long digit runs); {len(bad)} are not")
    reason = outcome.reason or None
    if reason is not None and not _CODE.match(reason):
        reason = UNREADABLE_CODE
    return {
        "run_id": run_id, "recorded_at": now, "object": outcome.object, "sf_id": outcome.sf_id,
        "hm_id": outcome.hm_id, "action": outcome.action, "direction": outcome.direction, "reason": reason,
        "fields": ",".join(outcome.fields) or None, "planned": planned,
    }


def write_outcomes(conn: Connection, run_id: str, outcomes: Iterable[RecordOutcome], now: datetime, *,
                   planned: bool = False) -> int:
    """Insert the outcomes (all checked first: one bad row writes none); returns how many were written."""
    rows = [_checked(outcome, run_id, now, planned) for outcome in outcomes]
    for part in chunks(rows, INSERT_CHUNK):
        conn.execute(insert(_table), list(part))
    return len(rows)


def replace_outcomes(conn: Connection, run_id: str, outcomes: Iterable[RecordOutcome], now: datetime, *,
                     actions: Collection[str], planned: bool = False) -> int:
    """The run's rows of these actions become *outcomes* (a retried ``record_run`` writes them once)."""
    rows = [_checked(outcome, run_id, now, planned) for outcome in outcomes]
    if any(row["action"] not in actions for row in rows):
        raise ValueError(f"replace_outcomes replaces only the actions {sorted(actions)}")
    t = _table
    conn.execute(delete(t).where(t.c.run_id == run_id, t.c.action.in_(sorted(actions))))
    for part in chunks(rows, INSERT_CHUNK):
        conn.execute(insert(t), list(part))
    return len(rows)


def _stored(row: Row[Any]) -> StoredOutcome:
    """A selected row (``_COLUMNS`` order) as a :class:`StoredOutcome`."""
    return StoredOutcome(
        id=int(row.id), run_id=str(row.run_id), recorded_at=row.recorded_at, object=str(row.object),
        sf_id=row.sf_id, hm_id=None if row.hm_id is None else int(row.hm_id), action=str(row.action),
        direction=row.direction, reason=row.reason,
        fields=tuple(str(row.fields).split(",")) if row.fields else (), planned=bool(row.planned),
    )


_COLUMNS = tuple(_table.c[name] for name in (
    "id", "run_id", "recorded_at", "object", "sf_id", "hm_id", "action", "direction", "reason", "fields", "planned",
))


def _page_args(limit: int, offset: int) -> None:
    if not 0 < limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, got {offset}")


def run_outcomes(conn: Connection, run_id: str, *, object_name: str | None = None, action: str | None = None,
                 limit: int = 100, offset: int = 0) -> OutcomePage:
    """A run's outcomes, optionally of one object and/or action, in a stable order (object, action, ids)."""
    _page_args(limit, offset)
    t = _table
    where = [t.c.run_id == run_id]
    if object_name is not None:
        where.append(t.c.object == object_name)
    if action is not None:
        where.append(t.c.action == action)
    total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
    stmt = (select(*_COLUMNS).where(*where)
            .order_by(t.c.object, t.c.action, t.c.sf_id, t.c.hm_id, t.c.id).limit(limit).offset(offset))
    return OutcomePage(rows=tuple(_stored(row) for row in conn.execute(stmt)), total=int(total))


def record_history(conn: Connection, *, sf_id: str | None = None, hm_id: int | None = None,
                   limit: int = 100) -> tuple[StoredOutcome, ...]:
    """One record's outcomes across runs, newest first: by Salesforce Id, by Heymarket id, or either.

    Both given: the rows of either id (a record and its contact share a history; each lookup uses its index).
    """
    if sf_id is None and hm_id is None:
        raise ValueError("record_history needs sf_id, hm_id or both")
    _page_args(limit, 0)
    t = _table
    matches = [t.c.sf_id == sf_id] if sf_id is not None else []
    if hm_id is not None:
        matches.append(t.c.hm_id == hm_id)
    stmt = select(*_COLUMNS).where(or_(*matches)).order_by(t.c.recorded_at.desc(), t.c.id.desc()).limit(limit)
    return tuple(_stored(row) for row in conn.execute(stmt))


def prune_outcomes(conn: Connection, older_than: datetime) -> int:
    """Delete rows recorded before ``older_than``; returns how many."""
    return int(conn.execute(delete(_table).where(_table.c.recorded_at < older_than)).rowcount)
