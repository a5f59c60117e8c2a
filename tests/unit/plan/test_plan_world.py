"""Builders for small plan inputs and an in-memory simulator that applies a plan the way the appliers do.

The other ``test_plan*`` modules import from here; the tests at the bottom check the simulator itself,
because the convergence and echo tests are only as good as it is.

Simulator semantics (docs/contracts.md, sync_engine.apply): link-table changes first (``unlink``: drop,
release or set the status; then ``link`` storing ``agreed.<key>``, replacing any other row that held the
contact), then creates and updates (the target gets the ``changed`` keys; the link memory of exactly those
keys becomes the row's value, its phone the row's phone), then deletes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sync_engine.plan import ObjectSettings, Plan, PlanSettings, plan
from sync_engine.plan.model import AGREED_PREFIX
from sync_engine.vocabulary import ACTIONS, CONSENT_FOLLOWERS

KEYS = ("first", "last", "email")
T0 = pd.Timestamp("2024-05-01 09:00", tz="UTC")
T1 = T0 + pd.Timedelta(hours=1)
T2 = T0 + pd.Timedelta(hours=2)
LINK_META = ("sf_modstamp", "hm_rev", "synced_at")


def sf_frame(*rows: dict[str, object], keys: tuple[str, ...] = KEYS) -> pd.DataFrame:
    defaults = {"object": "Contact", "modstamp": T0, "phone_raw": None, "in_scope": True, "is_deleted": False}
    data = [{**defaults, **{k: None for k in keys}, **row} for row in rows]
    columns = ["object", "sf_id", "modstamp", "phone_raw", "in_scope", "is_deleted", *keys]
    frame = pd.DataFrame(data, columns=columns)
    for column in ("object", "sf_id", "phone_raw", *keys):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.astype({"modstamp": "datetime64[ns, UTC]", "in_scope": bool, "is_deleted": bool})


def hm_frame(*rows: dict[str, object], keys: tuple[str, ...] = KEYS) -> pd.DataFrame:
    defaults = {"updated": T0, "rev": 1}
    data = [{**defaults, **{k: None for k in keys}, **row} for row in rows]
    frame = pd.DataFrame(data, columns=["hm_id", "updated", "rev", "phone", *keys])
    for column in ("phone", *keys):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.astype({"hm_id": "int64", "rev": "int64", "updated": "datetime64[ns, UTC]"})


def link_frame(*rows: dict[str, object], keys: tuple[str, ...] = KEYS) -> pd.DataFrame:
    """Rows: object (Contact), sf_id, hm_id, phone, status (active), synced: {key: value}."""
    data = []
    for row in rows:
        synced = dict(row.get("synced", {}))
        item = {
            "object": "Contact",
            "status": "active",
            "sf_modstamp": T0,
            "hm_rev": 1,
            "synced_at": T0,
            **{k: v for k, v in row.items() if k != "synced"},
        }
        item.update({f"synced.{k}": synced.get(k) for k in keys})
        data.append(item)
    columns = ["object", "sf_id", "hm_id", "phone", "status", *(f"synced.{k}" for k in keys), *LINK_META]
    frame = pd.DataFrame(data, columns=columns)
    for column in ("object", "sf_id", "phone", "status", *(f"synced.{k}" for k in keys)):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.astype(
        {
            "hm_id": "int64",
            "hm_rev": "Int64",
            "sf_modstamp": "datetime64[ns, UTC]",
            "synced_at": "datetime64[ns, UTC]",
        }
    )


def settings(**overrides: object) -> PlanSettings:
    objects = overrides.pop("objects", None) or {
        "Contact": ObjectSettings("Contact", **overrides.pop("contact", {})),  # type: ignore[arg-type]
        "Lead": ObjectSettings("Lead", **overrides.pop("lead", {})),  # type: ignore[arg-type]
    }
    base: dict[str, object] = {"objects": objects, "sf_mode": "full", "hm_mode": "full", "keys": KEYS}
    base.update(overrides)
    return PlanSettings(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- views
VIEW = ("action", "object", "sf_id", "hm_id", "phone", "reason", "changed")


def view(result: Plan, *extra: str) -> pd.DataFrame:
    """All action rows (in ACTIONS order) with the VIEW columns plus ``extra``."""
    columns = [*VIEW, *extra]
    frames = [result.actions[a][columns] for a in ACTIONS if len(result.actions[a])]
    if not frames:
        return expect([], *extra)
    return _typed(pd.concat(frames, ignore_index=True), columns)


def expect(rows: list[tuple[object, ...]], *extra: str) -> pd.DataFrame:
    columns = [*VIEW, *extra]
    return _typed(
        pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame({c: [] for c in columns}), columns
    )


def report_view(result: Plan) -> pd.DataFrame:
    columns = ["kind", "object", "sf_id", "hm_id", "winner_sf_id"]
    return _typed(result.report[columns].reset_index(drop=True), columns)


def expect_report(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    columns = ["kind", "object", "sf_id", "hm_id", "winner_sf_id"]
    return _typed(
        pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame({c: [] for c in columns}), columns
    )


def _typed(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = {}
    for column in columns:
        values = frame[column]
        if column == "hm_id":
            out[column] = values.astype("Int64")
        else:
            out[column] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


# --------------------------------------------------------------------------------------------- simulator
@dataclass(frozen=True)
class World:
    """What both systems and the link table hold; ``plan_once`` plans against all of it.

    :param since: when the last run read both systems. With it, an ``incremental`` side is read as the real
        extracts read it: only the records (deleted ones included) or contacts changed after that instant.
    """

    sf: pd.DataFrame
    hm: pd.DataFrame
    links: pd.DataFrame
    settings: PlanSettings
    region: str = "US"
    since: pd.Timestamp | None = None

    def read(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The two extract frames a run would get."""
        sf, hm = self.sf, self.hm
        if self.since is not None and self.settings.sf_mode == "incremental":
            sf = sf[sf["modstamp"] > self.since].reset_index(drop=True)
        if self.since is not None and self.settings.hm_mode == "incremental":
            hm = hm[hm["updated"] > self.since].reset_index(drop=True)
        return sf, hm

    def plan_once(self) -> Plan:
        sf, hm = self.read()
        return plan(sf, hm, self.links, self.settings, default_region=self.region)

    def latest(self) -> pd.Timestamp:
        times = [T2, *self.sf["modstamp"].dropna(), *self.hm["updated"].dropna()]
        return max(times)


