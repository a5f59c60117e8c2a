"""Sync bugs the lifecycle model test (``test_lifecycle_model.py``) found, each as a minimal hand-written run.

Every bug here is fixed and its test passes. A bug found and not fixed yet would come here marked
``xfail(strict=True)`` with its cause, so the marker has to go with the fix (a pass fails the suite).
"""

from __future__ import annotations

import pytest

from tests.e2e.test_sync_scenarios import (
    FIELDS,
    TIER,
    by_last_name,
    contact,
    links_by_sf_id,
    plan_counts,
    writes_planned,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def heymarket_fields(sync) -> None:  # noqa: ANN001
    sync.hm.load({"fields": FIELDS})


def test_a_record_taking_over_a_contact_after_its_own_was_deleted_keeps_the_whole_memory(sync) -> None:  # noqa: ANN001
    """Ana's Heymarket contact is deleted by hand and Ana moves to the number of Ben's contact (Ben was deleted
    in Salesforce, delete option off, so his contact stayed). One full run: Ana takes over Ben's contact. Both
    have the Gold tier, so the tier is not written, and the pair's memory must still hold it: an agent then
    changes the tier in Heymarket, and that change reaches Salesforce (only Heymarket changed it).

    The model found it as: a Heymarket contact deleted by hand, then a 3-cycle moving that contact's record onto
    the number of a contact whose record had moved on and been deleted; the next full run planned a link
    ``refresh`` (the pair's memory had lost the first name both sides agreed on); a soak later found the same
    with a Lead. Before the fix (``StoreApplyState.commit_batch`` dropped the batch's deletes from its memory
    cache after its upserts, the store's order reversed) the memory lost every key the takeover did not write,
    and a Heymarket edit of such a key before the next full run was taken for a conflict and overwritten
    (``salesforce_wins``)."""
    sync.sf.load({"Contact": [contact("Ana", "Lima", "+1 415 555 2601", Customer_Tier__c="Gold"),
                              contact("Ben", "Okafor", "+1 415 555 2602", Customer_Tier__c="Gold")]})
    first = sync.run()
    assert str(first.state) == "success", sync.result(first)
    hm = sync.hm_by_phone()
    records = by_last_name(sync.sf_records("Contact"))
    ana, ben = records["Lima"]["Id"], records["Okafor"]["Id"]

    sf = sync.salesforce_api()
    sf.Contact.delete(ben)
    second = sync.run()
    assert str(second.state) == "success", sync.result(second)
    assert links_by_sf_id(sync)[ben]["status"] == "sf_deleted"

    sync.heymarket_api.delete(hm["14155552601"]["id"])  # Ana's contact, deleted by hand
    sf.Contact.update(ana, {"Phone": "+1 415 555 2602"})  # Ana moves to the number of Ben's old contact
    third = sync.run(mode="full")  # a full sweep sees the deleted contact
    assert str(third.state) == "success", sync.result(third)
    after = sync.hm_by_phone()
    assert set(after) == {"14155552602"}
    assert after["14155552602"]["id"] == hm["14155552602"]["id"]  # taken over, not re-created
    assert (after["14155552602"]["first"], after["14155552602"]["custom"]) == ("Ana", {TIER: "Gold"})

    # an agent changes the tier in Heymarket; the next run takes it to Salesforce (only Heymarket changed it)
    sync.heymarket_api.update(hm["14155552602"]["id"], custom={TIER: "Silver"})
    fourth = sync.run()
    assert str(fourth.state) == "success", sync.result(fourth)
    assert "conflict" not in plan_counts(sync, fourth).get("Contact", {}), plan_counts(sync, fourth)
    assert sf.Contact.get(ana)["Customer_Tier__c"] == "Silver", "the agent's change was lost"
    assert sync.hm_by_phone()["14155552602"]["custom"] == {TIER: "Silver"}
    link = links_by_sf_id(sync)[ana]
    assert (link["hm_id"], link.get("synced.custom.Customer Tier")) == (hm["14155552602"]["id"], "Silver")

    quiet = sync.run(mode="full")  # nothing left to do, not even a link-table "refresh"
    assert str(quiet.state) == "success", sync.result(quiet)
    assert writes_planned(plan_counts(sync, quiet)) == {}
