"""The message copy (``heymarket_messages`` DAG): Heymarket messages become completed Salesforce Tasks.

One stage, because reading, writing and moving the watermark must interleave: the watermark may move past a
message only once its Task is written (or the message is kept pending), so a kill loses nothing and the next
run resumes at the last written batch. The steps:

1. **Waiting messages first.** Messages kept pending because their phone matched no record are read again
   (by date, one listing call covers every waiting message of its page) when the link table changed since
   they were last checked; messages whose Task Salesforce refused are read again every run. At most
   ``messages.pending_recheck_calls`` calls a run. A waiting message the listing no longer has (Heymarket
   deletes a contact's conversations with it) is forgotten.
2. **New messages**, oldest first from the watermark (first run: ``look_back_days`` back) to
   ``now - settle_seconds``; a backfill reads ``[start, end]`` instead and leaves the watermark alone, unless
   it reaches the present and starts at or before the watermark (or there is none yet): then it moves it as an
   incremental run would (the first load of a long history is such a backfill).
3. **Tasks** are upserted ``write_batch`` messages at a time on the external id field (Collections up to
   ``salesforce.bulk_threshold`` rows, Bulk 2.0 above it): a rerun updates, never duplicates. After each
   batch the unmatched and refused messages are stored pending, then the watermark moves.

A dry run reads and maps, and writes nothing: no Task, no pending row, no watermark. Counts, ids and error
codes only ever leave this module; message texts go to the writer and nowhere else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sync_engine.config import MessagesConfig
from sync_engine.message_tasks import MessageFacts, TaskRow, facts_of, message_date, owner_for, task_row
from sync_engine.stages.ports import MessageSource, MessageState, TaskWriter
from sync_engine.state.pending_messages import PendingMessage
from sync_engine.vocabulary import MESSAGE_OBJECT, MessageMode

#: Watermarks of the message copy (``hm_sync_watermark``, system heymarket).
WATERMARK_SYSTEM = "heymarket"
MESSAGE_WATERMARK = "messages"
LINKS_CHECKED = "message_links"
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class MessageRequest:
    """What one run of the copy is asked to do.

    :param mode: ``incremental`` (since the watermark) or ``backfill`` (``start``..``end``, both inclusive).
    :param now: the run's clock (UTC); the walk stops ``settle_seconds`` before it.
    """

    run_id: str
    mode: MessageMode
    now: datetime
    start: datetime | None = None
    end: datetime | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class MessageResult:
    """Counts of one run of the copy (no message data): pushed to XCom, recorded in the run history.

    :param read: messages read (walk and waiting ones) that the copy considered.
    :param pending_resolved: waiting messages that found their record (their Tasks are in created/updated/failed).
    :param pending_dropped: waiting messages Heymarket no longer has (forgotten).
    :param pending_left: messages still waiting after the run.
    :param planned: Tasks a dry run would have upserted.
    :param unmatched: messages of the walk whose phone matches no record (kept pending).
    :param skipped: private comments (not copied).
    :param failures: Salesforce error code -> refused Tasks.
    :param watermark: the message watermark after the run (ISO 8601), None when it never moved.
    :param stopped: the run was asked to stop and ended after a complete batch.
    """

    mode: MessageMode
    dry_run: bool = False
    read: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    planned: int = 0
    unmatched: int = 0
    skipped: int = 0
    pending_resolved: int = 0
    pending_dropped: int = 0
    pending_left: int = 0
    pending_calls: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)
    watermark: str | None = None
    stopped: bool = False

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """The run history's counts: ``Task`` -> ``to_salesforce`` -> created/updated/failed/unmatched/skipped."""
        return {MESSAGE_OBJECT: {"to_salesforce": {
            "created": self.created, "updated": self.updated, "failed": self.failed,
            "unmatched": self.unmatched, "skipped": self.skipped}}}

    def to_xcom(self) -> dict[str, object]:
        return {name: (dict(value) if isinstance(value, Mapping) else value)
                for name, value in self.__dict__.items()}

    @classmethod
    def from_xcom(cls, value: Mapping[str, object]) -> MessageResult:
        """The result back from the JSON the task pushed.

        :raises ValueError: *value* is not a message copy's result (no ``mode``): a wiring mistake.
        """
        if not isinstance(value, Mapping) or value.get("mode") not in ("incremental", "backfill"):
            raise ValueError("not a message copy task's result (no valid 'mode')")
        ints = {name: int(str(value.get(name) or 0)) for name in (
            "read", "created", "updated", "failed", "planned", "unmatched", "skipped", "pending_resolved",
            "pending_dropped", "pending_left", "pending_calls")}
        failures = value.get("failures")
        return cls(
            mode="backfill" if value["mode"] == "backfill" else "incremental",
            dry_run=bool(value.get("dry_run")),
            failures={str(k): int(str(n)) for k, n in failures.items()} if isinstance(failures, Mapping) else {},
            watermark=str(value["watermark"]) if value.get("watermark") else None,
            stopped=bool(value.get("stopped")),
            **ints,
        )


