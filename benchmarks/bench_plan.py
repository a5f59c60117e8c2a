"""Plan benchmark: a million linked Salesforce records and Heymarket contacts with 1% drift.

Run it from the repository root (it is a script, not a test)::

    .venv/bin/python -m benchmarks.bench_plan --size 1000000
    .venv/bin/python -m benchmarks.bench_plan --size 100000      # quick

It generates (vectorised) ``size`` Salesforce records in the usual human phone formats, the matching
Heymarket contacts and link rows, then drifts 1% of them: fields changed on either side or both,
records and contacts added and deleted, and a few record lifecycles (0.02% of the records swap phones in
pairs, 0.01% are deleted and re-created with the same phone, 0.01% move to the number of a Heymarket
contact nobody knows yet). It prints the phone normalisation rate, the plan time cold (empty
phone cache) and warm (the cache the cold run filled, as the state store keeps it), the planned counts
and the peak RSS. Targets on a 2-core machine at 1,000,000: cold plan <= 30 s and peak RSS <= 3 GB,
warm plan <= 10 s.
"""

from __future__ import annotations

import argparse
import gc
import io
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from sync_engine.phones import normalise_phones  # noqa: E402
from sync_engine.plan import ObjectSettings, PlanSettings, plan  # noqa: E402

KEYS = ("first", "last", "email", "custom.Tier")
T0 = pd.Timestamp("2025-01-01", tz="UTC")
TIERS = np.array(["Gold", "Silver", "Bronze", None], dtype=object)
# Real US area codes (phonenumbers' metadata decides which exchanges are valid; about 1% of the generated
# numbers are not, which is realistic and exercises the invalid-phone path).
# fmt: off
AREA_CODES = np.array([
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228, 229,
    231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281, 301, 302, 303, 304,
    305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 325, 330, 331, 334, 336,
    337, 339, 347, 351, 352, 360, 361, 385, 386, 401, 402, 404, 405, 406, 407, 408, 409, 410, 412, 413, 414,
    415, 417, 419, 423, 424, 425, 430, 432, 434, 435, 440, 442, 443, 458, 469, 470, 475, 478, 479, 480, 484,
    501, 502, 503, 504, 505, 507, 508, 509, 510, 512, 513, 515, 516, 517, 518, 520, 530, 539, 540, 541, 551,
    559, 561, 562, 563, 567, 570, 571, 573, 574, 575, 580, 585, 586, 601, 602, 603, 605, 606, 607, 608, 609,
    610, 612, 614, 615, 616, 617, 618, 619, 620, 623, 626, 630, 631, 636, 641, 646, 650, 651, 657, 660, 661,
    662, 667, 669, 678, 681, 682, 701, 702, 703, 704, 706, 707, 708, 712, 713, 714, 715, 716, 717, 718, 719,
    720, 724, 725, 727, 731, 732, 734, 737, 740, 747, 754, 757, 760, 762, 763, 765, 769, 770, 772, 773, 774,
    775, 779, 781, 785, 786, 801, 802, 803, 804, 805, 806, 808, 810, 812, 813, 814, 815, 816, 817, 818, 828,
    830, 831, 832, 843, 845, 847, 848, 850, 856, 857, 858, 859, 860, 862, 863, 864, 865, 870, 872, 878, 901,
    903, 904, 906, 907, 908, 909, 910, 912, 913, 914, 915, 916, 917, 918, 919, 920, 925, 928, 931, 936, 937,
    940, 941, 947, 949, 951, 952, 954, 956, 959, 970, 971, 972, 973, 978, 979, 980, 984, 985, 989,
])
# fmt: on


@dataclass
class Dataset:
    salesforce: pd.DataFrame
    heymarket: pd.DataFrame
    links: pd.DataFrame
    expected: dict[str, int]


def _text(prefix: str, numbers: np.ndarray, width: int = 0) -> pd.Series:
    digits = pd.Series(numbers).astype(str)
    if width:
        digits = digits.str.zfill(width)
    return (prefix + digits).astype(object)


