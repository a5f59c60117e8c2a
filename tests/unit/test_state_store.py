"""StateStore against real databases: a SQLite file and PostgreSQL (127.0.0.1:5432).

Every test runs on both backends. PostgreSQL tests use a database created for this session (and
dropped at its end), with one schema per test; if the server is unreachable they fail, they are
not skipped: CI starts it.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pandas.testing import assert_frame_equal
from sqlalchemy import URL, create_engine, insert, inspect, make_url, select
from sqlalchemy.exc import IntegrityError, OperationalError

from sync_engine.state import (
    LinkRow,
    LockHeld,
    LockLost,
    OutsideRecord,
    RecordRef,
    RetryRequest,
    SchemaNotCurrent,
    StateStore,
    UnknownRun,
    UnsupportedDatabase,
    WriteRejection,
    links_frame_columns,
    record_fingerprint,
    record_key,
)
from sync_engine.state.migrate import VERSION_TABLE, alembic_config
from sync_engine.state.models import Base, SyncLink, SyncRunCount

PG_ADMIN_URL = make_url(
    os.environ.get("HM_SYNC_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TABLES = {
    "hm_sync_link", "hm_sync_watermark", "hm_sync_phone_cache", "hm_sync_run", "hm_sync_run_count",
    "hm_sync_record_error", "hm_sync_retry", "hm_sync_lock", "hm_sync_user_map", "hm_sync_outside_view",
    "hm_sync_outside_view_scan", "hm_sync_record_outcome", "hm_sync_message_pending", "hm_sync_api_cache",
}


class FakeClock:
    """The store's clock, moved by hand so that expiry and backoff need no sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# --- backends ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_database() -> Iterator[URL]:
    """A fresh, uniquely named PostgreSQL database for this test session, dropped at the end."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL.render_as_string(hide_password=True)} "
            f"({str(exc.orig).strip()}). These tests need it: start PostgreSQL (CI does; trust auth, "
            "user postgres, database test) or set HM_SYNC_TEST_PG_URL.",
            pytrace=False,
        )
    name = f"hm_sync_state_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def new_pg_url(pg_database: URL) -> Iterator[Callable[[], str]]:
    """Factory of URLs to empty schemas of the session database (one per test: full isolation)."""
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT")

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = pg_database.update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    yield make
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Callable[[], str]:
    """Factory of URLs to empty databases of the backend under test."""
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path_factory.mktemp('state') / 'sub' / 'state.db'}"
    return request.getfixturevalue("new_pg_url")  # type: ignore[no-any-return]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(new_url: Callable[[], str], clock: FakeClock) -> Iterator[StateStore]:
    """A migrated, empty store on the backend under test, with a hand-moved clock."""
    with StateStore(new_url(), clock=clock) as s:
        s.migrate()
        yield s


def schema_diff(store: StateStore) -> list[object]:
    """Differences between the migrated database and models.py (empty when they agree)."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": VERSION_TABLE})
        return list(compare_metadata(context, Base.metadata))


def table_names(store: StateStore) -> set[str]:
    return {name for name in inspect(store.engine).get_table_names() if name.startswith("hm_sync_")}


# --- migrations -------------------------------------------------------------------------------------


def test_migrate_from_empty_reaches_head_and_matches_models(new_url: Callable[[], str]) -> None:
    with StateStore(new_url()) as store:
        assert store.current_revision() is None
        with pytest.raises(SchemaNotCurrent, match="migrate"):
            store.require_current_schema()

        assert store.migrate() == store.head_revision()

        heads = ScriptDirectory.from_config(alembic_config()).get_heads()
        assert heads == [store.head_revision()] == [store.current_revision()]
        assert table_names(store) == TABLES | {VERSION_TABLE}
        assert schema_diff(store) == []
        store.require_current_schema()


def test_migrate_twice_is_a_no_op_that_keeps_data(store: StateStore) -> None:
    store.set_watermark("salesforce", "Contact", T0, "run-1")
    assert store.migrate() == store.head_revision()
    assert store.migrate() == store.head_revision()
    assert store.get_watermark("salesforce", "Contact") == T0
    assert schema_diff(store) == []


def test_downgrade_to_base_and_upgrade_again(store: StateStore) -> None:
    store.downgrade("0001")
    assert store.current_revision() == "0001"
    assert "hm_uuid" not in {c["name"] for c in inspect(store.engine).get_columns("hm_sync_link")}

    store.downgrade("base")
    assert store.current_revision() is None
    assert table_names(store) <= {VERSION_TABLE}

    assert store.migrate() == store.head_revision()
    assert table_names(store) == TABLES | {VERSION_TABLE}
    assert schema_diff(store) == []


