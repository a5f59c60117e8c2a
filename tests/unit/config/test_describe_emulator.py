"""The shipped config against the Salesforce emulator's describe, fetched over HTTPS with the provider hook.

The other describe tests read a fixture file; this one proves the shipped sync.yaml fits what the
emulator really serves (and that the fixture did not drift from it). To regenerate the fixture after an
intended emulator change, dump ``hook.describe_object(obj)`` for Contact and Lead into
tests/unit/fixtures/salesforce_describe.json as ``{"Contact": {...}, "Lead": {...}}``.
"""

from __future__ import annotations

import json
from pathlib import Path

from sync_engine.config import load_config, required_create_columns, validate_against_describe

REPO = Path(__file__).resolve().parents[3]
FIXTURE = Path(__file__).parents[1] / "fixtures" / "salesforce_describe.json"
HEYMARKET_FIELDS = [{"id": 1, "title": "Customer Tier"}, {"id": 2, "title": "Preferred Language"}]


def test_shipped_config_validates_against_live_emulator_describe(salesforce_conn: str) -> None:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    hook = SalesforceHook(salesforce_conn_id=salesforce_conn)
    describes = {obj: hook.describe_object(obj) for obj in ("Contact", "Lead")}
    config = load_config(REPO / "include" / "mappings" / "sync.yaml")

    assert validate_against_describe(config, describes, HEYMARKET_FIELDS) == []
    assert required_create_columns(config, "Lead", describes["Lead"]) == ("phone", "last")

    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    for obj, describe in describes.items():
        live = {f["name"]: (f["type"], f["createable"], f["updateable"], f["nillable"], f["calculated"])
                for f in describe["fields"]}
        stored = {f["name"]: (f["type"], f["createable"], f["updateable"], f["nillable"], f["calculated"])
                  for f in fixture[obj]["fields"]}
        assert live == stored, f"{obj} describe changed; regenerate {FIXTURE.name}"