def generate(size: int, seed: int = 7) -> Dataset:
    """``size`` linked pairs, then 1% drift. Vectorised: about a second per 100,000 rows."""
    rng = np.random.default_rng(seed)
    n = size
    i = np.arange(n)
    area = AREA_CODES[i % len(AREA_CODES)]
    rest = i // len(AREA_CODES)
    exchange = 200 + rest % 800
    line = (rest // 800) * 37 % 10000
    a, e, ln = (pd.Series(x).astype(str) for x in (area, exchange, line))
    ln = ln.str.zfill(4)
    e164 = ("1" + a + e + ln).astype(object)
    form = rng.choice(6, size=n, p=[0.40, 0.15, 0.24, 0.15, 0.02, 0.04])
    raw = pd.Series(
        np.select(
            [form == 0, form == 1, form == 2, form == 3, form == 4],
            [
                "(" + a + ") " + e + "-" + ln,
                a + "." + e + "." + ln,
                "+1 " + a + " " + e + " " + ln,
                "1" + a + e + ln,
                a + "-" + e + "-" + ln + " ext. 12",
            ],
            default=None,
        ),
        dtype=object,
    )
    raw[form == 5] = None  # no phone (counted, not invalid)
    is_contact = rng.random(n) < 0.6
    objects = np.where(is_contact, "Contact", "Lead").astype(object)
    sf_ids = pd.Series(np.where(is_contact, "003", "00Q")).astype(object) + pd.Series(i).astype(
        str
    ).str.zfill(15)
    modstamp = T0 + pd.to_timedelta(rng.integers(0, 86_400 * 30, n), unit="s")
    values = {
        "first": _text("First", i),
        "last": _text("Last", i),
        "email": _text("user", i) + "@example.com",
        "custom.Tier": pd.Series(TIERS[i % len(TIERS)], dtype=object),
    }
    salesforce = pd.DataFrame(
        {
            "object": objects,
            "sf_id": sf_ids.astype(object),
            "modstamp": modstamp,
            "phone_raw": raw,
            "in_scope": True,
            "is_deleted": False,
            **values,
        }
    )
    hm_ids = 5_000_000 + i
    heymarket = pd.DataFrame(
        {
            "hm_id": hm_ids,
            "updated": modstamp,
            "rev": np.ones(n, dtype=np.int64),
            "phone": e164,
            **values,
        }
    )
    links = pd.DataFrame(
        {
            "object": objects,
            "sf_id": sf_ids.astype(object),
            "hm_id": hm_ids,
            "phone": e164,
            "status": "active",
            **{f"synced.{k}": v for k, v in values.items()},
            "sf_modstamp": modstamp,
            "hm_rev": pd.array(np.ones(n, dtype=np.int64), dtype="Int64"),
            "synced_at": modstamp,
        }
    )
    # Records without a phone have no pair (they were never synced).
    no_pair = raw.isna().to_numpy()
    # 1% drift, on disjoint slices of a permutation.
    order = rng.permutation(np.flatnonzero(~no_pair))
    cut = np.cumsum([0, 30, 30, 10, 5, 5, 2, 1, 1]) * n // 10_000
    sf_changed, hm_changed, both, sf_deleted, hm_deleted, swapped, recreated, moved = (
        order[cut[k] : cut[k + 1]] for k in range(8)
    )
    swapped = swapped[: len(swapped) // 2 * 2]
    later = T0 + pd.Timedelta(days=40)
    salesforce.loc[sf_changed, "first"] = "SF edit"
    salesforce.loc[sf_changed, "modstamp"] = later
    heymarket.loc[hm_changed, "last"] = "HM edit"
    heymarket.loc[hm_changed, "updated"] = later
    salesforce.loc[both, "email"] = "sf@example.org"
    heymarket.loc[both, "email"] = "hm@example.org"
    salesforce.loc[sf_deleted, ["is_deleted", "in_scope"]] = [True, False]
    # Lifecycles: pairs of records swap phones; records deleted and created again with the same phone.
    first_of, second_of = swapped[0::2], swapped[1::2]
    phones_first = salesforce.loc[first_of, "phone_raw"].to_numpy()
    salesforce.loc[first_of, "phone_raw"] = salesforce.loc[second_of, "phone_raw"].to_numpy()
    salesforce.loc[second_of, "phone_raw"] = phones_first
    salesforce.loc[swapped, "modstamp"] = later
    again = salesforce.loc[recreated].assign(
        sf_id=_text("003R", recreated, 14).to_numpy(), object="Contact", modstamp=later
    )
    salesforce.loc[recreated, ["is_deleted", "in_scope"]] = [True, False]
    heymarket = heymarket.drop(index=hm_deleted)
    links = links.drop(index=np.flatnonzero(no_pair))
    heymarket = heymarket.drop(index=np.intersect1d(np.flatnonzero(no_pair), heymarket.index))
    # New on either side (0.1% each): records without contact or link, contacts nobody knows.
    new = max(1, n // 1000)
    j = n + np.arange(new)
    new_e164 = (
        "1"
        + pd.Series(AREA_CODES[j % len(AREA_CODES)]).astype(str)
        + pd.Series(200 + (j // len(AREA_CODES)) % 800).astype(str)
        + pd.Series((j // len(AREA_CODES) // 800) * 37 % 10000 + 5000).astype(str).str.zfill(4)
    ).astype(object)
    half = new // 2
    # A few records move to the number of a new Heymarket contact (matched by phone; their old one released).
    moved = moved[: new - half]
    salesforce.loc[moved, "phone_raw"] = ("+" + new_e164[half : half + len(moved)]).to_numpy()
    salesforce.loc[moved, "modstamp"] = later
    salesforce = pd.concat(
        [
            salesforce,
            again,
            pd.DataFrame(
                {
                    "object": "Contact",
                    "sf_id": _text("003N", j[:half], 14),
                    "modstamp": later,
                    "phone_raw": "+" + new_e164[:half],
                    "in_scope": True,
                    "is_deleted": False,
                    "first": "New",
                    "last": _text("Person", j[:half]),
                    "email": None,
                    "custom.Tier": None,
                }
            ),
        ],
        ignore_index=True,
    )
    heymarket = pd.concat(
        [
            heymarket,
            pd.DataFrame(
                {
                    "hm_id": 9_000_000 + j[half:],
                    "updated": later,
                    "rev": 1,
                    "phone": new_e164[half:].to_numpy(),
                    "first": "Texter",
                    "last": _text("Unknown", j[half:]),
                    "email": None,
                    "custom.Tier": None,
                }
            ),
        ],
        ignore_index=True,
    )
    salesforce, heymarket, links = (
        _via_parquet(f.reset_index(drop=True)) for f in (salesforce, heymarket, links)
    )
    expected = {
        "sf_changed": len(sf_changed),
        "hm_changed": len(hm_changed),
        "both_changed": len(both),
        "sf_deleted": len(sf_deleted),
        "hm_deleted": len(hm_deleted),
        "new_sf": half,
        "new_hm": new - half,
        "swapped": len(swapped),
        "recreated": len(recreated),
        "moved_to_new_contact": len(moved),
    }
    return Dataset(
        salesforce.reset_index(drop=True),
        heymarket.reset_index(drop=True),
        links.reset_index(drop=True),
        expected,
    )


def _via_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the plan task gets it: written to and read from Parquet (Arrow-backed strings)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    buffer.seek(0)
    return pd.read_parquet(buffer)


def settings() -> PlanSettings:
    return PlanSettings(
        objects={
            "Contact": ObjectSettings("Contact", scope="all", delete_in_heymarket=False),
            "Lead": ObjectSettings("Lead", scope="all", delete_in_heymarket=True),
        },
        auto_create="Lead",
        conflict_policy="newest_wins",
        keys=KEYS,
        sf_mode="full",
        hm_mode="full",
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="Salesforce records (default 100000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    data = generate(args.size, args.seed)
    print(
        f"generated {len(data.salesforce):,} records, {len(data.heymarket):,} contacts,"
        f" {len(data.links):,} links in {time.perf_counter() - started:.1f} s; drift {data.expected}"
    )
    print(f"peak RSS after generating: {peak_rss_mb():,.0f} MB")

    cache: dict[str, tuple[str | None, str]] = {}
    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    cold = plan(data.salesforce, data.heymarket, data.links, settings(), phone_cache=cache)
    cold_s, cold_cpu = time.perf_counter() - started, time.process_time() - cpu
    cold_rss = peak_rss_mb()
    print(f"plan, cold phone cache: {cold_s:.1f} s wall, {cold_cpu:.1f} s CPU", end="")
    print(f" (peak RSS so far {cold_rss:,.0f} MB)")
    print(cold.summary_text())

    gc.collect()
    started, cpu = time.perf_counter(), time.process_time()
    warm = plan(data.salesforce, data.heymarket, data.links, settings(), phone_cache=cache)
    warm_s, warm_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"plan, warm phone cache ({len(cache):,} entries): {warm_s:.1f} s wall, {warm_cpu:.1f} s CPU")
    assert warm.counts() == cold.counts(), "the cache changed the plan"

    raw = data.salesforce["phone_raw"]
    distinct = raw.dropna().nunique()
    started = time.perf_counter()
    normalise_phones(raw.drop_duplicates(), "US")
    cold_norm = time.perf_counter() - started
    started = time.perf_counter()
    doubled = pd.concat([raw, raw, raw], ignore_index=True)
    normalise_phones(doubled, "US")
    dup_norm = time.perf_counter() - started
    started = time.perf_counter()
    normalise_phones(raw, "US", cache)
    warm_norm = time.perf_counter() - started
    print(
        f"phone normalisation: {distinct / cold_norm:,.0f} distinct values/s cold; "
        f"{len(doubled) / dup_norm:,.0f} values/s with each value 3 times; "
        f"{len(raw) / warm_norm:,.0f} values/s with a warm cache"
    )

    peak = peak_rss_mb()
    ok = cold_s <= 30 and warm_s <= 10 and cold_rss <= 3 * 1024
    print(f"peak RSS: {peak:,.0f} MB (at the end of the cold plan: {cold_rss:,.0f} MB)")
    if args.size >= 1_000_000:
        print("targets (cold <= 30 s, warm <= 10 s, RSS <= 3 GB):", "met" if ok else "MISSED")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