def test_a_downgrade_and_upgrade_cycle_keeps_rows_constraints_and_comments(store: StateStore) -> None:
    store.apply_link_changes(
        [LinkRow("Contact", "003A", 1, "14155550101", synced={"first": "Ann"}, hm_uuid="u1")], [], "run-1"
    )
    store.downgrade("0001")  # on SQLite this rebuilds hm_sync_link (batch mode) to drop hm_uuid
    store.migrate()
    links = store.load_links()
    assert links[["sf_id", "hm_id", "phone", "synced.first"]].values.tolist() == [["003A", 1, "14155550101", "Ann"]]
    assert links["hm_uuid"].isna().all()

    inspector = inspect(store.engine)
    assert {"ck_hm_sync_link_object", "ck_hm_sync_link_status"} <= {
        c["name"] for c in inspector.get_check_constraints("hm_sync_link")
    }
    assert {"uq_hm_sync_link_object_sf_id", "uq_hm_sync_link_hm_id"} <= {
        c["name"] for c in inspector.get_unique_constraints("hm_sync_link")
    }
    with pytest.raises(ValueError, match="repeat hm_uuid"):
        store.apply_link_changes([LinkRow("Lead", "00QB", 2, hm_uuid="u2"), LinkRow("Lead", "00QC", 3, hm_uuid="u2")],
                                 [], "run-2")
    store.apply_link_changes([LinkRow("Lead", "00QB", 2, hm_uuid="u2")], [], "run-2")
    with pytest.raises(IntegrityError), store.engine.begin() as conn:  # unique index on hm_uuid
        conn.execute(insert(SyncLink), [{"object": "Lead", "sf_id": "00QC", "hm_id": 3, "hm_uuid": "u2",
                                         "synced": {}, "status": "active", "created_at": T0, "updated_at": T0}])
    if store.backend == "postgresql":  # SQLite has no comments; analysts on PostgreSQL see them
        assert inspector.get_table_comment("hm_sync_link")["text"].startswith("Pairs of Salesforce record")
        assert all(c["comment"] for c in inspector.get_columns("hm_sync_run"))


def test_released_links_need_0005_and_a_downgrade_drops_only_them(store: StateStore) -> None:
    store.apply_link_changes([LinkRow("Contact", "003A", 1, "14155550101"), LinkRow("Contact", "003B", 2)], [],
                             "run-1", releases=[])
    store.apply_link_changes([], [], "run-2", releases=[("Contact", "003A", 1)])
    row = {"object": "Lead", "synced": {}, "created_at": T0, "updated_at": T0}
    with store.engine.begin() as conn:  # the database itself takes a released row: NULL sf_id, new status
        conn.execute(insert(SyncLink), [{**row, "sf_id": None, "hm_id": 5, "status": "released"}])
    assert store.count_links(status="released") == 2

    store.downgrade("0004")
    assert store.load_links()[["sf_id", "hm_id", "status"]].values.tolist() == [["003B", 2, "active"]]
    with pytest.raises(IntegrityError), store.engine.begin() as conn:  # 0004 knows no released rows
        conn.execute(insert(SyncLink), [{**row, "sf_id": "00QX", "hm_id": 6, "status": "released"}])
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(SyncLink), [{**row, "sf_id": None, "hm_id": 6, "status": "active"}])

    store.migrate()
    assert schema_diff(store) == []
    assert {"ck_hm_sync_link_object", "ck_hm_sync_link_status"} <= {
        c["name"] for c in inspect(store.engine).get_check_constraints("hm_sync_link")
    }
    with pytest.raises(IntegrityError), store.engine.begin() as conn:  # the status CHECK is back, widened
        conn.execute(insert(SyncLink), [{**row, "sf_id": "00QY", "hm_id": 7, "status": "gone"}])


def test_concurrent_migrate_calls_all_succeed(new_url: Callable[[], str]) -> None:
    url = new_url()
    stores = [StateStore(url) for _ in range(3)]
    barrier = threading.Barrier(len(stores))
    results: list[object] = []

    def migrate(s: StateStore) -> None:
        barrier.wait()
        try:
            results.append(s.migrate())
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    head = StateStore.head_revision()
    assert results == [head] * len(stores)
    assert schema_diff(stores[0]) == []
    for s in stores:
        s.close()


def test_migrations_ship_inside_the_installed_package() -> None:
    from setuptools import find_packages

    packages = find_packages(where="plugins", include=["sync_engine*"])
    assert {"sync_engine.state", "sync_engine.state.migrations", "sync_engine.state.migrations.versions"} <= set(
        packages
    )


def test_in_memory_sqlite_works_and_errors_hide_personal_data() -> None:
    with StateStore("sqlite://") as store:
        store.migrate()
        store.apply_link_changes([LinkRow("Contact", "003A", 1, "14155550100")], [], "run-1")
        row = {"object": "Contact", "sf_id": "003A", "hm_id": 2, "phone": "14155550199", "synced": {},
               "created_at": T0, "updated_at": T0}
        with pytest.raises(IntegrityError) as failed, store.engine.begin() as conn:
            conn.execute(insert(SyncLink), [row])
        assert "14155550199" not in str(failed.value)


def test_unsupported_backend_and_password_free_repr() -> None:
    with pytest.raises(UnsupportedDatabase, match="sqlite"):
        StateStore("mysql+pymysql://u:p@localhost/db")
    store = StateStore("postgresql+psycopg2://sync:s3cr3t-pw@db.internal:5432/state")
    assert "s3cr3t-pw" not in repr(store)
    store.close()


