"""A stateful, model-based test of ``heymarket_sync`` (issue 10): random lifecycles, real DAG runs, an oracle
computed only from the emulators' dumps.

A hypothesis ``RuleBasedStateMachine`` drives both emulators through their APIs, the way users and admins
change an org and a Heymarket team: Salesforce creates, edits, deletes, undeletes, merges, lead conversions,
phone changes (to a free number, to a taken one, to an invalid one, swaps, 3-cycles), Leads moving in and out
of their list view; Heymarket creates, edits, phone changes and deletes; people opting out and back in (a rep ticking or un-ticking
the ``SMS_Opt_Out__c`` box, a STOP or START through Heymarket's ``set_status``); and syncs, incremental and full.
Every run is the real DAG (``dag.test()``) against both emulators.

The oracle never looks at the planner's output or the link table. It knows the emulators' dumps before and
after each run and a small history of its own (every phone each record and each contact ever had, the
records and contacts the model itself created, the contacts seen paired with a record after a full run):

After **every** run:

- no phone is on two Heymarket contacts;
- a Heymarket contact the run created or changed ends at the phone of a live, in-scope Salesforce record with
  a valid phone (the sync writes to Heymarket only for records it syncs; an invalid phone never gets there);
- a Heymarket contact the run deleted had a phone that a record now deleted once had, and that record's
  object has ``delete_in_heymarket`` on;
- a Salesforce record the run changed is live and in scope (never a converted Lead, never a deleted record);
- a Salesforce record the run created is an auto-created Contact (``auto_create: Contact``) with the phone
  and the values of a Heymarket contact that was never paired with a record, at a valid phone no live
  Salesforce record had;
- the sync never re-subscribes anyone: a Heymarket contact opted out before the run is opted out after it;
  and until the example's first START, no run clears a ticked opt-out box (only a START opts a person in);
- a box ticked counts, on any record with the phone (compliance rules 1 and 4): when a live, in-scope record
  with a valid phone has its box ticked before the run, the Heymarket contact at that phone after the run (if
  any) is opted out, unless a START reached that phone or that contact since the box was ticked, or before it
  with no run in between (the sync sees states, not clicks: a START is the newer consent, rule 2).

After **every full** run, besides:

- every phone held by exactly one live, in-scope record (valid phone) is on exactly one Heymarket contact,
  carrying that record's mapped values (``salesforce_wins`` settles conflicts, so both sides agree);
  a phone held by several such records (duplicates: one winner, the others reported) is on exactly one
  contact carrying the values of one of them;
- no contact the run deleted was at such a phone (a contact a live record takes is never deleted);
- the contact last seen paired with a record that is deleted now (``delete_in_heymarket`` on) is gone, when
  no live record has its number and nothing else can have taken it over since;
- a record that moved to a number no other record and no other contact had since the last full run took its
  own contact along (the same contact id is at its new number);
- a Heymarket contact at a valid phone that no Salesforce record ever had, never paired and not created by
  the sync, would have to be auto-created: there is none;
- the opt-out agrees on both sides, on every record with the phone (rule 5: a full run reads every duplicate):
  every live, in-scope record at a valid phone has its box ticked exactly when the contact there is opted out
  (a phone with a record of an object whose opt-out sync is off is held back: such records neither count nor
  are written);
- a further full run writes nothing: both dumps unchanged, no write call to either API, nothing planned, the
  run's history counts nothing created, updated or deleted.

Records whose number is held by several live, in-scope records (duplicates) are held back: the oracle does not
say which of them wins, only that one contact carries one of them. Converted Leads are out of scope, merge
victims deleted, records with an invalid phone never in Heymarket.

Examples: ``LIFECYCLE_EXAMPLES`` (default 4) of at most ``LIFECYCLE_STEPS`` steps (default 14), from the fixed
seed below plus the examples database ``tests/e2e/.hypothesis-lifecycles`` (failures found earlier replay
first). ``make soak`` sets ``LIFECYCLE_SOAK=1``, ``SOAK_EXAMPLES`` (default 50) and a fresh seed per run, and
shrinks a failure. ``LIFECYCLE_TRACE=<file>`` writes every step of every example to a file. See the README,
"The lifecycle model test".
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from hypothesis import HealthCheck, Phase, note, seed, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.e2e.conftest import SHIPPED_CONFIG, SyncHarness
from tests.e2e.test_sync_scenarios import FIELDS, OLD, OLD_HM, OPEN, WORKING, plan_counts, writes_planned
from tests.oracle_phones import e164_digits as e164

pytestmark = pytest.mark.e2e

SOAK = os.environ.get("LIFECYCLE_SOAK") == "1"
EXAMPLES = int(os.environ.get("SOAK_EXAMPLES", "50") if SOAK else os.environ.get("LIFECYCLE_EXAMPLES", "4"))
STEPS = int(os.environ.get("LIFECYCLE_STEPS", "14"))
SEED = 20261207
TRACE = Path(os.environ["LIFECYCLE_TRACE"]) if os.environ.get("LIFECYCLE_TRACE") else None
DATABASE = Path(__file__).resolve().parent / ".hypothesis-lifecycles"

#: twelve valid US numbers: few enough that moves collide, swaps and takeovers happen
POOL = [f"1415555{n:04d}" for n in range(2601, 2613)]
#: what Heymarket accepts (``^[1-9][0-9]{7,14}$``) but ``phonenumbers`` reads as invalid (``+4155552700``)
INVALID_HM = ["4155552700", "4155552701"]
#: agents add contacts while Heymarket has fewer (so that some numbers stay free for records to move to)
HM_CONTACTS_MAX = 9
#: Salesforce phones no region reads as a valid number
INVALID_SF = ["555-26", "(415) 555", "n/a"]
FORMATS = ["+1 {a} {b} {c}", "({a}) {b}-{c}", "{a}.{b}.{c}", "1{a}{b}{c}", "+1{a}{b}{c}"]
LIST_VIEW = "Open_Leads"

FIRST = ["Ana", "Ben", "Cara", "Dan", "Eve", "Finn", "Gia", "Hal"]
LAST = ["Lima", "Okafor", "Diaz", "Fox", "Gray", "Hale", "Ito", "Jones"]
TIERS = [None, "Gold", "Silver", "Bronze"]
LANGUAGES = [None, "English", "Spanish", "Korean"]

#: canonical key -> Salesforce field, per object (Heymarket: the contact key, or the custom field of that title)
KEYS = {
    "Contact": {"first": "FirstName", "last": "LastName", "email": "Email",
                "custom.Customer Tier": "Customer_Tier__c", "custom.Preferred Language": "Preferred_Language__c"},
    "Lead": {"first": "FirstName", "last": "LastName", "email": "Email",
             "custom.Preferred Language": "Preferred_Language__c"},
}
HM_CUSTOM = {f"custom.{f['title']}": str(f["id"]) for f in FIELDS}
#: the shipped config's opt-out checkbox (Heymarket: ``is_opted_out``)
OPT_OUT_FIELD = "SMS_Opt_Out__c"


# ------------------------------------------------------------------------------------------ readings


def hm_valid(phone: str) -> str | None:
    """A Heymarket phone (digits without ``+``) if ``phonenumbers`` reads ``+<digits>`` as valid."""
    return e164(f"+{phone}")


def norm(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def sf_values(record: dict) -> dict[str, str | None]:
    return {key: norm(record.get(name)) for key, name in KEYS[record["attributes_object"]].items()}


def hm_values(contact: dict, obj: str) -> dict[str, str | None]:
    custom = contact.get("custom") or {}
    return {key: norm(custom.get(HM_CUSTOM[key]) if key in HM_CUSTOM else contact.get(key)) for key in KEYS[obj]}


def raw_phone(phone: str, form: int) -> str:
    """A pool number in one of the human formats users type."""
    digits = phone[1:]
    return FORMATS[form % len(FORMATS)].format(a=digits[:3], b=digits[3:6], c=digits[6:])


def model_config(lead_scope: str, contact_delete: bool, lead_delete: bool, runs_root: str) -> dict:
    config = yaml.safe_load(SHIPPED_CONFIG.read_text())
    config.setdefault("state", {})["runs_root"] = runs_root
    config["objects"]["Contact"]["delete_in_heymarket"] = contact_delete
    config["objects"]["Lead"]["delete_in_heymarket"] = lead_delete
    if lead_scope == "list_view":
        config["objects"]["Lead"].update(scope="list_view", list_view=LIST_VIEW)
    return config


HM_WRITES = {"POST /v2/contacts", "POST /v1/contact", "POST /v1/batch/contacts", "POST /v2/contact"}


def heymarket_writes(stats: dict) -> dict[str, int]:
    return {k: n for k, n in stats["by_endpoint"].items() if k.startswith(("PUT", "DELETE")) or k in HM_WRITES}


def salesforce_writes(stats: dict) -> dict[str, int]:
    return {k: n for k, n in stats["by_endpoint"].items()
            if k.split(" ")[0] in {"POST", "PATCH", "PUT", "DELETE"}
            and not any(m in k for m in ("query", "/Soap/", "oauth2"))}


# ------------------------------------------------------------------------------------------ the world
@dataclass
class World:
    """The emulators as dumped at one moment: Salesforce Contacts and Leads, Heymarket contacts."""

    records: dict[str, dict]
    contacts: dict[int, dict]

    @classmethod
    def read(cls, sync: SyncHarness) -> World:
        dump = sync.sf.dump()
        records: dict[str, dict] = {}
        for obj in ("Contact", "Lead"):
            for record in dump["records"][obj] if "records" in dump else dump[obj]:
                records[record["Id"]] = {**record, "attributes_object": obj}
        return cls(records, {int(c["id"]): c for c in sync.hm.dump()["contacts"]})

    def live(self, obj: str | None = None) -> list[dict]:
        return [r for r in self.records.values()
                if not r.get("IsDeleted") and (obj is None or r["attributes_object"] == obj)]

    def editable(self, obj: str | None = None) -> list[dict]:
        """Live records a user can still change (a converted Lead is read-only)."""
        return [r for r in self.live(obj) if not r.get("IsConverted")]

    def deleted(self) -> list[dict]:
        return [r for r in self.records.values() if r.get("IsDeleted")]

    def hm_phones(self) -> set[str]:
        return {c["phone"] for c in self.contacts.values()}

    def sf_phones(self) -> set[str]:
        return {p for r in self.live() if (p := e164(r.get("Phone")))}


@dataclass
class Context:
    sync: SyncHarness
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    examples: int = 0
    steps: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    checked: Counter[str] = field(default_factory=Counter)  # oracle findings checked, by kind
    syncs: dict[str, int] = field(default_factory=lambda: {"incremental": 0, "full": 0, "check": 0})
    sync_seconds: float = 0.0


#: after a user action, a run follows one time in three (half incremental, half full)
THEN_RUN = [None, None, None, None, "incremental", "full"]


def step(function: Callable[..., None]) -> Callable[..., None]:
    """A rule: counts the step, refreshes the model's view after it, remembers whether it finished. A user
    action (a rule drawing ``data``) may be followed by a run, so that runs come often between few changes."""

    @wraps(function)
    def wrapper(self: LifecycleModel, *args: Any, **kwargs: Any) -> None:
        self.finished = False
        self.ctx.steps += 1
        self.ctx.rules[function.__name__] += 1
        function(self, *args, **kwargs)
        self.observe()
        if "data" in kwargs and (mode := kwargs["data"].draw(st.sampled_from(THEN_RUN), label="then run")):
            self._sync(mode)
        self.finished = True

    return wrapper


# ------------------------------------------------------------------------------------------ the machine
@seed(SEED)
class LifecycleModel(RuleBasedStateMachine):
    ctx: ClassVar[Context]

    def __init__(self) -> None:
        super().__init__()
        self.sync = self.ctx.sync
        self.finished = True
        self.world = World({}, {})
        self.model_records: set[str] = set()  # created by the model (loads, API creates, conversions)
        self.model_contacts: set[int] = set()
        self.record_phones: dict[str, set[str]] = {}  # every valid phone each record ever had
        self.contact_phones: dict[int, set[str]] = {}  # every phone each contact ever had
        self.paired: set[int] = set()  # contacts seen at a live, in-scope record's phone after a full run
        self.pairs: dict[int, tuple[str, str, int]] = {}  # contact -> (record, phone, tick): its sole record
        self.tick = 0  # counts the model's observations
        self.holders: dict[str, dict[str, int]] = {}  # phone -> live record -> last tick it had that phone
        self.contact_at: dict[int, tuple[str, int]] = {}  # contact -> (phone, tick it got there)
        self.hm_at: dict[str, dict[int, set[int]]] = {}  # phone -> contact -> every tick it was seen there
        self.unscoped_at: dict[str, int] = {}  # record -> last tick it was not live and in scope
        self.moved_by_hand: dict[int, list[tuple[int, str]]] = {}  # contact -> (tick, phone) of changes by hand
        self.deleted_by_hand: set[int] = set()
        self.started = False  # a START (opt back in) was sent in this example
        self.runs = 0  # runs of the DAG in this example so far
        self.box_ticked_at: dict[str, int] = {}  # record -> runs before its box was last seen going ticked
        self.starts: list[tuple[int, int, str]] = []  # every START: (runs before it, contact, its phone)
        self.opt_out_on: dict[str, bool] = {}  # object -> it syncs opt-outs (its opt_out_field is not off)
        self.order: list[str] = []  # record ids in the order the model first saw them (stable choices)

    # ---- setup -------------------------------------------------------------------------------------
    @initialize(data=st.data())
    def seeded_world(self, data: st.DataObject) -> None:
        self.finished = False
        self.ctx.examples += 1
        self.lead_scope = data.draw(st.sampled_from(["list_view", "all"]), label="lead scope")
        self.delete_on = {"Contact": data.draw(st.booleans(), label="Contact delete_in_heymarket"),
                          "Lead": data.draw(st.booleans(), label="Lead delete_in_heymarket")}
        ctx, sync = self.ctx, self.sync
        n = ctx.examples
        sync.sf.reset()
        sync.hm.reset()
        sync.hm.faults(rate_limit_per_minute=100_000)
        sync.hm.load({"fields": FIELDS})
        sync.sf.load({"ListView": [{"SobjectType": "Lead", "DeveloperName": LIST_VIEW, "Label": "Open Leads",
                                    "WhereClause": f"Status = '{OPEN}'"}]})
        sync.state_url = f"sqlite:///{ctx.tmp_path / f'state-{n}.db'}"
        ctx.monkeypatch.setenv("AIRFLOW_CONN_HEYMARKET_SYNC_STATE",
                               json.dumps({"conn_type": "generic", "extra": {"url": sync.state_url}}))
        config = model_config(self.lead_scope, self.delete_on["Contact"], self.delete_on["Lead"],
                              str(ctx.tmp_path / "runs"))
        sync.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.opt_out_on = {o: config["objects"][o].get("opt_out_field", OPT_OUT_FIELD) not in (False, None)
                           for o in ("Contact", "Lead")}

        phones = data.draw(st.permutations(POOL), label="phones")
        n_contacts = data.draw(st.integers(1, 4), label="contacts")
        n_leads = data.draw(st.integers(1, 3), label="leads")
        n_hm = data.draw(st.integers(0, 2), label="heymarket-only")
        contacts = [self._stamped(self._contact_fields(data, raw_phone(phones[i], i))) for i in range(n_contacts)]
        leads = [self._stamped(self._lead_fields(data, raw_phone(phones[n_contacts + i], i)))
                 for i in range(n_leads)]
        hm_only = [dict(self._hm_fields(data), phone=phones[n_contacts + n_leads + i], updated=OLD_HM,
                        created=OLD_HM) for i in range(n_hm)]
        if data.draw(st.booleans(), label="an invalid Heymarket phone"):
            hm_only.append(dict(self._hm_fields(data), phone=INVALID_HM[0], updated=OLD_HM, created=OLD_HM))
        sync.sf.load({"Contact": contacts, "Lead": leads})
        if hm_only:
            sync.hm.load({"contacts": hm_only})
        self.observe()
        self.model_records = set(self.world.records)
        self.model_contacts = set(self.world.contacts)
        self.say(f"example {n}: Lead scope {self.lead_scope}, delete_in_heymarket {self.delete_on}; "
                 f"{n_contacts} Contacts and {n_leads} Leads at {phones[:n_contacts + n_leads]}, Heymarket-only "
                 f"contacts at {[c['phone'] for c in hm_only]}")
        self._sync("full")
        self.finished = True

    # ---- Salesforce, as a user -----------------------------------------------------------------------
    @rule(data=st.data(), obj=st.sampled_from(["Contact", "Lead"]))
    @step
    def sf_create(self, data: st.DataObject, obj: str) -> None:
        phone = self._draw_sf_phone(data)
        fields = self._contact_fields(data, phone) if obj == "Contact" else self._lead_fields(data, phone)
        new_id = getattr(self.sync.salesforce_api(), obj).create(fields)["id"]
        self.model_records.add(new_id)
        self.say(f"create {obj} {new_id} at {phone!r}" + (f" ({fields['Status']})" if obj == "Lead" else ""))

    @precondition(lambda self: self.world.editable())
    @rule(data=st.data())
    @step
    def sf_edit(self, data: st.DataObject) -> None:
        record = self._draw_record(data, self.world.editable())
        names = KEYS[record["attributes_object"]]
        keys = data.draw(st.lists(st.sampled_from(sorted(names)), min_size=1, unique=True), label="keys")
        values = self._values(data)
        self._sf_update(record, {names[k]: values[k] for k in keys})
        self.say(f"edit {self.name(record)}: {', '.join(keys)}")

    @precondition(lambda self: self.world.editable() and self._free_numbers())
    @rule(data=st.data())
    @step
    def sf_phone_to_free_number(self, data: st.DataObject) -> None:
        """To a number no live record and no Heymarket contact has: the record's contact follows it."""
        record = self._draw_record(data, self.world.editable())
        self._set_phone(data, record, self._free_numbers(), "a free number")

    @precondition(lambda self: self.world.editable())
    @rule(data=st.data())
    @step
    def sf_phone_to_taken_number(self, data: st.DataObject) -> None:
        """To the number of another live record (duplicates) or of a Heymarket contact (a match or a takeover)."""
        record = self._draw_record(data, self.world.editable())
        own = e164(record.get("Phone"))
        taken = sorted((self.world.sf_phones() | (self.world.hm_phones() & set(POOL))) - {own})
        self._set_phone(data, record, taken or POOL, "a taken number")

    @precondition(lambda self: self.world.editable())
    @rule(data=st.data())
    @step
    def sf_phone_to_unusable(self, data: st.DataObject) -> None:
        """To a number no region reads as valid, or none."""
        record = self._draw_record(data, self.world.editable())
        phone = data.draw(st.sampled_from([*INVALID_SF, None]), label="unusable phone")
        self._sf_update(record, {"Phone": phone})
        self.say(f"phone of {self.name(record)} -> {phone!r}")

    @precondition(lambda self: self._distinct_phones() >= 2)
    @rule(data=st.data())
    @step
    def sf_swap(self, data: st.DataObject) -> None:
        a, b = self._draw_distinct_phones(data, 2)
        self._sf_update(a, {"Phone": b["Phone"]})
        self._sf_update(b, {"Phone": a["Phone"]})
        self.say(f"swap the phones of {self.name(a)} and {self.name(b)}")

    @precondition(lambda self: self._distinct_phones() >= 3)
    @rule(data=st.data())
    @step
    def sf_cycle(self, data: st.DataObject) -> None:
        a, b, c = self._draw_distinct_phones(data, 3)
        self._sf_update(a, {"Phone": b["Phone"]})
        self._sf_update(b, {"Phone": c["Phone"]})
        self._sf_update(c, {"Phone": a["Phone"]})
        self.say(f"3-cycle: {self.name(a)} takes {self.name(b)}'s phone, which takes {self.name(c)}'s, which "
                 f"takes {self.name(a)}'s")

    @precondition(lambda self: self.world.editable())
    @rule(data=st.data())
    @step
    def sf_delete(self, data: st.DataObject) -> None:
        record = self._draw_record(data, self.world.editable())
        getattr(self.sync.salesforce_api(), record["attributes_object"]).delete(record["Id"])
        self.say(f"delete {self.name(record)}")

    @precondition(lambda self: self.world.deleted())
    @rule(data=st.data())
    @step
    def sf_undelete(self, data: st.DataObject) -> None:
        record = self._draw_record(data, self.world.deleted())
        self.sync.sf.undelete([record["Id"]])
        self.say(f"undelete {self.name(record)}")

    @precondition(lambda self: any(len(self.world.editable(o)) >= 2 for o in ("Contact", "Lead")))
    @rule(data=st.data())
    @step
    def sf_merge(self, data: st.DataObject) -> None:
        """Merge one record into another of its object; the master may take the victim's phone."""
        obj = data.draw(st.sampled_from([o for o in ("Contact", "Lead") if len(self.world.editable(o)) >= 2]),
                        label="object")
        master = self._draw_record(data, self.world.editable(obj))
        victim = self._draw_record(data, [r for r in self.world.editable(obj) if r["Id"] != master["Id"]])
        values = {"Phone": victim["Phone"]} if data.draw(st.booleans(), label="master takes the phone") else None
        self.sync.sf.merge(obj, master["Id"], [victim["Id"]], master_values=values)
        self.say(f"merge {self.name(victim)} into {self.name(master)}" + (" (taking its phone)" if values else ""))

    @precondition(lambda self: self.world.editable("Lead"))
    @rule(data=st.data())
    @step
    def sf_convert(self, data: st.DataObject) -> None:
        lead = self._draw_record(data, self.world.editable("Lead"))
        contact_id = self.sync.sf.convert(lead["Id"])["contactId"]
        self.model_records.add(contact_id)
        self.say(f"convert {self.name(lead)} into Contact {contact_id}")

    @precondition(lambda self: self.world.editable("Lead"))
    @rule(data=st.data())
    @step
    def sf_list_view_in_out(self, data: st.DataObject) -> None:
        """A Lead's status moves it into or out of the ``Open_Leads`` view (it matters only when that is the scope)."""
        lead = self._draw_record(data, self.world.editable("Lead"))
        status = WORKING if lead.get("Status") == OPEN else OPEN
        self._sf_update(lead, {"Status": status})
        self.say(f"{self.name(lead)} {'into' if status == OPEN else 'out of'} the list view")

    # ---- Heymarket, as an agent ----------------------------------------------------------------------
    @precondition(lambda self: len(self.world.contacts) < HM_CONTACTS_MAX)
    @rule(data=st.data())
    @step
    def hm_create(self, data: st.DataObject) -> None:
        phone = self._draw_free_hm_phone(data)
        created = self.sync.heymarket_api.create(phone=phone, **self._hm_fields(data))
        self.model_contacts.add(int(created["id"]))
        self.say(f"create Heymarket contact {created['id']} at {phone}")

    @precondition(lambda self: self.world.contacts)
    @rule(data=st.data())
    @step
    def hm_edit(self, data: st.DataObject) -> None:
        contact = self._draw_contact(data)
        fields = self._hm_fields(data, clearing=True)
        keys = data.draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, unique=True), label="keys")
        self.sync.heymarket_api.update(contact["id"], **{k: fields[k] for k in keys})
        self.say(f"edit Heymarket contact {contact['id']} at {contact['phone']}: {', '.join(keys)}")

    @precondition(lambda self: self.world.contacts and len(self.world.hm_phones()) < len(POOL) + len(INVALID_HM))
    @rule(data=st.data())
    @step
    def hm_phone_change(self, data: st.DataObject) -> None:
        contact = self._draw_contact(data)
        phone = self._draw_free_hm_phone(data)
        self.sync.heymarket_api.update(contact["id"], phone=phone)
        self.moved_by_hand.setdefault(int(contact["id"]), []).append((self.tick, phone))
        self.say(f"phone of Heymarket contact {contact['id']}: {contact['phone']} -> {phone}")

    @precondition(lambda self: self.world.contacts)
    @rule(data=st.data())
    @step
    def hm_delete(self, data: st.DataObject) -> None:
        contact = self._draw_contact(data)
        self.sync.heymarket_api.delete(contact["id"])
        self.deleted_by_hand.add(int(contact["id"]))
        self.say(f"delete Heymarket contact {contact['id']} at {contact['phone']}")

    # ---- opt-outs, as people and reps do them ----------------------------------------------------------
    @precondition(lambda self: self.world.editable())
    @rule(data=st.data())
    @step
    def sf_opt_out_box(self, data: st.DataObject) -> None:
        record = self._draw_record(data, self.world.editable())
        ticked = data.draw(st.booleans(), label="box ticked")
        self._sf_update(record, {OPT_OUT_FIELD: ticked})
        self.say(f"{'tick' if ticked else 'un-tick'} the opt-out box of {self.name(record)}")

    @precondition(lambda self: self.world.contacts)
    @rule(data=st.data())
    @step
    def hm_stop_or_start(self, data: st.DataObject) -> None:
        contact = self._draw_contact(data)
        status = data.draw(st.sampled_from(["unsubscribed", "unsubscribed", "subscribed"]), label="status")
        self.sync.heymarket_api._call("POST", "/v1/contact/set_status", {"id": contact["id"], "status": status})
        if status == "subscribed":
            self.started = True
            self.starts.append((self.runs, int(contact["id"]), contact["phone"]))
        self.say(f"{'STOP' if status == 'unsubscribed' else 'START'} from Heymarket contact {contact['id']} at "
                 f"{contact['phone']}")

    # ---- syncs ---------------------------------------------------------------------------------------
    # The ``mode`` argument is fixed; it sorts the runs after the user actions in hypothesis's rule list (rules
    # without arguments come first), so the simplest example is a row of edits, not a row of runs.
    @rule(mode=st.just("incremental"))
    @step
    def sync_incremental(self, mode: str) -> None:
        self._sync(mode)

    @rule(mode=st.just("full"))
    @step
    def sync_full(self, mode: str) -> None:
        self._sync(mode)

    def teardown(self) -> None:
        """Every example ends with a full run and its checks (unless a step already failed)."""
        if self.finished and self.world.records:
            self._sync("full")

    # ---- the model's view ------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """What a step did, in words: shown with a failing example (``note``) and written to the trace file."""
        note(text)
        if TRACE:
            with TRACE.open("a") as trace:
                trace.write(f"[{self.ctx.examples}] {text}\n")

    def name(self, record: dict) -> str:
        return f"{record['attributes_object']} {record['Id']} ({record.get('Phone')!r})"

    def observe(self) -> World:
        previous, self.world = self.world, World.read(self.sync)
        self.tick += 1
        for record_id, record in self.world.records.items():
            if record.get(OPT_OUT_FIELD) and not previous.records.get(record_id, {}).get(OPT_OUT_FIELD):
                self.box_ticked_at[record_id] = self.runs
            if record_id not in self.record_phones:
                self.order.append(record_id)
            phones = self.record_phones.setdefault(record_id, set())
            if phone := e164(record.get("Phone")):
                phones.add(phone)
                if not record.get("IsDeleted"):
                    self.holders.setdefault(phone, {})[record_id] = self.tick
            if not self.in_scope(record):
                self.unscoped_at[record_id] = self.tick
        for hm_id, contact in self.world.contacts.items():
            self.contact_phones.setdefault(hm_id, set()).add(contact["phone"])
            self.hm_at.setdefault(contact["phone"], {}).setdefault(hm_id, set()).add(self.tick)
            if self.contact_at.get(hm_id, ("", 0))[0] != contact["phone"]:
                self.contact_at[hm_id] = (contact["phone"], self.tick)
        return self.world

    def in_scope(self, record: dict) -> bool:
        if record.get("IsDeleted") or record.get("IsConverted"):
            return False
        return record["attributes_object"] == "Contact" or self.lead_scope == "all" or record.get("Status") == OPEN

    def candidates(self, world: World) -> dict[str, list[dict]]:
        """Phone -> the live, in-scope records with that valid phone."""
        out: dict[str, list[dict]] = {}
        for record in world.records.values():
            if self.in_scope(record) and (phone := e164(record.get("Phone"))):
                out.setdefault(phone, []).append(record)
        return out

    # ---- one run and the oracle ------------------------------------------------------------------------
    def _sync(self, mode: str) -> None:
        before = self.observe()
        dag_run = self._run(mode)
        after = self.observe()
        self.say(f"{mode} run: {self._changes(before, after)}")
        self._check_run(before, after, dag_run)
        if mode == "full":
            self._check_full(before, after)
            self._check_quiet()

    def _run(self, mode: str, counted: str | None = None):  # noqa: ANN202 - a DagRun
        self.sync.sf.reset_stats()
        self.sync.hm.reset_stats()
        started = time.monotonic()
        self.runs += 1
        dag_run = self.sync.run(mode=mode)
        self.ctx.sync_seconds += time.monotonic() - started
        self.ctx.syncs[counted or mode] += 1
        assert str(dag_run.state) == "success", f"{mode} run failed: {self.sync.result(dag_run)}"
        history = self.sync.history(dag_run)
        if history["status"] == "partial" and mode == "incremental":
            self._excuse_rejections(dag_run)
        else:
            assert history["status"] == "success", (
                f"{mode} run ended {history['status']}: {history.get('error_summary')}; "
                f"open errors:\n{self.sync.store().load_errors().to_string()}")
        return dag_run

    def _excuse_rejections(self, dag_run) -> None:  # noqa: ANN001
        """An incremental run reads no Heymarket deletes (only full sweeps do), so a write to a contact an agent
        deleted since the last full run is rejected ("contact not found") and retried; the next full run settles
        it. Any other rejection fails the test."""
        errors = self.sync.store().load_errors(run_id=dag_run.run_id).to_dict("records")
        excused = [e for e in errors if e["target"] == "heymarket" and "not found" in str(e["message"])
                   and int(e["hm_id"]) in self.deleted_by_hand]
        assert errors and excused == errors, f"incremental run ended partial: {errors}"
        self.ctx.checked["write to a contact deleted by hand, rejected"] += len(errors)
        self.say(f"  (partial: {[(e['action'], e['hm_id']) for e in errors]} rejected, contacts deleted by hand)")

    @staticmethod
    def _changes(before: World, after: World) -> str:
        hm_new = sorted(set(after.contacts) - set(before.contacts))
        hm_gone = sorted(set(before.contacts) - set(after.contacts))
        hm_changed = sorted(i for i in set(after.contacts) & set(before.contacts)
                            if after.contacts[i]["rev"] != before.contacts[i]["rev"])
        sf_new = sorted(set(after.records) - set(before.records))
        sf_changed = sorted(i for i in set(after.records) & set(before.records)
                            if after.records[i]["SystemModstamp"] != before.records[i]["SystemModstamp"])
        return (f"Heymarket created {hm_new}, changed {hm_changed}, deleted {hm_gone}; "
                f"Salesforce created {sf_new}, changed {sf_changed}")

    def _check_run(self, before: World, after: World, dag_run) -> None:  # noqa: ANN001
        """What any run (incremental or full) may have written."""
        phones = [c["phone"] for c in after.contacts.values()]
        assert len(phones) == len(set(phones)), "one phone on two Heymarket contacts"
        live_phones = set(self.candidates(after))

        for hm_id, contact in after.contacts.items():
            old = before.contacts.get(hm_id)
            if old is None or old["rev"] != contact["rev"]:
                what = "created" if old is None else "changed"
                self.ctx.checked[f"Heymarket contact {what}"] += 1
                assert contact["phone"] in live_phones, (
                    f"the run {what} Heymarket contact {hm_id} at {contact['phone']}, the valid phone of no live, "
                    f"in-scope record")
        gone_phones = {o: set() for o in ("Contact", "Lead")}
        for record in after.deleted():
            gone_phones[record["attributes_object"]] |= self.record_phones.get(record["Id"], set())
        deletable = set().union(*(gone_phones[o] for o in gone_phones if self.delete_on[o]))
        for hm_id in set(before.contacts) - set(after.contacts):
            self.ctx.checked["Heymarket contact deleted"] += 1
            assert self.contact_phones[hm_id] & deletable, (
                f"the run deleted Heymarket contact {hm_id} (phones {sorted(self.contact_phones[hm_id])}), which "
                f"no deleted record of an object with delete_in_heymarket on ever had")

        for record_id, record in after.records.items():
            old = before.records.get(record_id)
            if old is not None and old["SystemModstamp"] != record["SystemModstamp"]:
                self.ctx.checked["Salesforce record updated"] += 1
                assert self.in_scope(record) and e164(record.get("Phone")), (
                    f"the run wrote to {record['attributes_object']} {record_id}, which is not live, in scope "
                    f"and with a valid phone")
        for record_id in set(after.records) - set(before.records) - self.model_records:
            self._check_auto_created(before, after, after.records[record_id])
        self._check_never_re_subscribed(before, after)
        self._check_ticked_boxes_opt_out(before, after)

    def _check_never_re_subscribed(self, before: World, after: World) -> None:
        """The sync never opts anyone back in: only a START does (the compliance rules, README)."""
        for hm_id, contact in after.contacts.items():
            if before.contacts.get(hm_id, {}).get("is_opted_out"):
                self.ctx.checked["opted-out contact stays opted out"] += 1
                assert contact["is_opted_out"], f"the run re-subscribed Heymarket contact {hm_id}"
        if self.started:
            return
        for record_id, record in after.records.items():
            if before.records.get(record_id, {}).get(OPT_OUT_FIELD):
                self.ctx.checked["ticked box stays ticked without a START"] += 1
                assert record.get(OPT_OUT_FIELD), (
                    f"the run cleared the opt-out box of {record_id}, but nobody opted back in (no START)")

    def _check_ticked_boxes_opt_out(self, before: World, after: World) -> None:
        """A box ticked on any record with a phone opts the person out in Heymarket (rules 1 and 4): after the run,
        the contact at the phone of a live, in-scope record (of an object that syncs opt-outs) whose box was ticked
        before the run is opted out, unless a START for that phone or that contact came after the box was ticked
        (or before it, with no run in between: the sync sees states, and a START is the newer consent, rule 2)."""
        by_phone = {c["phone"]: c for c in after.contacts.values()}
        for phone, records in sorted(self.candidates(before).items()):
            contact = by_phone.get(phone)
            ticked = [r["Id"] for r in records if r.get(OPT_OUT_FIELD) and self.opt_out_on[r["attributes_object"]]]
            if contact is None or not ticked or not all(self.opt_out_on[r["attributes_object"]] for r in records):
                continue  # (a record of an object with opt-out sync off may be the one paired: rule 4 not for it)
            ticked = [r for r in ticked if not any(runs >= self.box_ticked_at.get(r, 0)
                                                   and (hm_id == int(contact["id"]) or at == phone)
                                                   for runs, hm_id, at in self.starts)]
            if not ticked:
                continue
            self.ctx.checked["ticked box opts the person out" + (" (duplicates)" if len(records) > 1 else "")] += 1
            assert contact["is_opted_out"], (
                f"the opt-out boxes of {ticked} at {phone} were ticked before the run (no START since), but Heymarket "
                f"contact {contact['id']} there is not opted out after it")

    def _check_auto_created(self, before: World, after: World, record: dict) -> None:
        self.ctx.checked["Salesforce record auto-created"] += 1
        record_id, phone = record["Id"], e164(record.get("Phone"))
        assert record["attributes_object"] == "Contact", f"auto-created a {record['attributes_object']}"
        assert phone, f"auto-created Contact {record_id} without a valid phone"
        [source] = [c for c in before.contacts.values() if c["phone"] == phone] or [None]
        assert source is not None, f"auto-created Contact {record_id} for no Heymarket contact"
        assert source["id"] in self.model_contacts and source["id"] not in self.paired, (
            f"auto-created Contact {record_id} from Heymarket contact {source['id']}, which a record held")
        holders = [r["Id"] for r in before.live() if e164(r.get("Phone")) == phone and not r.get("IsConverted")]
        assert not holders, f"auto-created Contact {record_id} for a phone live records have: {holders}"
        assert sf_values(record) == hm_values(after.contacts[source["id"]], "Contact"), (
            f"auto-created Contact {record_id} lacks its Heymarket contact's values")

    def _check_full(self, before: World, after: World) -> None:
        """The oracle of a full run: the records' phones and values are in Heymarket, nothing else moved."""
        by_phone = {c["phone"]: c for c in after.contacts.values()}
        candidates = self.candidates(after)
        self._check_contacts_followed(after, by_phone, candidates)
        for phone, records in sorted(candidates.items()):
            contact = by_phone.get(phone)
            ids = [r["Id"] for r in records]
            assert contact is not None, f"no Heymarket contact at {phone}, the phone of {ids}"
            self.paired.add(int(contact["id"]))
            holding = [r["Id"] for r in records if sf_values(r) == hm_values(contact, r["attributes_object"])]
            self.ctx.checked["phone with one record" if len(records) == 1 else "phone with duplicates"] += 1
            # rule 5: every record with the phone shows the person's state (a full run reads every duplicate)
            boxes = {r["Id"]: bool(r.get(OPT_OUT_FIELD)) for r in records if self.opt_out_on[r["attributes_object"]]}
            if boxes and all(self.opt_out_on[r["attributes_object"]] for r in records):
                assert set(boxes.values()) == {bool(contact["is_opted_out"])}, (
                    f"Heymarket contact {contact['id']} at {phone} is {'' if contact['is_opted_out'] else 'not '}"
                    f"opted out, but the opt-out boxes of the records with its phone say {boxes}")
                self.ctx.checked["opt-out agrees on every record with the phone"
                                 + (" (duplicates)" if len(boxes) > 1 else "")] += 1
            if len(records) == 1:
                self.pairs[int(contact["id"])] = (ids[0], phone, self.tick)
                assert holding, (f"Heymarket contact {contact['id']} at {phone} does not carry the values of "
                                 f"{ids[0]}: {hm_values(contact, records[0]['attributes_object'])} != "
                                 f"{sf_values(records[0])}")
            else:
                assert holding, f"Heymarket contact {contact['id']} at {phone} carries none of {ids}' values"
        held = {p for r in after.live() if (p := e164(r.get("Phone")))}  # by any live record, in scope or not
        for hm_id, (record_id, phone, paired_at) in self.pairs.items():
            record, contact = after.records[record_id], after.contacts.get(hm_id)
            if (not record.get("IsDeleted") or not self.delete_on[record["attributes_object"]]
                    or e164(record.get("Phone")) != phone or phone in held
                    or (contact is not None and (self.contact_at[hm_id][0] != phone
                                                 or self.contact_at[hm_id][1] > paired_at))
                    or any(other != record_id and tick >= paired_at
                           for other, tick in self.holders[phone].items())):
                continue  # not (only) that record's contact since: another record may have taken it over
            self.ctx.checked["Heymarket contact of a deleted record"] += 1
            assert contact is None, (
                f"Heymarket contact {hm_id} at {phone}, last paired with {record_id}, which is deleted now "
                f"(delete_in_heymarket on), is still there and no live record has its number")
        for hm_id in set(before.contacts) - set(after.contacts):
            assert before.contacts[hm_id]["phone"] not in candidates, (
                f"the run deleted Heymarket contact {hm_id} at {before.contacts[hm_id]['phone']}, a live record's "
                f"phone")
        known = set().union(*self.record_phones.values()) if self.record_phones else set()
        for hm_id, contact in after.contacts.items():
            phone = contact["phone"]
            if phone in candidates or not hm_valid(phone) or hm_id not in self.model_contacts:
                continue
            self.ctx.checked["Heymarket-only contact left alone"] += 1
            assert hm_id in self.paired or self.contact_phones[hm_id] & known, (
                f"Heymarket contact {hm_id} at {phone} was never any record's and is still not auto-created")

    def _check_contacts_followed(self, after: World, by_phone: dict[str, dict],
                                 candidates: dict[str, list[dict]]) -> None:
        """A record that moved to a number no other record and no other Heymarket contact had since the last full
        run took its own contact along (rule 6), unless something else may have re-paired it meanwhile."""
        for hm_id, (record_id, old, paired_at) in self.pairs.items():
            record = after.records[record_id]
            phone = e164(record.get("Phone"))
            if (phone is None or phone == old or len(candidates.get(phone, [])) != 1 or hm_id not in after.contacts
                    or self.unscoped_at.get(record_id, -1) >= paired_at
                    or any(r != record_id and t >= paired_at
                           for p in (old, phone, *(p for t, p in self.moved_by_hand.get(hm_id, []) if t >= paired_at))
                           for r, t in self.holders.get(p, {}).items())
                    or any(p not in (old, phone) and held.get(record_id, -1) >= paired_at
                           for p, held in self.holders.items())
                    or any(h != hm_id and paired_at <= t < self.tick  # (not where this run put it)
                           for h, ticks in self.hm_at.get(phone, {}).items() for t in ticks)):
                continue
            self.ctx.checked["record moved to a free number"] += 1
            assert by_phone.get(phone, {}).get("id") == hm_id, (
                f"{record_id} moved from {old} to {phone}, a number nobody else had, and its Heymarket contact "
                f"{hm_id} did not follow it: contact {by_phone.get(phone, {}).get('id')} is at {phone}")

    def _check_quiet(self) -> None:
        """A further full run writes nothing."""
        before = self.observe()
        dag_run = self._run("full", counted="check")
        after = self.observe()
        assert writes_planned(plan_counts(self.sync, dag_run)) == {}, "a second full run planned writes"
        assert heymarket_writes(self.sync.hm.stats()) == {}, "a second full run wrote to Heymarket"
        assert salesforce_writes(self.sync.sf.stats()) == {}, "a second full run wrote to Salesforce"
        assert after.contacts == before.contacts, "a second full run changed Heymarket"
        assert after.records == before.records, "a second full run changed Salesforce"
        counts = self.sync.history(dag_run)["counts"]
        written = {(obj, direction, action): n for obj, directions in counts.items()
                   for direction, actions in directions.items() if direction != "state"
                   for action, n in actions.items() if n and action in {"created", "updated", "deleted"}}
        assert written == {}, f"the history of a second full run counts writes: {written}"

    # ---- drawing ---------------------------------------------------------------------------------------
    def _draw_record(self, data: st.DataObject, records: Iterable[dict]) -> dict:
        by_id = {r["Id"]: r for r in records}
        return by_id[data.draw(st.sampled_from([i for i in self.order if i in by_id]), label="record")]

    def _draw_contact(self, data: st.DataObject) -> dict:
        return self.world.contacts[data.draw(st.sampled_from(sorted(self.world.contacts)), label="contact")]

    def _with_phones(self) -> list[dict]:
        return [r for r in self.world.editable() if e164(r.get("Phone"))]

    def _distinct_phones(self) -> int:
        return len({e164(r.get("Phone")) for r in self._with_phones()})

    def _draw_distinct_phones(self, data: st.DataObject, n: int) -> list[dict]:
        chosen: list[dict] = []
        for _ in range(n):
            taken = {e164(r.get("Phone")) for r in chosen}
            chosen.append(self._draw_record(data, [r for r in self._with_phones()
                                                   if r not in chosen and e164(r.get("Phone")) not in taken]))
        return chosen

    def _free_numbers(self) -> list[str]:
        return [p for p in POOL if p not in self.world.sf_phones() and p not in self.world.hm_phones()]

    def _set_phone(self, data: st.DataObject, record: dict, numbers: list[str], what: str) -> None:
        phone = raw_phone(data.draw(st.sampled_from(numbers), label="phone"),
                          data.draw(st.integers(0, len(FORMATS) - 1), label="format"))
        self._sf_update(record, {"Phone": phone})
        self.say(f"phone of {self.name(record)} -> {phone!r} ({what})")

    def _draw_sf_phone(self, data: st.DataObject) -> str | None:
        """A number nobody has, one a live record has (a duplicate), one only a Heymarket contact has (a match or
        a takeover), any, an invalid one or none."""
        kind = data.draw(st.sampled_from(["free", "free", "taken", "heymarket", "any", "invalid", "none"]),
                         label="phone kind")
        if kind == "invalid":
            return data.draw(st.sampled_from(INVALID_SF), label="invalid phone")
        if kind == "none":
            return None
        records, contacts = self.world.sf_phones(), self.world.hm_phones()
        pool = {"free": [p for p in POOL if p not in records and p not in contacts],
                "taken": [p for p in POOL if p in records],
                "heymarket": [p for p in POOL if p in contacts and p not in records]}.get(kind) or POOL
        phone = data.draw(st.sampled_from(pool), label="phone")
        return raw_phone(phone, data.draw(st.integers(0, len(FORMATS) - 1), label="format"))

    def _draw_free_hm_phone(self, data: st.DataObject) -> str:
        free = [p for p in [*POOL, *INVALID_HM] if p not in self.world.hm_phones()]
        return data.draw(st.sampled_from(free), label="Heymarket phone")

    def _values(self, data: st.DataObject) -> dict[str, str | None]:
        first = data.draw(st.sampled_from(FIRST), label="first")
        last = data.draw(st.sampled_from(LAST), label="last")
        email = data.draw(st.sampled_from([None, f"{first}.{last}@example.com".lower(),
                                           f"{first[0]}{last}@mail.example".lower()]), label="email")
        return {"first": first, "last": last, "email": email,
                "custom.Customer Tier": data.draw(st.sampled_from(TIERS), label="tier"),
                "custom.Preferred Language": data.draw(st.sampled_from(LANGUAGES), label="language")}

    def _contact_fields(self, data: st.DataObject, phone: str | None) -> dict:
        values = self._values(data)
        return {**{name: values[k] for k, name in KEYS["Contact"].items()}, "Phone": phone}

    def _lead_fields(self, data: st.DataObject, phone: str | None) -> dict:
        values = self._values(data)
        status = data.draw(st.sampled_from([OPEN, OPEN, WORKING]), label="status")
        return {**{name: values[k] for k, name in KEYS["Lead"].items()}, "Phone": phone,
                "Company": f"{values['last']} & Co", "Status": status}

    def _hm_fields(self, data: st.DataObject, clearing: bool = False) -> dict:
        """Contact fields as Heymarket takes them; *clearing*: an edit, where ``""`` removes a value."""
        values = self._values(data)
        custom = {HM_CUSTOM[k]: values[k] or "" for k in HM_CUSTOM if clearing or values[k] is not None}
        fields = {"first": values["first"], "last": values["last"], "custom": custom}
        if clearing or values["email"]:
            fields["email"] = values["email"] or ""
        return fields

    @staticmethod
    def _stamped(record: dict) -> dict:
        return {"CreatedDate": OLD, "LastModifiedDate": OLD, "SystemModstamp": OLD,
                **{k: v for k, v in record.items() if v is not None}}

    def _sf_update(self, record: dict, changes: dict) -> None:
        getattr(self.sync.salesforce_api(), record["attributes_object"]).update(record["Id"], changes)


SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    database=DirectoryBasedExampleDatabase(str(DATABASE)),
    suppress_health_check=list(HealthCheck),
    # make test reports a failing sequence as found (and saves it); shrinking real runs takes minutes, so only
    # the soak shrinks (hypothesis stops shrinking after 5 minutes)
    phases=[Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink] if SOAK else [])],
    report_multiple_bugs=False,
    print_blob=True,
)


@pytest.mark.timeout(0 if SOAK else 600)
def test_lifecycle_model(sync: SyncHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    """Random lifecycles of both systems; after every full run the dump oracle holds and a further full run
    writes nothing (module docstring)."""
    ctx = Context(sync, tmp_path, monkeypatch)
    LifecycleModel.ctx = ctx
    if SOAK:  # a fresh seed per soak (printed), so every soak explores new lifecycles
        soak_seed = int(os.environ.get("SOAK_SEED") or time.time())
        monkeypatch.setattr(LifecycleModel, "_hypothesis_internal_use_seed", soak_seed)  # what @seed sets
        with capsys.disabled():
            print(f"\nlifecycle soak: seed {soak_seed} (replay with SOAK_SEED={soak_seed})")
    if TRACE:
        TRACE.write_text("")
    started = time.monotonic()
    try:
        run_state_machine_as_test(LifecycleModel, settings=SETTINGS)
    finally:
        with capsys.disabled():
            print(f"\nlifecycle model: {ctx.examples} examples run (replays and shrinking included), {ctx.steps} "
                  f"steps, runs {ctx.syncs} "
                  f"({ctx.sync_seconds:.0f} s in runs), {time.monotonic() - started:.0f} s in all\n"
                  f"  rules: {dict(sorted(ctx.rules.items()))}\n  oracle checks: {dict(sorted(ctx.checked.items()))}")