def apply_plan(world: World, result: Plan, now: pd.Timestamp | None = None) -> World:
    """The world after the appliers ran the plan (every write succeeds); a world read incrementally (with
    ``since``) is next read from ``now``, one read in full stays so."""
    now = now if now is not None else world.latest() + pd.Timedelta(minutes=1)
    keys = world.settings.keys
    sf = world.sf.copy()
    hm = world.hm.copy()
    links = world.links.copy()

    def to_hm_keys() -> list[str]:
        return [k for k in keys if world.settings.direction(k) != "to_salesforce"]

    def to_sf_keys() -> list[str]:
        return [k for k in keys if world.settings.direction(k) != "to_heymarket"]

    def link_at(obj: object, sf_id: object) -> pd.Series:
        return (links["object"] == obj) & (links["sf_id"] == sf_id)

    # Link-table changes, as StoreApplyState + apply_link_changes do them: deletes, releases, upserts (an
    # upsert replaces whatever other row held its contact).
    for row in result.actions["unlink"].to_dict("records"):
        where = (links["hm_id"] == row["hm_id"]) & (
            (links["sf_id"].isna() & pd.isna(row["sf_id"])) | link_at(row["object"], row["sf_id"])
        )
        assert where.sum() == 1, f"unlink of a link that does not exist: {row}"
        if row["reason"] == "heymarket_deleted":
            links = links[~where]
        elif row["reason"] == "released":
            links.loc[where, ["sf_id", "status"]] = [None, "released"]
        else:
            links.loc[where, "status"] = row["reason"]
    for row in result.actions["link"].to_dict("records"):
        new = {
            "object": row["object"],
            "sf_id": row["sf_id"],
            "hm_id": int(row["hm_id"]),
            "phone": row["phone"],
            "status": "active",
            "sf_modstamp": row["sf_modstamp"],
            "hm_rev": row["hm_rev"],
            "synced_at": now,
            **{f"synced.{k}": row[AGREED_PREFIX + k] for k in keys},
        }
        links = _upsert(links, link_at(row["object"], row["sf_id"]) | (links["hm_id"] == row["hm_id"]), new)

    for row in result.actions["create_heymarket"].to_dict("records"):
        assert not (hm["phone"] == row["phone"]).any(), f"create_heymarket for an existing phone {row}"
        # Heymarket never reuses an id: not even one a link still remembers of a deleted contact.
        hm_id = max([999, *hm["hm_id"], *links["hm_id"]]) + 1
        contact = {
            "hm_id": hm_id,
            "updated": now,
            "rev": 1,
            "phone": row["phone"],
            **{k: (row[k] if k in to_hm_keys() else None) for k in keys},
        }
        hm = pd.concat([hm, _frame_like(hm, contact)], ignore_index=True)
        links = _upsert(
            links,
            link_at(row["object"], row["sf_id"]),
            {
                "object": row["object"],
                "sf_id": row["sf_id"],
                "hm_id": hm_id,
                "phone": row["phone"],
                "status": "active",
                "sf_modstamp": row["sf_modstamp"],
                "hm_rev": 1,
                "synced_at": now,
                **{f"synced.{k}": (row[k] if k in to_hm_keys() else None) for k in keys},
            },
        )
    for row in result.actions["update_heymarket"].to_dict("records"):
        changed = row["changed"].split(",")
        where = hm["hm_id"] == row["hm_id"]
        assert where.sum() == 1, f"update_heymarket of a contact that does not exist: {row}"
        if "phone" in changed:
            assert not ((hm["phone"] == row["phone"]) & ~where).any(), f"phone of another contact: {row}"
        for key in changed:
            hm.loc[where, key] = row[key]
        hm.loc[where, ["updated", "rev"]] = [now, int(hm.loc[where, "rev"].iloc[0]) + 1]
        if row["reason"] not in CONSENT_FOLLOWERS:  # a contact at an opted-out pair's phone joins no pair
            links = _merge_memory(links, link_at(row["object"], row["sf_id"]), row, changed)
    for row in result.actions["create_salesforce"].to_dict("records"):
        assert not _phone_in_salesforce(sf, row["phone"], world.region), f"create_salesforce duplicate {row}"
        sf_id = f"NEW{int(row['hm_id']):06d}"
        record = {
            "object": row["object"],
            "sf_id": sf_id,
            "modstamp": now,
            "phone_raw": "+" + row["phone"],
            "in_scope": True,
            "is_deleted": False,
            **{k: (row[k] if k in to_sf_keys() else None) for k in keys},
        }
        sf = pd.concat([sf, _frame_like(sf, record)], ignore_index=True)
        links = _upsert(
            links,
            link_at(row["object"], sf_id),
            {
                "object": row["object"],
                "sf_id": sf_id,
                "hm_id": int(row["hm_id"]),
                "phone": row["phone"],
                "status": "active",
                "sf_modstamp": now,
                "hm_rev": row["hm_rev"],
                "synced_at": now,
                **{f"synced.{k}": (row[k] if k in to_sf_keys() else None) for k in keys},
            },
        )
    for row in result.actions["update_salesforce"].to_dict("records"):
        changed = row["changed"].split(",")
        assert "phone" not in changed
        where = (sf["object"] == row["object"]) & (sf["sf_id"] == row["sf_id"])
        assert where.sum() == 1, f"update_salesforce of a record that does not exist: {row}"
        for key in changed:
            sf.loc[where, key] = row[key]
        sf.loc[where, "modstamp"] = now
        if row["reason"] not in CONSENT_FOLLOWERS:  # a record following a person's opt-out joins no pair
            links = _merge_memory(links, link_at(row["object"], row["sf_id"]), row, changed)
    for row in result.actions["delete_heymarket"].to_dict("records"):
        hm = hm[hm["hm_id"] != row["hm_id"]]
        links = links[~link_at(row["object"], row["sf_id"])]
    assert not links["hm_id"].duplicated().any(), "two link rows for one contact"
    paired = links.dropna(subset=["sf_id"])
    assert not paired.duplicated(["object", "sf_id"]).any(), "two link rows for one record"
    return replace(
        world,
        sf=sf.reset_index(drop=True),
        hm=hm.reset_index(drop=True),
        links=links.reset_index(drop=True),
        since=now - pd.Timedelta(seconds=1) if world.since is not None else None,
    )