# --- links ------------------------------------------------------------------------------------------


def link_frame(rows: list[dict[str, object]], synced_keys: list[str]) -> pd.DataFrame:
    """An expected link frame with the dtypes load_links promises."""
    frame = pd.DataFrame(rows, columns=links_frame_columns(synced_keys))
    dtypes = {c: "str" for c in frame.columns if c not in ("hm_id", "hm_rev", "sf_modstamp", "synced_at")}
    dtypes.update({"hm_id": "int64", "hm_rev": "Int64", "sf_modstamp": "datetime64[ns, UTC]",
                   "synced_at": "datetime64[ns, UTC]"})
    return frame.astype(dtypes)


def test_link_round_trip_with_synced_json(store: StateStore, clock: FakeClock) -> None:
    modstamp = datetime(2026, 2, 1, 8, 30, tzinfo=UTC)
    result = store.apply_link_changes(
        [
            LinkRow("Contact", "003A00000000001AAA", 101, "14155550101", "active",
                    {"first": "Ann", "email": "ann@example.com", "custom.Tier": None}, modstamp, 7, "uuid-101"),
            LinkRow("Lead", "00QA00000000001AAA", 102, "14155550102", synced={"last": "Lee"}),
        ],
        [],
        "run-1",
    )
    assert (result.upserted, result.deleted, result.replaced) == (2, 0, 0)

    links = store.load_links(synced_keys=["first", "last", "email", "custom.Tier"])
    expected = link_frame(
        [
            {"object": "Contact", "sf_id": "003A00000000001AAA", "hm_id": 101, "hm_uuid": "uuid-101",
             "phone": "14155550101", "status": "active", "sf_modstamp": modstamp, "hm_rev": 7, "synced_at": T0,
             "synced.custom.Tier": None, "synced.email": "ann@example.com", "synced.first": "Ann",
             "synced.last": None},
            {"object": "Lead", "sf_id": "00QA00000000001AAA", "hm_id": 102, "hm_uuid": None,
             "phone": "14155550102", "status": "active", "sf_modstamp": None, "hm_rev": None, "synced_at": T0,
             "synced.custom.Tier": None, "synced.email": None, "synced.first": None, "synced.last": "Lee"},
        ],
        ["first", "last", "email", "custom.Tier"],
    )
    assert_frame_equal(links, expected)
    assert store.load_links(objects=["Lead"])["sf_id"].tolist() == ["00QA00000000001AAA"]

    # The frame goes back in as it came out: change one value, write, read the same shape back.
    clock.advance(minutes=30)
    changed = links.copy()
    changed.loc[0, "synced.first"] = "Anna"
    changed.loc[0, "hm_rev"] = 8
    store.apply_link_changes(changed, [], "run-2")
    expected.loc[0, "synced.first"] = "Anna"
    expected.loc[0, "hm_rev"] = 8
    expected["synced_at"] = pd.Timestamp(clock.now).as_unit("ns")
    assert_frame_equal(store.load_links(synced_keys=["first", "last", "email", "custom.Tier"]), expected)

    with store.engine.connect() as conn:
        stored = conn.execute(select(SyncLink.synced, SyncLink.created_at, SyncLink.last_run_id)
                              .where(SyncLink.hm_id == 101)).one()
    # Missing values are not stored; created_at stays, the last run is remembered.
    assert stored == ({"first": "Anna", "email": "ann@example.com"}, T0, "run-2")


def test_link_moving_to_a_contact_of_another_pair_replaces_that_pair(store: StateStore) -> None:
    store.apply_link_changes(
        [LinkRow("Contact", "003A", 1, "1415"), LinkRow("Contact", "003B", 2, "1416")], [], "run-1"
    )
    result = store.apply_link_changes([LinkRow("Contact", "003A", 2, "1416")], [], "run-2")
    assert result.replaced == 1
    links = store.load_links()
    assert links[["sf_id", "hm_id"]].values.tolist() == [["003A", 2]]


def test_two_pairs_can_swap_contacts_in_one_batch(store: StateStore) -> None:
    store.apply_link_changes(
        [LinkRow("Contact", "003A", 1, hm_uuid="u1"), LinkRow("Lead", "00QB", 2, hm_uuid="u2")], [], "run-1"
    )
    result = store.apply_link_changes(
        [LinkRow("Contact", "003A", 2, hm_uuid="u2"), LinkRow("Lead", "00QB", 1, hm_uuid="u1")], [], "run-2"
    )
    assert result.replaced == 0
    links = store.load_links()
    assert links[["sf_id", "hm_id", "hm_uuid"]].values.tolist() == [["003A", 2, "u2"], ["00QB", 1, "u1"]]


