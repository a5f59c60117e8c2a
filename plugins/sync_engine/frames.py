"""Turn API records into the canonical extract frames of docs/contracts.md.

Both extractors call these, so a Salesforce record and a Heymarket contact with the same values end up with
byte-identical canonical columns, which is what makes the three-way diff (and echo suppression) exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sync_engine.values import normalise_value
from sync_engine.vocabulary import OPT_OUT_KEY

SALESFORCE_BASE_COLUMNS = ["object", "sf_id", "modstamp", "phone_raw", "in_scope", "is_deleted"]
HEYMARKET_BASE_COLUMNS = ["hm_id", "hm_uuid", "updated", "rev", "phone"]
HEYMARKET_FIXED_KEYS = ("first", "last", "email")
CUSTOM_PREFIX = "custom."
#: One row of a plan or extract frame (``DataFrame.to_dict("records")``, ``itertuples``): its cells' types
#: follow the frame's dtypes (docs/contracts.md), which the type checker cannot see.
FrameRow = Mapping[str, Any]


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, format="ISO8601")


def salesforce_frame(
    records: Iterable[Mapping[str, object]],
    object_name: str,
    fields: Mapping[str, str],
    phone_field: str,
    out_of_scope_ids: Iterable[str] = (),
) -> pd.DataFrame:
    """Canonical frame for one object's records.

    :param fields: canonical key -> Salesforce field (``first`` -> ``FirstName``, ``custom.Tier`` -> ...).
    :param phone_field: the object's default phone field (its raw value becomes ``phone_raw``).
    :param out_of_scope_ids: records that were read but are outside the object's scope (e.g. a linked
        record that left its list view); everything else read is in scope unless deleted.
    """
    rows = list(records)
    keys = list(fields)
    columns = SALESFORCE_BASE_COLUMNS + keys
    if not rows:
        return empty_salesforce_frame(keys)
    raw = pd.DataFrame.from_records(rows)
    out = pd.DataFrame(index=raw.index)
    out["object"] = object_name
    out["sf_id"] = raw["Id"].astype(str)
    out["modstamp"] = _utc(raw["SystemModstamp"])
    out["phone_raw"] = raw[phone_field].map(normalise_value) if phone_field in raw else None
    deleted = raw["IsDeleted"].fillna(False).astype(bool) if "IsDeleted" in raw else False
    out["is_deleted"] = deleted
    out["in_scope"] = ~out["sf_id"].isin(set(out_of_scope_ids)) & ~out["is_deleted"]
    for key, sf_field in fields.items():
        out[key] = raw[sf_field].map(normalise_value) if sf_field in raw else None
    out = out[columns].drop_duplicates("sf_id", keep="last").reset_index(drop=True)
    return out.astype({"is_deleted": bool, "in_scope": bool})


def empty_salesforce_frame(keys: Iterable[str]) -> pd.DataFrame:
    keys = list(keys)
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in SALESFORCE_BASE_COLUMNS + keys})
    return frame.astype({"modstamp": "datetime64[ns, UTC]", "in_scope": bool, "is_deleted": bool})


def heymarket_frame(
    contacts: Iterable[Mapping[str, object]],
    field_titles: Mapping[str, str],
    keys: Iterable[str],
) -> pd.DataFrame:
    """Canonical frame of Heymarket contacts.

    :param field_titles: Heymarket custom field id (as string) -> title; ``custom`` maps are keyed by id
        on the wire and by title in our config.
    :param keys: the canonical keys to produce (``first``, ``last``, ``email``, ``custom.<title>``...).
    """
    rows = list(contacts)
    keys = list(keys)
    if not rows:
        return empty_heymarket_frame(keys)
    raw = pd.DataFrame.from_records(rows)
    out = pd.DataFrame(index=raw.index)
    out["hm_id"] = raw["id"].astype("int64")
    out["hm_uuid"] = raw["uuid"].astype("string") if "uuid" in raw else None
    out["updated"] = _utc(raw["updated"])
    out["rev"] = raw["rev"].fillna(0).astype("int64") if "rev" in raw else 0
    out["phone"] = raw["phone"].astype(str)
    title_to_id = {title: fid for fid, title in field_titles.items()}
    customs = raw["custom"] if "custom" in raw else pd.Series([{}] * len(raw))
    for key in keys:
        if key in HEYMARKET_FIXED_KEYS:
            out[key] = raw[key].map(normalise_value) if key in raw else None
        elif key == OPT_OUT_KEY:
            # Every contact read carries is_opted_out (reference §3); a contact without it reads as not opted out.
            out[key] = raw["is_opted_out"].map(normalise_value) if "is_opted_out" in raw else None
        elif key.startswith(CUSTOM_PREFIX):
            fid = title_to_id.get(key[len(CUSTOM_PREFIX):])
            out[key] = customs.map(lambda c, fid=fid: normalise_value((c or {}).get(fid)) if fid else None)
    out = out.sort_values(["hm_id", "rev"]).drop_duplicates("hm_id", keep="last").reset_index(drop=True)
    return out[HEYMARKET_BASE_COLUMNS + keys]


def empty_heymarket_frame(keys: Iterable[str]) -> pd.DataFrame:
    keys = list(keys)
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in HEYMARKET_BASE_COLUMNS + keys})
    return frame.astype({"hm_id": "int64", "rev": "int64", "updated": "datetime64[ns, UTC]"})