@dataclass(frozen=True)
class MessageRunOutcome:
    """What the run history records of a messages run: its status, counts and why (ids and codes only)."""

    status: str
    counts: Mapping[str, Mapping[str, Mapping[str, int]]]
    error_summary: str | None = None


def message_run_outcome(result: MessageResult | None, failure: str | None) -> MessageRunOutcome:
    """The run's outcome from the copy's result (``None``: the copy failed before pushing one, *failure* says why).

    A run with refused Tasks or stopped early is ``partial``: what was refused is sent again by the next run.
    """
    if result is None:
        return MessageRunOutcome("failed", {}, failure or "the copy task did not finish")
    status = "dry_run" if result.dry_run else "partial" if result.failed or result.stopped else "success"
    codes = ", ".join(f"{code}: {n}" for code, n in sorted(result.failures.items()))
    summary = f"Salesforce refused {result.failed} Task(s) ({codes}); they are sent again next run" if codes else None
    return MessageRunOutcome(status, result.counts(), summary)


class _Copy:
    """One run's working state: the lookups, the batch being filled and the tallies."""

    def __init__(self, request: MessageRequest, config: MessagesConfig, writer: TaskWriter,
                 state: MessageState) -> None:
        self.request = request
        self.config = config
        self.writer = writer
        self.state = state
        #: read before the links: a link made in between makes the next run check the waiting messages again
        self.links_changed = state.links_changed_at()
        self.records = state.linked_records()
        self.user_map = {int(str(row["hm_user_id"])): str(row["sf_user_id"]) for row in state.load_user_map()}
        self.rows: list[TaskRow] = []
        self.row_facts: list[MessageFacts] = []
        self.unmatched: list[PendingMessage] = []
        self.still_waiting: list[PendingMessage] = []
        self.tally: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    def take(self, message: Mapping[str, object], *, from_walk: bool) -> None:
        """Sort one message: a Task row, unmatched (pending), or skipped (a private comment)."""
        facts = facts_of(message)
        self.tally["read"] += 1
        if facts.private:
            self.tally["skipped"] += 1
            return
        record = self.records.get(facts.phone)
        if record is None:
            pending = PendingMessage(facts.message_id, facts.at, "no_record")
            if from_walk:
                self.tally["unmatched"] += 1
                self.unmatched.append(pending)
            else:
                self.still_waiting.append(pending)
            return
        owner = owner_for(facts, self.user_map, self.config.default_owner_id)
        self.rows.append(task_row(message, facts, record[1], external_id_field=self.config.external_id_field,
                                  owner_id=owner, include_body=self.config.include_bodies))
        self.row_facts.append(facts)

    def flush(self) -> None:
        """Upsert the batch, store what waits, forget what was written. Nothing is written in a dry run."""
        rows, facts = self.rows, self.row_facts
        self.rows, self.row_facts = [], []
        waiting = [*self.unmatched, *self.still_waiting]
        self.unmatched, self.still_waiting = [], []
        if self.request.dry_run:
            self.tally["planned"] += len(rows)
            return
        written: list[int] = []
        for chunk in (self.writer.upsert(rows) if rows else ()):
            for outcome in chunk:
                item = facts[outcome.index]
                if outcome.success:
                    self.tally["created" if outcome.created else "updated"] += 1
                    written.append(item.message_id)
                else:
                    code = outcome.error_code or "UNKNOWN_ERROR"
                    self.tally["failed"] += 1
                    self.failures[code] += 1
                    waiting.append(PendingMessage(item.message_id, item.at, "failed", code[:64]))
        if waiting:
            self.state.keep_pending_messages(waiting, self.request.run_id)
        if written:
            self.state.drop_pending_messages(written)

    @property
    def batch_full(self) -> bool:
        return len(self.rows) >= self.config.write_batch


def copy_messages(
    request: MessageRequest,
    config: MessagesConfig,
    source: MessageSource,
    writer: TaskWriter,
    state: MessageState,
    stop: Callable[[], bool] = lambda: False,
) -> MessageResult:
    """Copy the waiting messages, then the new ones (or a backfill range), as Tasks; see the module docstring.

    :param stop: asked between batches; when true the run ends after the batch in hand (all of it written).
    """
    copy = _Copy(request, config, writer, state)
    pending = _recheck_pending(copy, source)
    watermark, stopped = _walk(copy, source, stop)
    if pending.complete and copy.links_changed is not None and not request.dry_run:
        # Every message kept waiting now was matched against this link table: only a later change can help.
        state.set_watermark(WATERMARK_SYSTEM, LINKS_CHECKED, copy.links_changed, request.run_id)
    tally = copy.tally
    left = len(state.pending_messages())
    return MessageResult(
        mode=request.mode, dry_run=request.dry_run, read=tally["read"], created=tally["created"],
        updated=tally["updated"], failed=tally["failed"], planned=tally["planned"], unmatched=tally["unmatched"],
        skipped=tally["skipped"], pending_resolved=pending.resolved, pending_dropped=pending.dropped,
        pending_left=left, pending_calls=pending.calls, failures=dict(copy.failures),
        watermark=watermark.isoformat() if watermark else None, stopped=stopped,
    )