def test_a_release_keeps_the_contacts_memory_while_the_record_takes_another_contact(store: StateStore) -> None:
    """A phone move: 003A leaves contact 1 (released: memory without a record) and takes contact 3 in the
    same batch; a second release in the same object shares the NULL sf_id; a batch applied twice is a no-op;
    a later record with contact 1's number takes the released row over; a released row is dropped by hm_id."""
    store.apply_link_changes([LinkRow("Contact", "003A", 1, "14155550101", synced={"first": "Ann"}, hm_uuid="u1"),
                              LinkRow("Contact", "003B", 2, "14155550102", synced={"first": "Ben"})], [], "run-1")
    batch = {"upserts": [LinkRow("Contact", "003A", 3, "14155550103", synced={"first": "Ann"})],
             "deletes": [], "releases": [("Contact", "003A", 1), ("Contact", "003B", 2)]}
    result = store.apply_link_changes(batch["upserts"], batch["deletes"], "run-2", releases=batch["releases"])
    assert (result.released, result.upserted, result.replaced) == (2, 1, 0)
    columns = ["sf_id", "hm_id", "hm_uuid", "phone", "status", "synced.first"]
    expected = [[None, 1, "u1", "14155550101", "released", "Ann"], [None, 2, None, "14155550102", "released", "Ben"],
                ["003A", 3, None, "14155550103", "active", "Ann"]]

    def rows() -> list[list[object]]:
        frame = store.load_links().sort_values("hm_id")[columns].astype(object)
        return frame.where(frame.notna(), None).values.tolist()

    assert rows() == expected
    again = store.apply_link_changes(batch["upserts"], batch["deletes"], "run-2", releases=batch["releases"])
    assert again.released == 0 and rows() == expected

    taken = store.apply_link_changes([LinkRow("Lead", "00QC", 1, "14155550101", synced={"first": "Cy"})], [], "run-3")
    assert taken.replaced == 1
    assert store.apply_link_changes([], [2], "run-4").deleted == 1
    assert [r[:2] + r[4:] for r in rows()] == [["00QC", 1, "active", "Cy"], ["003A", 3, "active", "Ann"]]
    with pytest.raises(ValueError, match="released links are written with releases="):
        store.apply_link_changes([LinkRow("Contact", "003D", 4, status="released")], [], "run-5")


def test_partial_frame_updates_only_the_columns_it_has(store: StateStore) -> None:
    store.apply_link_changes(
        [LinkRow("Contact", "003A", 1, "14155550101", synced={"first": "Ann"}, hm_rev=3)], [], "run-1"
    )
    unlink = pd.DataFrame({"object": ["Contact"], "sf_id": ["003A"], "hm_id": [1], "status": ["out_of_scope"]})
    store.apply_link_changes(unlink, [], "run-2")
    row = store.load_links().iloc[0]
    assert (row["status"], row["phone"], row["synced.first"], row["hm_rev"]) == (
        "out_of_scope", "14155550101", "Ann", 3,
    )
    assert store.count_links("Contact", "out_of_scope") == 1
    assert store.count_links("Contact", "active") == 0


def test_link_deletes_by_hm_id_or_salesforce_key(store: StateStore) -> None:
    store.apply_link_changes(
        [LinkRow("Contact", "003A", 1), LinkRow("Contact", "003B", 2), LinkRow("Lead", "00QC", 3)], [], "run-1"
    )
    assert store.count_links() == 3
    result = store.apply_link_changes([], [1, ("Lead", "00QC")], "run-2")
    assert result.deleted == 2
    assert store.load_links()["sf_id"].tolist() == ["003B"]
    frame_delete = pd.DataFrame({"object": ["Contact"], "sf_id": ["003B"], "hm_id": [2]})
    assert store.apply_link_changes([], frame_delete, "run-3").deleted == 1
    assert store.count_links() == 0
    assert list(store.load_links(synced_keys=["first"]).columns) == links_frame_columns(["first"])


def test_active_pairs_are_the_active_links_with_a_record(store: StateStore) -> None:
    """What the drift after a run counts: no memory rows (deleted, out of scope, released), no JSON."""
    store.apply_link_changes(
        [LinkRow("Contact", "003A", 1, synced={"first": "Ann"}), LinkRow("Contact", "003B", 2),
         LinkRow("Contact", "003C", 3, status="sf_deleted"), LinkRow("Lead", "00QD", 4, status="out_of_scope"),
         LinkRow("Lead", "00QE", 5)], [], "run-1")
    store.apply_link_changes([], [], "run-2", releases=[("Contact", "003B", 2)])
    pairs = store.load_active_pairs()
    assert pairs.values.tolist() == [["Contact", "003A", 1], ["Lead", "00QE", 5]]
    assert list(pairs.columns) == ["object", "sf_id", "hm_id"] and pairs["hm_id"].dtype == "int64"
    assert store.load_active_pairs(["Lead"]).values.tolist() == [["Lead", "00QE", 5]]
    assert store.load_active_pairs([]).empty


