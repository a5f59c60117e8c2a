"""``hm_sync_record_error.message`` keeps no value of the record (planted), on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from sync_engine.state import StateStore, WriteRejection
from sync_engine.state.models import SyncRecordError, table_of
from tests.unit import test_state_store as backends

pg_database, new_pg_url, new_url = backends.pg_database, backends.new_pg_url, backends.new_url
clock, store = backends.clock, backends.store

NAME = "Bartholomew-Featherstonehaugh Ollivander"
EMAIL, PHONE = "b.planted@example.net", "442079460123"


def test_a_stored_message_keeps_no_value_prefix_or_word_of_the_record(store: StateStore) -> None:
    message = (f"STRING_TOO_LONG: Last Name: data value too large: {NAME[:40]} (max length=20); "
               f"see Ollivander at {EMAIL} / +44 20 7946 0123")
    store.record_errors("run-1", [WriteRejection(target="salesforce", action="update_salesforce",
                                                 error_code="STRING_TOO_LONG", object="Contact",
                                                 sf_id="003Dn00000AbCdEAAZ", message=message,
                                                 scrub=(NAME, EMAIL, PHONE, f"+{PHONE}"))])
    with store.engine.connect() as conn:
        [stored] = conn.execute(select(table_of(SyncRecordError).c.message)).scalars().all()
    assert stored.startswith("STRING_TOO_LONG: Last Name: data value too large: ")
    for planted in (NAME[:40], "Bartholomew", "Ollivander", EMAIL, "7946 0123"):
        assert planted not in stored