def _phone_in_salesforce(sf: pd.DataFrame, phone: str, region: str) -> bool:
    """A live, in-scope Salesforce record has this phone.

    Records deleted or out of scope are left out: the run after one of them changed reads it and its phone
    keeps a contact from being auto-created, later incremental runs do not read it, and the one late
    auto-create the contract allows (docs/contracts.md) is checked by the lifecycle property test itself.
    """
    from sync_engine.phones import normalise_phones

    live = sf[sf["in_scope"].astype(bool) & ~sf["is_deleted"].astype(bool)]
    return bool((normalise_phones(live["phone_raw"], region)["phone"] == phone).any())


def _frame_like(frame: pd.DataFrame, row: dict[str, object]) -> pd.DataFrame:
    new = pd.DataFrame([row], columns=frame.columns)
    for column in frame.columns:
        if frame[column].dtype == object:
            new[column] = new[column].astype(object).where(new[column].notna(), None)
    return new.astype(frame.dtypes.to_dict())


def _upsert(links: pd.DataFrame, where: pd.Series, row: dict[str, object]) -> pd.DataFrame:
    links = links[~where]
    return pd.concat([links, _frame_like(links, row)], ignore_index=True)


def _merge_memory(
    links: pd.DataFrame, where: pd.Series, row: dict[str, object], changed: list[str]
) -> pd.DataFrame:
    assert where.sum() == 1, f"a write for a pair without a link: {row}"
    links = links.copy()
    for key in changed:
        if key == "phone":
            continue
        links.loc[where, f"synced.{key}"] = row[key]
    links.loc[where, "phone"] = row["phone"]
    links.loc[where, "status"] = "active"
    return links