def test_unique_keys_are_enforced_by_the_database_and_the_batch_check(store: StateStore) -> None:
    store.apply_link_changes([LinkRow("Contact", "003A", 1)], [], "run-1")
    row = {"object": "Contact", "synced": {}, "status": "active", "created_at": T0, "updated_at": T0}
    for duplicate in ({"sf_id": "003A", "hm_id": 99}, {"sf_id": "003Z", "hm_id": 1}):
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(insert(SyncLink), [{**row, **duplicate}])
    with pytest.raises(IntegrityError), store.engine.begin() as conn:  # CHECK on status
        conn.execute(insert(SyncLink), [{**row, "sf_id": "003Q", "hm_id": 5, "status": "gone"}])

    with pytest.raises(ValueError, match="repeat hm_id"):
        store.apply_link_changes([LinkRow("Contact", "003B", 5), LinkRow("Lead", "00QB", 5)], [], "run-2")
    with pytest.raises(ValueError, match="repeat \\(object, sf_id\\)"):
        store.apply_link_changes([LinkRow("Contact", "003B", 5), LinkRow("Contact", "003B", 6)], [], "run-2")
    with pytest.raises(ValueError, match="status"):
        store.apply_link_changes([LinkRow("Contact", "003B", 5, status="deleted")], [], "run-2")
    with pytest.raises(ValueError, match="object"):
        store.apply_link_changes([LinkRow("Account", "001B", 5)], [], "run-2")
    assert store.count_links() == 1


# --- watermarks -------------------------------------------------------------------------------------


def test_outside_view_is_replaced_updated_and_read_without_active_pairs(
    store: StateStore, clock: FakeClock
) -> None:
    a, b, c, d = (f"003A0000000000{i}AAA" for i in "1234")
    assert not store.outside_view_scanned("Contact", "Texting")  # never read: incremental runs must scan first
    stamp = datetime(2026, 2, 1, 8, 30, 0, 123000, tzinfo=UTC)
    assert store.replace_outside_view("Contact", "Texting", [
        OutsideRecord(a, "(415) 555-0101", stamp), OutsideRecord(b, "415 555 0102"), OutsideRecord(c, "+1 415 555 0103"),
    ]) == 3
    store.replace_outside_view("Lead", "Texting", [OutsideRecord("00QA00000000001AAA", "4155550199")])
    assert store.load_outside_view("Contact", "Texting") == [
        OutsideRecord(a, "(415) 555-0101", stamp), OutsideRecord(b, "415 555 0102"), OutsideRecord(c, "+1 415 555 0103"),
    ]
    assert store.load_outside_view("Contact", "Another_View") == []  # rows of another view are not used
    assert store.outside_view_scanned("Contact", "Texting") and not store.outside_view_scanned("Contact", "Another")
    assert store.outside_view_scanned("Lead", "Texting")  # per object

    # an incremental read: b came back into the view, c changed its phone, d left the view
    clock.advance(minutes=30)
    store.update_outside_view("Contact", "Texting", [OutsideRecord(c, "4155550113"), OutsideRecord(d, "4155550104")],
                              [b])
    assert {r.sf_id: r.phone_raw for r in store.load_outside_view("Contact", "Texting")} == {
        a: "(415) 555-0101", c: "4155550113", d: "4155550104",
    }
    # a record with an active pair is in the view, whatever an older row says; a dormant pair does not count
    store.apply_link_changes([LinkRow("Contact", a, 101, "14155550101", "active"),
                              LinkRow("Contact", d, 104, "14155550104", "out_of_scope")], [], "run-1")
    assert [r.sf_id for r in store.load_outside_view("Contact", "Texting")] == [c, d]
    # a full comparison replaces the object's rows and leaves the other object alone
    store.replace_outside_view("Contact", "Texting", [])
    assert store.load_outside_view("Contact", "Texting") == []
    assert [r.sf_id for r in store.load_outside_view("Lead", "Texting")] == ["00QA00000000001AAA"]
    with pytest.raises(ValueError, match="object must be one of"):
        store.load_outside_view("Account", "Texting")