@dataclass(frozen=True)
class _PendingTally:
    resolved: int = 0
    dropped: int = 0
    calls: int = 0
    #: every waiting message worth a look was looked at (the link table's change may be marked as checked)
    complete: bool = False


def _recheck_pending(copy: _Copy, source: MessageSource) -> _PendingTally:
    """Read waiting messages again where it can pay off, within the run's call budget."""
    state, request = copy.state, copy.request
    pending = state.pending_messages()
    if not pending:
        return _PendingTally(complete=True)
    changed = copy.links_changed
    checked = state.get_watermark(WATERMARK_SYSTEM, LINKS_CHECKED)
    links_moved = changed is not None and (checked is None or changed > checked)
    targets = [p for p in pending if p.reason == "failed" or links_moved]
    remaining = {p.message_id: p for p in targets}
    calls = dropped = 0
    found: set[int] = set()
    while remaining and calls < copy.config.pending_recheck_calls:
        at = min(p.message_at for p in remaining.values())
        page = source.messages_from(at)
        calls += 1
        complete_through = _complete_through(page, at, source.page_limit)
        if complete_through is None:
            break  # a full page on one timestamp: nothing can be told apart; try again next run
        for message in page:
            message_id = int(str(message.get("id")))
            if message_id in remaining:
                del remaining[message_id]
                found.add(message_id)
                copy.take(message, from_walk=False)
        gone = [i for i, p in remaining.items() if p.message_at <= complete_through]
        for message_id in gone:
            del remaining[message_id]
        dropped += len(gone)
        if gone and not request.dry_run:
            state.drop_pending_messages(gone)
    resolved = len(copy.row_facts)
    copy.flush()
    return _PendingTally(resolved=resolved, dropped=dropped, calls=calls, complete=not remaining)


def _complete_through(page: Sequence[Mapping[str, object]], at: datetime, limit: int) -> datetime | None:
    """The latest date through which *page* (read from *at*, oldest first) holds every message; ``None`` when
    it holds none for sure (a full page on one timestamp)."""
    if len(page) < limit:
        return datetime.max.replace(tzinfo=at.tzinfo)
    stamps = [message_date(m.get("date")) for m in page]
    earlier = [s for s in stamps if s < stamps[-1]]
    return earlier[-1] if earlier else None


def _walk(copy: _Copy, source: MessageSource, stop: Callable[[], bool]) -> tuple[datetime | None, bool]:
    """The new messages (or the backfill range), batch by batch; returns the watermark after it and whether
    the run stopped early."""
    request, config, state = copy.request, copy.config, copy.state
    settled = request.now - timedelta(seconds=config.settle_seconds)
    stored = state.get_watermark(WATERMARK_SYSTEM, MESSAGE_WATERMARK)
    if request.mode == "incremental":
        after = stored or request.now - timedelta(days=config.look_back_days)
        until = settled
        moves = True
    else:
        if request.start is None or request.end is None:
            raise ValueError("a backfill needs a start and an end date")
        after, until = request.start - _MICROSECOND, min(request.end, settled)
        # A backfill that reaches the present and leaves no gap behind the watermark did what the incremental
        # runs would do: its progress is theirs (the first load of a big history is a backfill).
        moves = until >= settled and (stored is None or after <= stored)
    moves = moves and not request.dry_run
    watermark = stored
    last: datetime | None = None
    for page in source.pages(after, until):
        flushed = False
        for message in page.messages:
            copy.take(message, from_walk=True)
            if copy.batch_full:
                copy.flush()
                flushed = True
        # The watermark moves only at a page's end (``done_through``), once everything read so far is written
        # or waiting: a page that filled a batch sends its remainder too.
        if flushed or stop():
            copy.flush()
            if moves:
                watermark = state.set_watermark(WATERMARK_SYSTEM, MESSAGE_WATERMARK, page.done_through,
                                                request.run_id)
            if stop():
                return watermark, True
        last = page.done_through
    copy.flush()
    if moves and last is not None:
        watermark = state.set_watermark(WATERMARK_SYSTEM, MESSAGE_WATERMARK, last, request.run_id)
    return watermark, False
