"""Error texts scrubbed of the record's values (``sync_engine.state.redaction.scrub_values``), with planted
names, e-mails and phones, as the APIs echo them: whole, as a 40-character prefix, or one word of several."""

from __future__ import annotations

import pytest

from sync_engine.apply import ApplyFailure, PlanApplier, WriteOutcome, record_values
from sync_engine.state.redaction import VALUE_MASK, scrub_message, scrub_values
from sync_operators.adapters import without_values

LONG_NAME = "Wolfeschlegelsteinhausenbergerdorff-Ximénez de la Cruz"
FIRST, EMAIL, PHONE = "Żaneta", "zaneta.planted@example.org", "14155550177"
RECORD = (LONG_NAME, FIRST, EMAIL, PHONE, f"+{PHONE}")
SF_ID = "003Dn00000AbCdEAAZ"


@pytest.mark.parametrize("message", [
    # Salesforce STRING_TOO_LONG echoes the first 40 characters of the value
    f"STRING_TOO_LONG: Last Name: data value too large: {LONG_NAME[:40]} (max length=40)",
    # a message naming the record by one word of a value, in another case
    f"DUPLICATES_DETECTED: matches {FIRST.upper()} Wolfeschlegelsteinhausenbergerdorff-Ximénez on {SF_ID}",
    # a value never sent in this write (the name, when only the e-mail was written), and the e-mail itself
    f"INVALID_EMAIL_ADDRESS: Email: invalid email address: {EMAIL} (record of {FIRST})",
    # the phone as the API formats it
    "phone +1 (415) 555-0177 already exists",
])
def test_no_planted_value_prefix_or_word_survives_and_ids_and_codes_do(message: str) -> None:
    scrubbed = scrub_message(message, 500, RECORD)
    assert scrubbed is not None
    for planted in (LONG_NAME[:40], LONG_NAME[:12], FIRST, FIRST.upper(), "Wolfeschlegel", EMAIL, "zaneta.planted",
                    PHONE, "555-0177"):
        assert planted not in scrubbed
    code = message.split(":")[0].split(" ")[0]
    assert scrubbed.startswith(code)
    if SF_ID in message:
        assert SF_ID in scrubbed  # ids say which record; they are not personal data


def test_a_short_echo_is_kept_and_words_are_masked_whole() -> None:
    assert scrub_values("value: Żan (max length=3)", [FIRST]) == "value: Żan (max length=3)"  # 3 < MIN_ECHO
    assert scrub_values("Ann, Annabel and Anne", ["Ann"]) == f"{VALUE_MASK}, Annabel and Anne"
    assert scrub_values("nothing to hide", []) == "nothing to hide"


def test_the_salesforce_writer_masks_echoed_prefixes_of_what_it_sent() -> None:
    message = f"STRING_TOO_LONG: Last Name: data value too large: {LONG_NAME[:40]} (max length=40)"
    assert LONG_NAME[:20] not in without_values(message, {"Id": SF_ID, "LastName": LONG_NAME})


class _State:
    def __init__(self) -> None:
        self.failures: list[ApplyFailure] = []

    def commit_batch(self, run_id, upserts, deletes, failures, succeeded, releases=(), outcomes=()):  # noqa: ANN001, ANN202
        self.failures.extend(failures)


class _TooLong:
    """A Salesforce that refuses every update, echoing the first 40 characters of the last name."""

    def create(self, object_name, records):  # noqa: ANN001, ANN202
        raise AssertionError("no creates here")

    def update(self, object_name, records):  # noqa: ANN001, ANN202
        return [WriteOutcome(ok=False, sf_id=r["Id"], error_code="STRING_TOO_LONG",
                             message=f"Last Name: data value too large: {LONG_NAME[:40]} (max length=40)")
                for r in records]


def test_a_rejected_write_carries_every_value_of_its_record_to_the_scrubber_but_never_shows_them() -> None:
    import pandas as pd

    row = {"action": "update_salesforce", "object": "Contact", "sf_id": SF_ID, "hm_id": 7, "phone": PHONE,
           "reason": "", "changed": "last", "first": FIRST, "last": LONG_NAME, "email": EMAIL,
           "agreed.first": "Zaneta", "agreed.last": None, "agreed.email": EMAIL}
    state = _State()
    keys = {"Contact": ["first", "last", "email"]}
    PlanApplier(state, "run-1", keys, keys, progress=lambda _: None).apply_salesforce(
        {"update_salesforce": pd.DataFrame([row])}, _TooLong(), {"Contact": {"last": "LastName"}}, {}, {},
        __import__("sync_engine.apply", fromlist=["ApplyResult"]).ApplyResult())
    [failure] = state.failures
    assert set(failure.scrub) == set(record_values(row)) >= {LONG_NAME, FIRST, "Zaneta", EMAIL, PHONE, f"+{PHONE}"}
    assert SF_ID not in failure.scrub and "update_salesforce" not in failure.scrub
    assert LONG_NAME not in repr(failure) and FIRST not in repr(failure)  # never in a log line or a traceback
    assert LONG_NAME[:40] not in str(scrub_message(failure.message, 500, failure.scrub))