def test_watermark_never_moves_backwards_unless_forced(store: StateStore) -> None:
    assert store.get_watermark("salesforce", "Contact") is None
    t1 = datetime(2026, 2, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert store.set_watermark("salesforce", "Contact", t1, "run-1") == t1

    # An older value (a slow, late run) leaves the cursor where it is.
    assert store.set_watermark("salesforce", "Contact", t1 - timedelta(hours=1), "run-0") == t1
    # Equal instants in another zone are equal; returned values are UTC.
    plus2 = timezone(timedelta(hours=2))
    t2 = datetime(2026, 2, 1, 14, 0, tzinfo=plus2)
    stored = store.set_watermark("salesforce", "Contact", t2, "run-2")
    assert stored == t2 and stored.tzinfo == UTC
    assert store.get_watermark("salesforce", "Contact") == datetime(2026, 2, 1, 12, 0, tzinfo=UTC)

    assert store.set_watermark("salesforce", "Contact", t1, "resync", force=True) == t1
    assert store.get_watermark("heymarket", "contacts") is None  # cursors are independent
    with pytest.raises(ValueError, match="timezone-aware"):
        store.set_watermark("salesforce", "Lead", datetime(2026, 1, 1), "run-3")
    with pytest.raises(ValueError, match="system"):
        store.set_watermark("hubspot", "Contact", t1, "run-3")


# --- phone cache ------------------------------------------------------------------------------------


def test_phone_cache_bulk_put_and_get_100k(store: StateStore) -> None:
    mapping: dict[str, tuple[str | None, str | None]] = {
        f"(415) 5{i:06d}": (f"14155{i:06d}", None) if i % 10 else (None, "invalid_number") for i in range(100_000)
    }
    assert store.put_phone_cache(mapping, "US") == 100_000
    asked = [*mapping, "not cached", "(415) 5000001"]  # a miss and a repeat
    assert store.get_phone_cache(asked, "US") == mapping
    assert store.get_phone_cache(["(415) 5000001"], "GB") == {}  # regions are separate

    # Overwrite a slice; its neighbours are untouched.
    raws = list(mapping)
    update = {raw: ("19999999999", None) for raw in raws[:1000]}
    store.put_phone_cache(update, "US")
    assert store.get_phone_cache(raws[:2000], "US") == {**{r: mapping[r] for r in raws[:2000]}, **update}


def test_phone_cache_prunes_entries_not_seen_since(store: StateStore, clock: FakeClock) -> None:
    store.put_phone_cache({"old": (None, "not_a_number")}, "US")
    clock.advance(days=30)
    store.put_phone_cache({"new": ("14155550100", None)}, "US")
    assert store.prune_phone_cache(older_than=clock.now - timedelta(days=7)) == 1
    assert store.get_phone_cache(["old", "new"], "US") == {"new": ("14155550100", None)}


# --- run history ------------------------------------------------------------------------------------


def test_run_start_and_finish_write_history_and_count_rows(store: StateStore, clock: FakeClock) -> None:
    params = {"objects": ["Contact"], "dry_run": False, "api_key": "hm-live-123", "nested": {"password": "p"}}
    store.start_run("manual__1", "heymarket_sync", trigger="manual", mode="full", objects=["Contact"],
                    params=params)
    run = store.get_run("manual__1")
    assert run is not None
    assert (run["status"], run["started_at"], run["ended_at"]) == ("running", T0, None)
    assert run["params"] == {"objects": ["Contact"], "dry_run": False, "api_key": "***", "nested": {"password": "***"}}

    counts = {"Contact": {"to_heymarket": {"created": 5, "failed": 1}, "state": {"linked": 2}}}
    clock.advance(minutes=3)
    store.finish_run("manual__1", "partial", counts, {"heymarket": {"POST /contacts": 6}},
                     "1 record failed; token=abc not shown")
    run = store.get_run("manual__1")
    assert run is not None
    assert (run["status"], run["ended_at"], run["counts"]) == ("partial", T0 + timedelta(minutes=3), counts)
    assert run["api_calls"] == {"heymarket": {"POST /contacts": 6}}

    def count_rows() -> set[tuple[str, str, str, int]]:
        with store.engine.connect() as conn:
            c = SyncRunCount
            return set(conn.execute(select(c.object, c.direction, c.action, c.n).where(c.run_id == "manual__1")))

    assert count_rows() == {("Contact", "to_heymarket", "created", 5), ("Contact", "to_heymarket", "failed", 1),
                            ("Contact", "state", "linked", 2)}
    # Finishing again (a retried task) overwrites rows and numbers.
    store.finish_run("manual__1", "success", {"Contact": {"to_heymarket": {"created": 6}}})
    assert count_rows() == {("Contact", "to_heymarket", "created", 6)}
    # A bad count is refused and nothing of the call is written.
    with pytest.raises(ValueError, match="action"):
        store.finish_run("manual__1", "success", {"Contact": {"to_heymarket": {"exploded": 1}}})
    assert count_rows() == {("Contact", "to_heymarket", "created", 6)}
    with pytest.raises(UnknownRun, match="start_run"):
        store.finish_run("nope", "success", {})

    clock.advance(hours=1)
    store.start_run("scheduled__2", "heymarket_sync", trigger="scheduled", mode="incremental",
                    objects=["Contact", "Lead"])
    clock.advance(minutes=1)
    store.start_run("other__1", "other_dag", trigger="manual", mode="full", objects=[], dry_run=True)
    assert [r["run_id"] for r in store.list_runs(10, dag_id="heymarket_sync")] == ["scheduled__2", "manual__1"]
    assert [r["run_id"] for r in store.list_runs(1)] == ["other__1"]
    assert store.get_run("missing") is None


# --- record errors and retries ----------------------------------------------------------------------


def test_errors_bump_attempts_until_resolved(store: StateStore, clock: FakeClock) -> None:
    failures = pd.DataFrame([
        {"target": "heymarket", "action": "create_heymarket", "error_code": "INVALID_PHONE",
         "object": "Contact", "sf_id": "003A", "hm_id": None,
         "message": "phone +1 (415) 555-0134 of ann@example.com rejected for 003A00000000001AAA"},
        {"target": "salesforce", "action": "update_salesforce", "error_code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
         "object": "Lead", "sf_id": "00QB", "hm_id": 7, "message": "x" * 2000},
    ])
    assert store.record_errors("run-1", failures) == 2
    clock.advance(minutes=30)
    store.record_errors("run-2", [WriteRejection("heymarket", "create_heymarket", "INVALID_PHONE", "Contact", "003A")])

    errors = store.load_errors().set_index("sf_id")
    first = errors.loc["003A"]
    assert (first["attempts"], first["first_seen_run"], first["last_seen_run"]) == (2, "run-1", "run-2")
    assert "555" not in first["message"] and "ann@example.com" not in first["message"]
    assert "003A00000000001AAA" in first["message"]  # record ids are not personal data
    assert len(errors.loc["00QB", "message"]) == 500

    resolved = store.resolve_errors([RecordRef("heymarket", "Contact", "003A", hm_id=555)], "run-3")
    assert resolved == 1
    assert store.load_errors()["sf_id"].tolist() == ["00QB"]
    # By hm_id alone, and an action filter that does not match leaves it open.
    assert store.resolve_errors([RecordRef("salesforce", hm_id=7, action="create_salesforce")], "run-3") == 0
    assert store.resolve_errors([RecordRef("salesforce", hm_id=7)], "run-3") == 1
    assert store.load_errors().empty

    # A new failure after resolution opens a new error; history keeps the old one.
    store.record_errors("run-4", [WriteRejection("heymarket", "create_heymarket", "INVALID_PHONE", "Contact", "003A")])
    history = store.load_errors(open_only=False)
    assert sorted(history["attempts"].tolist()) == [1, 1, 2]
    assert store.load_errors(run_id="run-4")["attempts"].tolist() == [1]


def test_retry_queue_backoff_fingerprint_and_clear(store: StateStore, clock: FakeClock) -> None:
    values = {"first": "Ann", "email": "ann@example.com"}
    fp = record_fingerprint(values)
    create = RetryRequest("heymarket", "create_heymarket", "Contact", "003A", None, "HTTP_500", fp)
    update = RetryRequest("salesforce", "update_salesforce", "Lead", "00QB", 7, "UNABLE_TO_LOCK_ROW", "fp-lead")
    assert store.enqueue_retries([create, update], "run-1") == 2
    assert store.enqueue_retries([create], "run-1") == 1  # NULL hm_id: still one entry per record
    queue = store.due_retries(now=T0 + timedelta(days=10))
    assert sorted(zip(queue["sf_id"], queue["attempts"], strict=True)) == [("003A", 2), ("00QB", 1)]

    assert store.due_retries().empty  # nothing due right after failing
    clock.advance(minutes=31)
    due = store.due_retries()
    assert due[["sf_id", "due_reason"]].values.tolist() == [["00QB", "backoff_elapsed"]]  # 003A waits 60 min

    # A record whose values changed is due at once; an unchanged one waits for its backoff.
    key = record_key("Contact", "003A", None)
    assert store.due_retries(fingerprints={key: fp})["sf_id"].tolist() == ["00QB"]
    changed = store.due_retries(fingerprints={key: record_fingerprint({**values, "first": "Anna"})})
    assert changed.set_index("sf_id").loc["003A", "due_reason"] == "record_changed"

    assert store.clear_retries([RecordRef("heymarket", "Contact", "003A")]) == 1
    assert store.clear_retries(pd.DataFrame({"target": ["salesforce"], "hm_id": [7]})) == 1
    assert store.due_retries(now=T0 + timedelta(days=10)).empty


# --- sync lock --------------------------------------------------------------------------------------


def test_lock_refuses_a_second_run_reenters_and_releases_only_for_its_holder(
    store: StateStore, clock: FakeClock
) -> None:
    assert store.acquire_lock("heymarket_sync", "run-A", ttl_seconds=600)
    clock.advance(minutes=1)
    with pytest.raises(LockHeld) as refused:
        store.acquire_lock("heymarket_sync", "run-B", ttl_seconds=600)
    message = str(refused.value)
    assert "run-A" in message and "2026-03-01 12:00:00 UTC" in message
    assert "break_lock" in message and "DELETE FROM hm_sync_lock" in message
    assert refused.value.info is not None and refused.value.info.holder_run_id == "run-A"
    assert store.acquire_lock("heymarket_sync", "run-B", 600, raise_if_held=False) is False

    # Re-entrant: a retried task of the same run gets it again, keeping the original acquisition time.
    assert store.acquire_lock("heymarket_sync", "run-A", ttl_seconds=600)
    holder = store.lock_holder("heymarket_sync")
    assert holder is not None
    assert (holder.acquired_at, holder.heartbeat_at) == (T0, T0 + timedelta(minutes=1))

    clock.advance(minutes=5)
    beat = store.heartbeat("heymarket_sync", "run-A")
    assert beat.expires_at == clock.now + timedelta(seconds=600)
    with pytest.raises(LockLost, match="run-B"):
        store.heartbeat("heymarket_sync", "run-B")

    assert store.release_lock("heymarket_sync", "run-B") is False
    assert store.lock_holder("heymarket_sync") is not None
    assert store.release_lock("heymarket_sync", "run-A") is True
    assert store.lock_holder("heymarket_sync") is None
    assert store.acquire_lock("heymarket_sync", "run-B", ttl_seconds=600)
    assert store.acquire_lock("other_lock", "run-A", ttl_seconds=600)  # names are independent


def test_expired_lock_is_taken_over_and_its_old_holder_learns_it(store: StateStore, clock: FakeClock) -> None:
    assert store.acquire_lock("heymarket_sync", "run-A", ttl_seconds=60)
    clock.advance(seconds=59)
    with pytest.raises(LockHeld):
        store.acquire_lock("heymarket_sync", "run-B", ttl_seconds=60)
    clock.advance(seconds=2)
    assert store.acquire_lock("heymarket_sync", "run-B", ttl_seconds=60)
    holder = store.lock_holder("heymarket_sync")
    assert holder is not None and (holder.holder_run_id, holder.acquired_at) == ("run-B", clock.now)

    with pytest.raises(LockLost, match="run-B"):
        store.heartbeat("heymarket_sync", "run-A")
    assert store.release_lock("heymarket_sync", "run-A") is False
    removed = store.break_lock("heymarket_sync")
    assert removed is not None and removed.holder_run_id == "run-B"
    assert store.lock_holder("heymarket_sync") is None


def test_racing_runs_exactly_one_gets_the_lock(store: StateStore) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    contenders = [StateStore(url) for _ in range(6)]
    barrier = threading.Barrier(len(contenders))
    outcomes: dict[str, object] = {}

    def race(i: int, s: StateStore) -> None:
        barrier.wait()
        try:
            outcomes[f"run-{i}"] = s.acquire_lock("heymarket_sync", f"run-{i}", ttl_seconds=600)
        except Exception as exc:  # collected and asserted below
            outcomes[f"run-{i}"] = exc

    threads = [threading.Thread(target=race, args=(i, s)) for i, s in enumerate(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for s in contenders:
        s.close()

    winners = [run for run, outcome in outcomes.items() if outcome is True]
    losers = [outcome for outcome in outcomes.values() if outcome is not True]
    assert len(winners) == 1, outcomes
    assert len(losers) == len(contenders) - 1
    assert all(isinstance(exc, LockHeld) and exc.info is not None and exc.info.holder_run_id == winners[0]
               for exc in losers), outcomes
    holder = store.lock_holder("heymarket_sync")
    assert holder is not None and holder.holder_run_id == winners[0]


# --- transactions -----------------------------------------------------------------------------------


def test_transaction_rolls_back_links_errors_and_watermark_together(store: StateStore) -> None:
    store.apply_link_changes([LinkRow("Contact", "003A", 1, synced={"first": "Ann"})], [], "run-1")

    class BatchFailed(Exception):
        pass

    with pytest.raises(BatchFailed), store.transaction() as conn:
        store.apply_link_changes([LinkRow("Contact", "003A", 1, synced={"first": "Anna"}),
                                  LinkRow("Lead", "00QB", 2)], [], "run-2", conn=conn)
        store.record_errors("run-2", [WriteRejection("heymarket", "update_heymarket", "HTTP_500", "Lead", "00QB")],
                            conn=conn)
        store.set_watermark("salesforce", "Contact", T0, "run-2", conn=conn)
        assert store.count_links(conn=conn) == 2  # visible inside the transaction
        raise BatchFailed

    assert store.load_links()[["sf_id", "synced.first"]].values.tolist() == [["003A", "Ann"]]
    assert store.load_errors().empty
    assert store.get_watermark("salesforce", "Contact") is None

    with store.transaction() as conn:
        store.apply_link_changes([LinkRow("Lead", "00QB", 2)], [], "run-3", conn=conn)
        store.set_watermark("salesforce", "Lead", T0, "run-3", conn=conn)
    assert store.count_links() == 2
    assert store.get_watermark("salesforce", "Lead") == T0


# --- API answers kept within their validity (hm_sync_api_cache) ---------------------------------------------


def test_api_cache_keeps_the_answer_and_when_it_was_read(store: StateStore, clock: FakeClock) -> None:
    assert store.get_cached("salesforce.limits") is None
    store.put_cached("salesforce.limits", {"used": 10, "max": 15000})
    assert store.get_cached("salesforce.limits") == ({"used": 10, "max": 15000}, T0)

    clock.now = T0 + timedelta(minutes=20)
    store.put_cached("salesforce.limits", {"used": 30, "max": 15000})  # a later read replaces it
    assert store.get_cached("salesforce.limits") == ({"used": 30, "max": 15000}, T0 + timedelta(minutes=20))
    store.put_cached("heymarket.inboxes", [{"id": 1, "name": "Support"}, {"id": 2, "name": "Sales"}])  # a JSON array
    assert store.get_cached("heymarket.inboxes") == ([{"id": 1, "name": "Support"}, {"id": 2, "name": "Sales"}],
                                                     T0 + timedelta(minutes=20))
