"""The messages DAG's params become a MessageRequest, or a plain-words refusal (sync_operators.messages)."""

from __future__ import annotations

import datetime as dt

import pytest

from sync_operators.messages import message_request

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def test_incremental_is_the_default_and_a_backfill_covers_whole_days() -> None:
    request = message_request({}, "r1", NOW)
    assert (request.mode, request.dry_run, request.start, request.end) == ("incremental", False, None, None)
    backfill = message_request({"mode": "backfill", "start": "2026-11-01", "end": "2026-11-02", "dry_run": True},
                               "r2", NOW)
    assert backfill.start == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert backfill.end == dt.datetime(2026, 11, 2, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert backfill.dry_run is True
    assert message_request({"mode": "backfill", "start": "2026-11-01"}, "r3", NOW).end == NOW


@pytest.mark.parametrize(("conf", "message"), [
    ({"dryrun": True}, "unknown param"),
    ({"mode": "full"}, "mode must be one of"),
    ({"mode": "backfill"}, "needs 'start'"),
    ({"mode": "backfill", "start": "yesterday"}, "must be a date"),
    ({"mode": "backfill", "start": "2026-11-03", "end": "2026-11-02"}, "after 'end'"),
])
def test_wrong_params_are_refused_in_plain_words(conf: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        message_request(conf, "r", NOW)
