"""The ``heymarket_messages`` DAG end to end against both emulators (dag.test, real sockets, real state DB).

The contact sync runs first (it makes the links the copy finds records through), then messages are loaded
into the Heymarket emulator and the messages DAG copies them. Every outcome is read from the emulators'
dumps (Tasks by external id) and the state store, not from the DAG's own counts alone.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

pytestmark = pytest.mark.e2e

EXT = "Heymarket_Message_Id__c"
ANA, BEN, CARA, DAN = "14155550111", "14155550112", "14155550113", "14155550114"
#: Heymarket users of the emulator's seed team (Sales inbox 9001: 501 and 502).
ALEX, PRIYA = 501, 502
BODY = "planted-body-{}: call me at the back office"


def at(minutes_ago: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def people(sync) -> dict[str, str]:  # noqa: ANN001
    """Two Contacts and a Lead with phones, synced to Heymarket (which links them); their Ids by phone."""
    sync.hm.load({"fields": [{"title": "Customer Tier"}, {"title": "Preferred Language"}]})
    sync.sf.load({
        "Contact": [{"FirstName": "Ana", "LastName": "Ito", "Phone": f"+{ANA}"},
                    {"FirstName": "Ben", "LastName": "Oak", "Phone": f"+{BEN}"}],
        "Lead": [{"FirstName": "Cara", "LastName": "Vu", "Company": "Acme", "Phone": f"+{CARA}"}],
    })
    dag_run = sync.run(mode="full")
    assert str(dag_run.state) == "success", sync.result(dag_run)
    return {r["Phone"].lstrip("+"): r["Id"] for obj in ("Contact", "Lead") for r in sync.sf_records(obj)}


def rep_user(sync) -> str:  # noqa: ANN001
    """An active Salesforce user for Alex (mapped by heymarket_setup, here written as it would store it)."""
    before = {u["Id"] for u in sync.sf_records("User")}
    sync.sf.load({"User": [{"Username": "alex@sandbox.example.com", "LastName": "Morgan", "Alias": "amorg",
                            "Email": "alex.morgan@sandbox-team.example.com", "IsActive": True,
                            "TimeZoneSidKey": "GMT", "LocaleSidKey": "en_US", "EmailEncodingKey": "UTF-8",
                            "LanguageLocaleKey": "en_US", "ProfileId": "00e5g000000HmSy"}]})
    [user] = [u["Id"] for u in sync.sf_records("User") if u["Id"] not in before]
    sync.store().replace_user_map([{"sf_user_id": user, "hm_user_id": ALEX, "source": "email"}], run_id="setup")
    return user


def conversations() -> list[dict]:
    """Three conversations (Ana: Alex's, Ben: Priya's, Cara the Lead: inbound only) and one unknown number."""
    return [
        {"phone": ANA, "inbox_id": 9001, "direction": "outbound", "user": ALEX, "text": BODY.format(1),
         "date": at(50)},
        {"phone": ANA, "inbox_id": 9001, "direction": "inbound", "text": BODY.format(2), "date": at(49)},
        {"phone": ANA, "inbox_id": 9001, "direction": "outbound", "user": ALEX, "text": BODY.format(3),
         "date": at(48)},
        {"phone": BEN, "inbox_id": 9001, "direction": "outbound", "user": PRIYA, "text": BODY.format(4),
         "date": at(40)},
        {"phone": BEN, "inbox_id": 9001, "direction": "inbound", "text": BODY.format(5), "date": at(39)},
        {"phone": CARA, "inbox_id": 9001, "direction": "inbound", "text": BODY.format(6), "date": at(30)},
        {"phone": DAN, "inbox_id": 9001, "direction": "inbound", "text": BODY.format(7), "date": at(20)},
    ]


def loaded_ids(sync) -> dict[str, list[int]]:  # noqa: ANN001
    """Heymarket message ids by phone, oldest first."""
    out: dict[str, list[int]] = {}
    for m in sorted(sync.hm.dump()["messages"], key=lambda m: (m["date"], m["id"])):
        out.setdefault(m["phone"], []).append(int(m["id"]))
    return out


def test_three_conversations_become_tasks_on_the_right_records_with_the_right_owners(messages) -> None:  # noqa: ANN001
    sync = messages.sync
    ids = people(sync)
    alex = rep_user(sync)
    integration = next(u["Id"] for u in sync.sf_records("User") if u["Username"].startswith("integration@"))
    sync.hm.load({"messages": conversations()})
    by_phone = loaded_ids(sync)

    dag_run = messages.run()

    assert str(dag_run.state) == "success"
    tasks = messages.tasks_by_message()
    expected = {
        **{str(i): (ids[ANA], alex) for i in by_phone[ANA]},
        **{str(i): (ids[BEN], integration) for i in by_phone[BEN]},  # Priya is not mapped: the default owner
        **{str(i): (ids[CARA], integration) for i in by_phone[CARA]},
    }
    assert {k: (t["WhoId"], t["OwnerId"]) for k, t in tasks.items()} == expected
    subjects = [tasks[str(i)]["Subject"] for i in by_phone[ANA]]
    assert subjects == ["SMS sent", "SMS received", "SMS sent"]
    assert {t["Status"] for t in tasks.values()} == {"Completed"}
    assert tasks[str(by_phone[ANA][0])]["Description"] == BODY.format(1)
    assert all(t["ActivityDate"] == at(0)[:10] or t["ActivityDate"] <= at(0)[:10] for t in tasks.values())
    # the unknown number: counted, waiting (ids only), no Task
    assert str(by_phone[DAN][0]) not in tasks
    result = messages.copy_result(dag_run)
    assert (result["created"], result["unmatched"]) == (6, 1)
    assert [p.message_id for p in sync.store().pending_messages()] == by_phone[DAN]
    row = sync.store().get_run(dag_run.run_id)
    assert (row["dag_id"], row["status"]) == ("heymarket_messages", "success")
    assert row["counts"]["Task"]["to_salesforce"]["created"] == 6
    assert row["counts"]["Task"]["to_salesforce"]["unmatched"] == 1

    # a second run writes nothing
    before = sync.sf.dump()["Task"]
    again = messages.run()
    assert str(again.state) == "success"
    second = messages.copy_result(again)
    assert (second["created"], second["updated"], second["read"]) == (0, 0, 0)
    assert sync.sf.dump()["Task"] == before


def test_a_message_for_an_unknown_phone_is_synced_once_its_record_exists(messages) -> None:  # noqa: ANN001
    sync = messages.sync
    people(sync)
    sync.hm.load({"messages": conversations()})
    first = messages.run()
    assert messages.copy_result(first)["unmatched"] == 1
    dan_id = loaded_ids(sync)[DAN][0]
    assert str(dan_id) not in messages.tasks_by_message()

    sync.sf.load({"Contact": [{"FirstName": "Dan", "LastName": "Ree", "Phone": f"+{DAN}"}]})
    synced = sync.run(mode="incremental")
    assert str(synced.state) == "success"
    dan = next(r["Id"] for r in sync.sf_records("Contact") if r["Phone"] == f"+{DAN}")

    second = messages.run()
    result = messages.copy_result(second)
    assert (result["pending_resolved"], result["created"], result["pending_left"]) == (1, 1, 0)
    assert messages.tasks_by_message()[str(dan_id)]["WhoId"] == dan
    assert sync.store().pending_messages() == []
    third = messages.copy_result(messages.run())
    assert (third["created"], third["updated"], third["pending_calls"]) == (0, 0, 0)


def test_a_backfill_and_a_dry_run(messages) -> None:  # noqa: ANN001
    sync = messages.sync
    people(sync)
    sync.hm.load({"messages": conversations()})
    dry = messages.run(dry_run=True)
    assert messages.copy_result(dry)["planned"] == 6
    assert messages.tasks() == [] and sync.store().pending_messages() == []
    assert sync.store().get_run(dry.run_id)["status"] == "dry_run"

    today = dt.datetime.now(dt.UTC).date().isoformat()
    backfill = messages.run(mode="backfill", start=today, end=today)
    assert messages.copy_result(backfill)["created"] == 6
    counts = Counter(t[EXT] for t in messages.tasks())
    assert len(counts) == 6 and set(counts.values()) == {1}
    again = messages.run(mode="backfill", start=today, end=today)  # upserts again: updates, no duplicate
    assert (messages.copy_result(again)["created"], messages.copy_result(again)["updated"]) == (0, 6)
    assert len(messages.tasks()) == 6
