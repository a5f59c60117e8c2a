"""Pure helpers of the state store: record keys, fingerprints, redaction, matching, backoff, metadata."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sync_engine.state import RecordRef, RetryPolicy, record_fingerprint, record_key
from sync_engine.state.migrate import MIGRATIONS_DIR
from sync_engine.state.models import Base
from sync_engine.state.records import WriteRejection, column_cells, matching_ids, rows_from
from sync_engine.state.redaction import redact_params, scrub_message


def test_record_key_is_null_safe_and_distinct() -> None:
    assert record_key("Contact", "003A", None) == "Contact/003A/-"
    assert record_key(None, None, 42) == "-/-/42"
    assert record_key("Contact", "003A", 42) != record_key("Contact", "003A", None)


def test_fingerprint_ignores_missing_values_and_key_order() -> None:
    base = record_fingerprint({"first": "Ann", "email": "a@x.com"})
    assert record_fingerprint({"email": "a@x.com", "first": "Ann", "last": None, "x": np.nan}) == base
    row = pd.DataFrame({"first": ["Ann"], "email": ["a@x.com"], "last": [None]}).iloc[0].to_dict()
    assert record_fingerprint(row) == base
    assert record_fingerprint({"first": "Anna", "email": "a@x.com"}) != base
    assert len(base) == 64


@pytest.mark.parametrize(
    ("message", "kept", "masked"),
    [
        ("Phone +1 (415) 555-0134 is invalid", "is invalid", "555-0134"),
        ("duplicate value 14155550134 on record 003A00000000001AAA", "003A00000000001AAA", "14155550134"),
        ("email ann.lee+x@example.co.uk bounced", "bounced", "example.co.uk"),
        ("HTTP 429 after 3 retries", "HTTP 429 after 3 retries", None),
    ],
)
def test_scrub_message_masks_phones_and_emails_only(message: str, kept: str, masked: str | None) -> None:
    scrubbed = scrub_message(message, 500)
    assert scrubbed is not None and kept in scrubbed
    if masked is not None:
        assert masked not in scrubbed and "<redacted>" in scrubbed


def test_scrub_message_truncates() -> None:
    scrubbed = scrub_message("x" * 1000, 500)
    assert scrubbed is not None and len(scrubbed) == 500 and scrubbed.endswith("…")
    assert scrub_message(None, 500) is None


def test_redact_params_walks_nested_values_and_stays_json() -> None:
    params = {
        "record_ids": ["003A"], "dry_run": True, "api_key": "k", "Authorization": "Bearer t",
        "conn": {"password": "p", "host": "h", "private_key": "-----BEGIN"}, "when": pd.Timestamp("2026-01-01"),
        "empty_token": "",
    }
    assert redact_params(params) == {
        "record_ids": ["003A"], "dry_run": True, "api_key": "***", "Authorization": "***",
        "conn": {"password": "***", "host": "h", "private_key": "***"}, "when": "2026-01-01 00:00:00",
        "empty_token": "",
    }


def test_matching_ids_by_salesforce_key_or_heymarket_id() -> None:
    stored = [
        SimpleNamespace(id=1, target="heymarket", action="create_heymarket", object="Contact", sf_id="003A", hm_id=None),
        SimpleNamespace(id=2, target="heymarket", action="update_heymarket", object="Contact", sf_id="003B", hm_id=9),
        SimpleNamespace(id=3, target="salesforce", action="update_salesforce", object="Lead", sf_id="00QC", hm_id=8),
    ]
    assert matching_ids(stored, [RecordRef("heymarket", "Contact", "003A", hm_id=77)]) == [1]
    assert matching_ids(stored, [RecordRef("heymarket", hm_id=9)]) == [2]
    assert matching_ids(stored, [RecordRef("heymarket", hm_id=9, action="create_heymarket")]) == []
    assert matching_ids(stored, [RecordRef("heymarket", hm_id=8)]) == []  # other target
    assert matching_ids(stored, [RecordRef("salesforce", "Contact", "00QC")]) == []  # other object
    with pytest.raises(ValueError, match="names no record"):
        matching_ids(stored, [RecordRef("heymarket")])


def test_rows_from_frame_converts_cells_to_python() -> None:
    frame = pd.DataFrame({
        "target": ["heymarket", "salesforce"], "action": ["create_heymarket", "update_salesforce"],
        "error_code": ["E1", "E2"], "object": ["Contact", None], "sf_id": ["003A", None],
        "hm_id": [np.nan, 7.0], "unrelated": [1, 2],
    })
    rows = rows_from(frame, WriteRejection)
    assert rows == [
        WriteRejection("heymarket", "create_heymarket", "E1", "Contact", "003A", None),
        WriteRejection("salesforce", "update_salesforce", "E2", None, None, 7),
    ]
    assert type(rows[1].hm_id) is int
    assert column_cells(pd.DataFrame({"x": pd.array([1, None], dtype="Int64")}), "x") == [1, None]


def test_retry_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base=timedelta(minutes=30), cap=timedelta(hours=4))
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5, 9)] == [
        timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2), timedelta(hours=4), timedelta(hours=4),
        timedelta(hours=4),
    ]


def test_every_table_and_column_is_documented_for_analysts() -> None:
    for table in Base.metadata.tables.values():
        assert table.name.startswith("hm_sync_")
        assert table.comment, table.name
        undocumented = [column.name for column in table.columns if not column.comment]
        assert not undocumented, (table.name, undocumented)


def test_alembic_env_is_inert_when_imported_outside_alembic() -> None:
    # Airflow's plugin scanner imports .py files under plugins/ by path; env.py must not run then.
    spec = importlib.util.spec_from_file_location("env", MIGRATIONS_DIR / "env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._in_alembic() is False
