"""The message copy stage without Airflow: an in-memory Heymarket message list, a Salesforce Task table keyed
on the external id, and a fake state store. Outcomes are read from the fakes, not from the stage's counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence

import pytest

from sync_engine.config import MessagesConfig
from sync_engine.message_tasks import MessagePage, TaskUpsertOutcome
from sync_engine.stages.message_stage import MessageRequest, MessageResult, copy_messages, message_run_outcome
from sync_engine.state.pending_messages import PendingMessage

EXT = "Heymarket_Message_Id__c"
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
ANA, BEN, UNKNOWN = "14155550100", "14155550101", "14155550199"
CONTACT, LEAD = "003000000000001AAA", "00Q000000000001AAA"
REP = "005000000000001AAA"
DEFAULT_OWNER = "005000000000009AAA"


def message(mid: int, phone: str, minutes_ago: float, *, user: int | None = None, assigned: int | None = None,
            text: str = "hello", kind: str = "sms") -> dict[str, object]:
    at = NOW - dt.timedelta(minutes=minutes_ago)
    return {"id": mid, "phone": phone, "date": at.isoformat().replace("+00:00", "Z"), "user": user,
            "text": text, "media": "", "type": kind, "conversation": {"assigned": assigned}}


class FakeHeymarket:
    """The listing: oldest first, ``(after, until]``, pages of ``page_limit``; counts its calls."""

    page_limit = 3

    def __init__(self, messages: list[dict[str, object]]) -> None:
        self.messages = messages
        self.calls = 0

    def _sorted(self) -> list[dict[str, object]]:
        return sorted(self.messages, key=lambda m: (str(m["date"]), int(str(m["id"]))))

    @staticmethod
    def _at(m: Mapping[str, object]) -> dt.datetime:
        return dt.datetime.fromisoformat(str(m["date"]))

    def pages(self, after: dt.datetime, until: dt.datetime | None) -> Iterator[MessagePage]:
        chosen = [m for m in self._sorted() if self._at(m) > after and (until is None or self._at(m) <= until)]
        for start in range(0, len(chosen), self.page_limit):
            self.calls += 1
            part = chosen[start:start + self.page_limit]
            yield MessagePage(part, self._at(part[-1]))
        self.calls += 1
        yield MessagePage([], until or after)

    def messages_from(self, at: dt.datetime) -> list[Mapping[str, object]]:
        self.calls += 1
        return [m for m in self._sorted() if self._at(m) >= at][:self.page_limit]


class FakeTasks:
    """Tasks by external id; refuses rows whose owner is in ``inactive``; ``fail_after`` raises mid-run."""

    def __init__(self, inactive: Iterable[str] = (), fail_after: int | None = None) -> None:
        self.tasks: dict[str, dict[str, str | None]] = {}
        self.inactive = set(inactive)
        self.fail_after = fail_after
        self.upserts = 0

    def upsert(self, rows: Sequence[Mapping[str, str | None]]) -> Iterator[list[TaskUpsertOutcome]]:
        for start in range(0, len(rows), 2):
            chunk = []
            for index in range(start, min(start + 2, len(rows))):
                if self.fail_after is not None and self.upserts >= self.fail_after:
                    raise ConnectionError("killed")
                row = rows[index]
                self.upserts += 1
                if row.get("OwnerId") in self.inactive:
                    chunk.append(TaskUpsertOutcome(index, False, error_code="INACTIVE_OWNER_OR_USER"))
                    continue
                key = str(row[EXT])
                created = key not in self.tasks
                self.tasks[key] = dict(row)
                chunk.append(TaskUpsertOutcome(index, True, created=created))
            yield chunk


class FakeState:
    def __init__(self, links: dict[str, tuple[str, str]], user_map: dict[int, str] | None = None) -> None:
        self.links = dict(links)
        self.links_at: dt.datetime | None = NOW - dt.timedelta(days=1)
        self.user_map = user_map or {}
        self.watermarks: dict[tuple[str, str], dt.datetime] = {}
        self.pending: dict[int, PendingMessage] = {}

    def get_watermark(self, system: str, object_name: str) -> dt.datetime | None:
        return self.watermarks.get((system, object_name))

    def set_watermark(self, system: str, object_name: str, value: dt.datetime, run_id: str | None) -> dt.datetime:
        key = (system, object_name)
        self.watermarks[key] = max(value, self.watermarks.get(key, value))
        return self.watermarks[key]

    def linked_records(self) -> dict[str, tuple[str, str]]:
        return dict(self.links)

    def links_changed_at(self) -> dt.datetime | None:
        return self.links_at

    def link(self, phone: str, record: tuple[str, str], at: dt.datetime) -> None:
        self.links[phone] = record
        self.links_at = at

    def load_user_map(self) -> list[dict[str, object]]:
        return [{"hm_user_id": hm, "sf_user_id": sf} for hm, sf in self.user_map.items()]

    def keep_pending_messages(self, messages: Sequence[PendingMessage], run_id: str | None) -> int:
        self.pending.update({m.message_id: m for m in messages})
        return len(messages)

    def pending_messages(self, reasons: Iterable[str] | None = None) -> list[PendingMessage]:
        return sorted(self.pending.values(), key=lambda p: (p.message_at, p.message_id))

    def drop_pending_messages(self, message_ids: Iterable[int]) -> int:
        return len([self.pending.pop(i) for i in list(message_ids) if i in self.pending])


def run(source: FakeHeymarket, tasks: FakeTasks, state: FakeState, *, now: dt.datetime = NOW,
        config: MessagesConfig | None = None, **request: object) -> MessageResult:
    req = MessageRequest(run_id=f"r{now.isoformat()}", mode=request.pop("mode", "incremental"),  # type: ignore[arg-type]
                         now=now, **request)  # type: ignore[arg-type]
    return copy_messages(req, config or MessagesConfig(settle_seconds=0, write_batch=4), source, tasks, state)


@pytest.fixture
def conversations() -> list[dict[str, object]]:
    return [
        message(1000001, ANA, 50, user=501, text="Hi Ana"),
        message(1000002, ANA, 49, assigned=501, text="Hi back"),
        message(1000003, BEN, 40, user=777, text="Lead offer"),
        message(1000004, BEN, 39, assigned=None, text="Thanks"),
        message(1000005, UNKNOWN, 30, text="Who is this?"),
        message(1000006, ANA, 20, user=501, kind="private", text="note"),
    ]


def test_messages_become_tasks_on_the_linked_records_with_owners_and_subjects(
    conversations: list[dict[str, object]],
) -> None:
    source, tasks = FakeHeymarket(conversations), FakeTasks()
    state = FakeState({ANA: ("Contact", CONTACT), BEN: ("Lead", LEAD)}, user_map={501: REP})
    result = run(source, tasks, state, config=MessagesConfig(settle_seconds=0, write_batch=4,
                                                               default_owner_id=DEFAULT_OWNER))
    assert {k: (t["WhoId"], t.get("OwnerId"), t["Subject"], t["Status"], t["Description"])
            for k, t in tasks.tasks.items()} == {
        "1000001": (CONTACT, REP, "SMS sent", "Completed", "Hi Ana"),
        "1000002": (CONTACT, REP, "SMS received", "Completed", "Hi back"),
        "1000003": (LEAD, DEFAULT_OWNER, "SMS sent", "Completed", "Lead offer"),
        "1000004": (LEAD, DEFAULT_OWNER, "SMS received", "Completed", "Thanks"),
    }
    assert tasks.tasks["1000001"]["ActivityDate"] == "2026-12-07"
    assert (result.created, result.updated, result.unmatched, result.skipped, result.failed) == (4, 0, 1, 1, 0)
    assert list(state.pending) == [1000005] and state.pending[1000005].reason == "no_record"
    assert state.watermarks[("heymarket", "messages")] == NOW
    assert result.counts() == {"Task": {"to_salesforce": {"created": 4, "updated": 0, "failed": 0,
                                                          "unmatched": 1, "skipped": 0 + 1}}}


def test_a_second_run_writes_nothing_and_reads_only_the_new_page(conversations: list[dict[str, object]]) -> None:
    source, tasks = FakeHeymarket(conversations), FakeTasks()
    state = FakeState({ANA: ("Contact", CONTACT), BEN: ("Lead", LEAD)})
    run(source, tasks, state)
    upserts, calls = tasks.upserts, source.calls
    again = run(source, tasks, state, now=NOW + dt.timedelta(minutes=15))
    assert (again.read, again.created, again.updated, again.unmatched) == (0, 0, 0, 0)
    assert tasks.upserts == upserts
    assert source.calls - calls == 1  # one empty page; the unchanged link table re-reads no waiting message


def test_bodies_off_leaves_description_out(conversations: list[dict[str, object]]) -> None:
    tasks = FakeTasks()
    run(FakeHeymarket(conversations), tasks, FakeState({ANA: ("Contact", CONTACT)}),
        config=MessagesConfig(settle_seconds=0, include_bodies=False))
    assert tasks.tasks and all("Description" not in t for t in tasks.tasks.values())


def test_an_unmatched_message_is_copied_once_its_record_is_linked(conversations: list[dict[str, object]]) -> None:
    source, tasks = FakeHeymarket(conversations), FakeTasks()
    state = FakeState({ANA: ("Contact", CONTACT), BEN: ("Lead", LEAD)})
    run(source, tasks, state)
    later = NOW + dt.timedelta(minutes=15)
    state.link(UNKNOWN, ("Contact", "003000000000002AAA"), later)
    result = run(source, tasks, state, now=later)
    assert tasks.tasks["1000005"]["WhoId"] == "003000000000002AAA"
    assert (result.pending_resolved, result.created, result.pending_left, result.pending_calls) == (1, 1, 0, 1)
    assert state.pending == {}
    third = run(source, tasks, state, now=later + dt.timedelta(minutes=15))
    assert (third.read, third.created, third.pending_calls) == (0, 0, 0)


def test_a_waiting_message_heymarket_deleted_is_forgotten(conversations: list[dict[str, object]]) -> None:
    source, tasks = FakeHeymarket(conversations), FakeTasks()
    state = FakeState({ANA: ("Contact", CONTACT)})
    run(source, tasks, state)
    assert set(state.pending) == {1000003, 1000004, 1000005}
    source.messages = [m for m in source.messages if m["phone"] != UNKNOWN]
    state.link(BEN, ("Lead", LEAD), NOW + dt.timedelta(minutes=1))
    result = run(source, tasks, state, now=NOW + dt.timedelta(minutes=15))
    assert (result.pending_resolved, result.pending_dropped, result.pending_left) == (2, 1, 0)
    assert {"1000003", "1000004"} <= set(tasks.tasks)


def test_a_refused_task_waits_and_is_sent_again(conversations: list[dict[str, object]]) -> None:
    source = FakeHeymarket(conversations)
    tasks = FakeTasks(inactive={REP})
    state = FakeState({ANA: ("Contact", CONTACT)}, user_map={501: REP})
    first = run(source, tasks, state)
    assert (first.failed, dict(first.failures)) == (2, {"INACTIVE_OWNER_OR_USER": 2})
    assert {i: p.error_code for i, p in state.pending.items() if p.reason == "failed"} == {
        1000001: "INACTIVE_OWNER_OR_USER", 1000002: "INACTIVE_OWNER_OR_USER"}
    tasks.inactive.clear()
    second = run(source, tasks, state, now=NOW + dt.timedelta(minutes=15))
    assert (second.created, second.failed) == (2, 0)
    assert {"1000001", "1000002"} <= set(tasks.tasks)
    assert all(p.reason == "no_record" for p in state.pending.values())


def test_a_run_killed_mid_upsert_resumes_without_duplicates(conversations: list[dict[str, object]]) -> None:
    source = FakeHeymarket(conversations)
    state = FakeState({ANA: ("Contact", CONTACT), BEN: ("Lead", LEAD)})
    killed = FakeTasks(fail_after=3)
    with pytest.raises(ConnectionError):
        run(source, killed, state, config=MessagesConfig(settle_seconds=0, write_batch=1))
    kept = state.watermarks[("heymarket", "messages")]
    assert kept < NOW  # only complete batches moved it
    resumed = FakeTasks()
    resumed.tasks = dict(killed.tasks)
    run(source, resumed, state, now=NOW + dt.timedelta(minutes=15))
    assert sorted(resumed.tasks) == ["1000001", "1000002", "1000003", "1000004"]


def test_a_dry_run_writes_nothing_and_moves_nothing(conversations: list[dict[str, object]]) -> None:
    tasks, state = FakeTasks(), FakeState({ANA: ("Contact", CONTACT)})
    result = run(FakeHeymarket(conversations), tasks, state, dry_run=True)
    assert (result.planned, result.unmatched, result.created) == (2, 3, 0)
    assert tasks.upserts == 0 and state.pending == {} and state.watermarks == {}


def test_a_backfill_reads_its_range_and_leaves_the_watermark(conversations: list[dict[str, object]]) -> None:
    tasks, state = FakeTasks(), FakeState({ANA: ("Contact", CONTACT), BEN: ("Lead", LEAD)})
    result = run(FakeHeymarket(conversations), tasks, state, mode="backfill",
                 start=NOW - dt.timedelta(minutes=45), end=NOW - dt.timedelta(minutes=35))
    assert sorted(tasks.tasks) == ["1000003", "1000004"] and result.created == 2
    assert ("heymarket", "messages") not in state.watermarks


def test_a_backfill_up_to_now_without_a_gap_moves_the_watermark(conversations: list[dict[str, object]]) -> None:
    source, tasks = FakeHeymarket(conversations), FakeTasks()
    state = FakeState({ANA: ("Contact", CONTACT), BEN: ("Lead", LEAD)})
    run(source, tasks, state, mode="backfill", start=NOW - dt.timedelta(days=90), end=NOW)
    assert state.watermarks[("heymarket", "messages")] == NOW and len(tasks.tasks) == 4
    calls = source.calls
    again = run(source, tasks, state, now=NOW + dt.timedelta(minutes=15))
    assert (again.read, source.calls - calls) == (0, 1)


def test_the_first_run_looks_back_the_configured_days() -> None:
    old = message(1000001, ANA, 60 * 24 * 3)
    recent = message(1000002, ANA, 60 * 24 * 1)
    tasks = FakeTasks()
    run(FakeHeymarket([old, recent]), tasks, FakeState({ANA: ("Contact", CONTACT)}),
        config=MessagesConfig(settle_seconds=0, look_back_days=2))
    assert list(tasks.tasks) == ["1000002"]


def test_messages_younger_than_the_settle_time_wait_for_the_next_run() -> None:
    fresh = message(1000001, ANA, 0.5)
    tasks, state = FakeTasks(), FakeState({ANA: ("Contact", CONTACT)})
    run(FakeHeymarket([fresh]), tasks, state, config=MessagesConfig(settle_seconds=60))
    assert tasks.tasks == {}
    run(FakeHeymarket([fresh]), tasks, state, now=NOW + dt.timedelta(minutes=2),
        config=MessagesConfig(settle_seconds=60))
    assert list(tasks.tasks) == ["1000001"]


def test_the_result_survives_xcom_and_holds_no_message_data(conversations: list[dict[str, object]]) -> None:
    result = run(FakeHeymarket(conversations), FakeTasks(), FakeState({ANA: ("Contact", CONTACT)}))
    value = result.to_xcom()
    assert MessageResult.from_xcom(value) == result
    text = repr(value)
    assert not any(secret in text for secret in ("Hi Ana", "Hi back", ANA, UNKNOWN))
    with pytest.raises(ValueError, match="not a message copy"):
        MessageResult.from_xcom({"path": "/x"})


def test_the_run_outcome_is_failed_with_the_reason_when_the_copy_pushed_no_result() -> None:
    outcome = message_run_outcome(None, "Heymarket connection 'heymarket_default': HTTP 401")
    assert (outcome.status, dict(outcome.counts)) == ("failed", {})
    assert outcome.error_summary == "Heymarket connection 'heymarket_default': HTTP 401"
    assert message_run_outcome(None, None).error_summary == "the copy task did not finish"


@pytest.mark.parametrize(("result", "status"), [
    (MessageResult(mode="incremental", created=3, updated=1), "success"),
    (MessageResult(mode="incremental", dry_run=True, planned=4), "dry_run"),
    (MessageResult(mode="backfill", created=2, stopped=True), "partial"),
    (MessageResult(mode="incremental", created=2, failed=2, failures={"INVALID_CROSS_REFERENCE_KEY": 1,
                                                                       "FIELD_CUSTOM_VALIDATION_EXCEPTION": 1}),
     "partial"),
])
def test_the_run_outcome_says_partial_for_refused_or_stopped_copies_and_names_only_error_codes(
        result: MessageResult, status: str) -> None:
    outcome = message_run_outcome(result, None)
    assert outcome.status == status
    assert outcome.counts == result.counts()
    if result.failures:
        assert outcome.error_summary == ("Salesforce refused 2 Task(s) (FIELD_CUSTOM_VALIDATION_EXCEPTION: 1, "
                                         "INVALID_CROSS_REFERENCE_KEY: 1); they are sent again next run")
    else:
        assert outcome.error_summary is None
