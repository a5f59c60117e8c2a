"""Canonical extract frames: both systems' records come out with comparable columns."""

from __future__ import annotations

import pandas as pd

from sync_engine.frames import (
    empty_heymarket_frame,
    empty_salesforce_frame,
    heymarket_frame,
    salesforce_frame,
)


def values(series: pd.Series) -> list[object]:
    """Column values with every missing marker (None, NaN, pd.NA) as None: pandas 3 strings use NaN."""
    return [None if pd.isna(v) else v for v in series.tolist()]


FIELDS = {"first": "FirstName", "last": "LastName", "email": "Email", "custom.Customer Tier": "Customer_Tier__c"}


def test_salesforce_frame_normalises_values_and_marks_scope() -> None:
    records = [
        {"Id": "003A", "SystemModstamp": "2026-11-01T10:00:00.000+0000", "Phone": " (415) 555-0134 ",
         "FirstName": "Ada ", "LastName": "Lovelace", "Email": "", "Customer_Tier__c": "Gold", "IsDeleted": False},
        {"Id": "003B", "SystemModstamp": "2026-11-01T11:00:00.000+0000", "Phone": None,
         "FirstName": None, "LastName": "Hopper", "Email": "g@example.com", "Customer_Tier__c": None,
         "IsDeleted": True},
        {"Id": "003C", "SystemModstamp": "2026-11-01T12:00:00.000+0000", "Phone": "212-555-0100",
         "FirstName": "Out", "LastName": "Scope", "Email": None, "Customer_Tier__c": None, "IsDeleted": False},
    ]
    frame = salesforce_frame(records, "Contact", FIELDS, "Phone", out_of_scope_ids=["003C"])
    assert list(frame.columns) == ["object", "sf_id", "modstamp", "phone_raw", "in_scope", "is_deleted", *FIELDS]
    assert values(frame["phone_raw"]) == ["(415) 555-0134", None, "212-555-0100"]
    assert values(frame["first"]) == ["Ada", None, "Out"]
    assert values(frame["email"]) == [None, "g@example.com", None]
    assert values(frame["in_scope"]) == [True, False, False]
    assert values(frame["is_deleted"]) == [False, True, False]
    assert str(frame["modstamp"].dtype) == "datetime64[ns, UTC]" or str(frame["modstamp"].dtype).endswith("UTC]")
    assert frame.loc[0, "modstamp"] == pd.Timestamp("2026-11-01T10:00:00Z")


def test_heymarket_frame_resolves_custom_field_ids_and_keeps_highest_rev() -> None:
    contacts = [
        {"id": 7, "uuid": "u-7", "updated": "2026-11-01T10:00:00.000001Z", "rev": 1, "phone": "14155550134",
         "first": "Ada", "last": "Lovelace", "email": None, "custom": {"12": "Gold", "99": "ignored"}},
        {"id": 7, "uuid": "u-7", "updated": "2026-11-01T10:05:00Z", "rev": 3, "phone": "14155550134",
         "first": "Ada", "last": "King", "email": None, "custom": {"12": "Silver"}},
        {"id": 8, "uuid": "u-8", "updated": "2026-11-01T10:06:00Z", "rev": 1, "phone": "12125550100",
         "first": "", "last": "X", "custom": None},
    ]
    frame = heymarket_frame(contacts, {"12": "Customer Tier"}, ["first", "last", "email", "custom.Customer Tier"])
    assert values(frame["hm_id"]) == [7, 8]
    assert values(frame["last"]) == ["King", "X"]
    assert values(frame["custom.Customer Tier"]) == ["Silver", None]
    assert values(frame["first"]) == ["Ada", None]
    assert values(frame["hm_uuid"]) == ["u-7", "u-8"]


def test_empty_frames_have_the_contract_columns() -> None:
    sf = empty_salesforce_frame(["first"])
    hm = empty_heymarket_frame(["first"])
    assert list(sf.columns) == ["object", "sf_id", "modstamp", "phone_raw", "in_scope", "is_deleted", "first"]
    assert list(hm.columns) == ["hm_id", "hm_uuid", "updated", "rev", "phone", "first"]
    assert len(sf) == len(hm) == 0