def writes(result: Plan) -> int:
    return result.writes()


# --------------------------------------------------------------------------------------------- self-tests
def test_simulator_applies_create_and_links_the_pair() -> None:
    world = World(
        sf_frame({"sf_id": "003A", "phone_raw": "(415) 555-0101", "first": "Ann"}),
        hm_frame(),
        link_frame(),
        settings(),
    )
    after = apply_plan(world, world.plan_once())
    assert after.hm[["phone", "first"]].to_dict("records") == [{"phone": "14155550101", "first": "Ann"}]
    assert after.links[["sf_id", "phone", "status", "synced.first"]].to_dict("records") == [
        {"sf_id": "003A", "phone": "14155550101", "status": "active", "synced.first": "Ann"}
    ]


def test_simulator_update_changes_only_the_changed_keys() -> None:
    world = World(
        sf_frame(
            {"sf_id": "003A", "phone_raw": "4155550101", "first": "Ann", "last": "New", "email": "keep@x"}
        ),
        hm_frame({"hm_id": 7, "phone": "14155550101", "first": "Ann", "last": "Old", "email": "keep@x"}),
        link_frame(
            {
                "sf_id": "003A",
                "hm_id": 7,
                "phone": "14155550101",
                "synced": {"first": "Ann", "last": "Old", "email": "keep@x"},
            }
        ),
        settings(),
    )
    result = world.plan_once()
    assert view(result, "last")["changed"].tolist() == ["last"]
    after = apply_plan(world, result)
    assert after.hm.loc[0, ["first", "last", "email"]].tolist() == ["Ann", "New", "keep@x"]
    assert after.links.loc[0, "synced.last"] == "New"
    assert np.int64(after.hm.loc[0, "rev"]) == 2
