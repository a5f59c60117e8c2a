"""The ``heymarket_messages`` DAG's operators: copy the messages as Tasks, then record the run.

``CopyMessagesOperator`` checks the run's params, opens the run's history row, builds the hooks and calls
:func:`sync_engine.stages.message_stage.copy_messages`; ``RecordMessagesRunOperator`` (trigger rule
all_done) closes the history row with the counts, also when the copy failed. Neither takes the contact sync's
lock: the copy writes only Tasks and its own state rows, and reads the link table as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Param

from sync_engine.message_tasks import MessagePage, TaskUpsertOutcome
from sync_engine.vocabulary import MESSAGE_MODES, MESSAGE_OBJECT, MessageMode
from sync_operators.base import FAILURE_XCOM_KEY, remember_failure
from sync_operators.runtime import DEFAULT_CONFIG_PATH, StopFlag, load_sync_config

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg

    from heymarket_hook import HeymarketHook
    from salesforce_access import SalesforceAccess
    from sync_engine.config import SyncConfig
    from sync_engine.stages.message_stage import MessageRequest
    from sync_engine.state import StateStore

#: The conf keys of the messages DAG, in trigger-form order.
MESSAGE_PARAM_NAMES = ("mode", "start", "end", "dry_run")


def message_params() -> dict[str, Param]:
    """The trigger form of ``heymarket_messages`` (a new dict of new ``Param`` objects on every call)."""
    return {
        "mode": Param("incremental", type=["null", "string"], enum=[*MESSAGE_MODES, None], title="Mode",
                      description="incremental: messages since the last run; backfill: every message dated from "
                      "start to end again (the watermark stays). Empty = incremental."),
        "start": Param(None, type=["null", "string"], format="date", title="Backfill start (UTC date)",
                       description="First day of a backfill, e.g. 2026-11-01 (backfill only)."),
        "end": Param(None, type=["null", "string"], format="date", title="Backfill end (UTC date, inclusive)",
                     description="Last day of a backfill (backfill only; empty = today)."),
        "dry_run": Param(False, type=["null", "boolean"], title="Dry run",
                         description="Read and count the messages, write nothing."),
    }


def message_request(conf: Mapping[str, object], run_id: str, now: dt.datetime) -> MessageRequest:
    """The run's request from its params, refusing unknown keys and wrong values in plain words.

    :raises ValueError: an unknown key, a mode not in ``incremental``/``backfill``, a backfill without a valid
        start, or a start after the end.
    """
    from sync_engine.stages.message_stage import MessageRequest

    unknown = sorted(set(conf) - set(MESSAGE_PARAM_NAMES))
    if unknown:
        raise ValueError(f"unknown param(s) {unknown}; this DAG takes {list(MESSAGE_PARAM_NAMES)}")
    mode = conf.get("mode") or "incremental"
    if mode not in MESSAGE_MODES:
        raise ValueError(f"mode must be one of {list(MESSAGE_MODES)}")
    dry_run = bool(conf.get("dry_run"))
    if mode == "incremental":
        return MessageRequest(run_id=run_id, mode="incremental", now=now, dry_run=dry_run)
    start, end = _day(conf.get("start"), "start"), _day(conf.get("end"), "end")
    if start is None:
        raise ValueError("a backfill needs 'start' (a UTC date, e.g. 2026-11-01)")
    first = dt.datetime.combine(start, dt.time(), dt.UTC)
    last = dt.datetime.combine(end, dt.time.max, dt.UTC) if end else now
    if first > last:
        raise ValueError("'start' is after 'end'")
    backfill: MessageMode = "backfill"
    return MessageRequest(run_id=run_id, mode=backfill, now=now, start=first, end=last, dry_run=dry_run)


def _day(value: object, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"'{name}' must be a date like 2026-11-01") from None


class HookMessageSource:
    """:class:`~sync_engine.stages.ports.MessageSource` over the Heymarket hook.

    :param read_ahead: pages the walk may read ahead of the copy, on a background thread, so that the
        listing goes on at the hook's pace while the copy writes a batch (0: no thread). Each page's
        ``done_through`` is taken right after that page was read, so it stays true for the page.
    """

    def __init__(self, hook: HeymarketHook, read_ahead: int = 0) -> None:
        from heymarket_hook.message_pagination import MAX_MESSAGE_PAGE

        self.hook = hook
        self.page_limit = MAX_MESSAGE_PAGE
        self.read_ahead = read_ahead
        self._open: list[Generator[MessagePage]] = []

    def pages(self, after: dt.datetime, until: dt.datetime | None) -> Iterator[MessagePage]:
        from heymarket_hook.read_ahead import read_ahead

        walk = read_ahead(self._walk(after, until), self.read_ahead, name="heymarket-messages")
        self._open.append(walk)
        return walk

    def close(self) -> None:
        """Stop every walk still reading (a copy that failed leaves its walk open until it is collected)."""
        while self._open:
            self._open.pop().close()

    def _walk(self, after: dt.datetime, until: dt.datetime | None) -> Iterator[MessagePage]:
        from heymarket_hook.message_pagination import MessageWalk

        walk = MessageWalk(after, until, self.page_limit)
        for messages in self.hook.iter_messages(walk):
            yield MessagePage(list(messages), walk.done_through)
        yield MessagePage([], walk.done_through)

    def messages_from(self, at: dt.datetime) -> list[Mapping[str, object]]:
        return list(self.hook.messages_from(at, self.page_limit))


class AccessTaskWriter:
    """:class:`~sync_engine.stages.ports.TaskWriter` over ``SalesforceAccess.iter_upsert`` (error codes only)."""

    def __init__(self, access: SalesforceAccess, external_id_field: str) -> None:
        self.access = access
        self.external_id_field = external_id_field

    def upsert(self, rows: Sequence[Mapping[str, str | None]]) -> Iterator[list[TaskUpsertOutcome]]:
        for chunk in self.access.iter_upsert("Task", self.external_id_field, rows):
            yield [TaskUpsertOutcome(r.index, r.success, bool(r.created),
                                     None if r.success else (r.errors[0]["statusCode"] if r.errors else None))
                   for r in chunk]


class _MessagesOperator(BaseOperator):
    """What both tasks share: the config path and the failure callback that keeps the reason for the history."""

    template_fields: Sequence[str] = ("config_path",)
    ui_color = "#eef7e8"

    def __init__(self, *, config_path: str = DEFAULT_CONFIG_PATH, **kwargs: Any) -> None:
        super().__init__(on_failure_callback=[remember_failure], **kwargs)
        self.config_path = config_path


class CopyMessagesOperator(_MessagesOperator):
    """Copies the waiting and new Heymarket messages as Tasks; pushes the counts (no message data)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stop = StopFlag()

    def on_kill(self) -> None:
        self.log.warning("%s: stop requested; finishing the current batch and stopping", self.task_id)
        self._stop.set()

    def execute(self, context: Context) -> dict[str, object]:
        from salesforce_access import SalesforceAccess
        from sync_engine.stages.message_stage import copy_messages

        config = load_sync_config(self.config_path)
        request, store = self._start_run(context, config)
        hook, source = self._message_source(config)
        access = SalesforceAccess(config.salesforce.conn_id, bulk_threshold=config.salesforce.bulk_threshold)
        try:
            result = copy_messages(request, config.messages, source,
                                   AccessTaskWriter(access, config.messages.external_id_field), store,
                                   stop=self._stop.is_set)
        finally:
            source.close()
            context["ti"].xcom_push(key="api_calls", value={"heymarket": hook.api_calls,
                                                            "salesforce": access.api_calls})
        self.log.info("Messages: %d read, %d Tasks created, %d updated, %d refused, %d unmatched, %d still waiting",
                      result.read, result.created, result.updated, result.failed, result.unmatched,
                      result.pending_left)
        return result.to_xcom()

    def _start_run(self, context: Context, config: SyncConfig) -> tuple[MessageRequest, StateStore]:
        """The run's request from its params, and its history row started (earlier abandoned ones closed)."""
        from sync_operators.preflight import run_type_name
        from sync_operators.runtime import open_state_store

        run_id = str(context["run_id"])
        conf = dict(context["params"])
        request = message_request({k: v for k, v in conf.items() if v is not None}, run_id,
                                  dt.datetime.now(dt.UTC))
        store = open_state_store(config.state.conn_id)
        _close_abandoned_runs(store, self.dag_id, run_id)
        store.start_run(run_id, self.dag_id, trigger=run_type_name(context["dag_run"]), mode=request.mode,
                        objects=[MESSAGE_OBJECT], dry_run=request.dry_run, params=conf)
        return request, store

    @staticmethod
    def _message_source(config: SyncConfig) -> tuple[HeymarketHook, HookMessageSource]:
        """The hook and the listing over it, reading one write batch ahead: the listing goes on while a batch is
        written (the hook still paces every call)."""
        from heymarket_hook import HeymarketHook
        from heymarket_hook.message_pagination import MAX_MESSAGE_PAGE

        hook = HeymarketHook(config.heymarket.conn_id, requests_per_minute=config.heymarket.requests_per_minute)
        return hook, HookMessageSource(hook, read_ahead=config.messages.write_batch // MAX_MESSAGE_PAGE + 1)


def _close_abandoned_runs(store: StateStore, dag_id: str, run_id: str) -> None:
    """History rows of earlier runs of this DAG still ``running`` belong to runs that were killed (the DAG runs
    one at a time): close them as failed, so the history does not show them running forever."""
    for row in store.list_runs(limit=20, dag_id=dag_id):
        if row.get("status") == "running" and row.get("run_id") != run_id:
            store.finish_run(str(row["run_id"]), status="failed", counts={}, error_summary=(
                f"ended without recording its result (killed or lost with its worker); run {run_id} resumed "
                "from the last written batch"))


class RecordMessagesRunOperator(_MessagesOperator):
    """Closes the run's ``hm_sync_run`` row (trigger rule all_done): counts, API calls, status, failure reason.

    :param copy: the copy task's output (templated; ``copy.output``).
    """

    template_fields: Sequence[str] = (*_MessagesOperator.template_fields, "copy")

    def __init__(self, *, copy: Mapping[str, object] | XComArg, copy_task_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.copy = copy
        self.copy_task_id = copy_task_id

    def execute(self, context: Context) -> dict[str, object]:
        from sync_engine.stages.message_stage import MessageResult, message_run_outcome
        from sync_operators.runtime import open_state_store

        store = open_state_store(load_sync_config(self.config_path).state.conn_id)
        run_id = str(context["run_id"])
        if store.get_run(run_id) is None:
            self.log.warning("The copy task never opened the run's history row (it failed before); nothing to record")
            return {"status": "not_started"}
        ti = context["ti"]
        result = MessageResult.from_xcom(self.copy) if isinstance(self.copy, Mapping) and self.copy else None
        failure = ti.xcom_pull(task_ids=self.copy_task_id, key=FAILURE_XCOM_KEY)
        outcome = message_run_outcome(result, str(failure) if failure else None)
        store.finish_run(run_id, status=outcome.status, counts=outcome.counts, error_summary=outcome.error_summary,
                         api_calls=ti.xcom_pull(task_ids=self.copy_task_id, key="api_calls") or {})
        return {"status": outcome.status}
