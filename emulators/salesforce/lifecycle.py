"""Record lifecycle events a sync must survive: undelete, merge, lead conversion, emptying the recycle bin.

Real Salesforce offers these through SOAP (``undelete()``, ``merge()``, ``convertLead()``,
``emptyRecycleBin()``), Apex and the UI only, never through REST, so the emulator offers them on its
control interface (``POST /__admin/undelete|merge|convert|purge``, see ``routes/lifecycle.py``). What
matters is what they leave behind for the REST API to show afterwards: ``queryAll``, the
``updated``/``deleted`` feeds, describe, list views, Bulk, and the read-only rule of converted Leads.

Every call is all or nothing (like SOAP's ``AllOrNoneHeader``) and answers in the shape of the SOAP
call's result (``UndeleteResult``, ``MergeResult``, ``LeadConvertResult``, ``EmptyRecycleBinResult``)
as JSON, with per-record ``errors`` of ``{"statusCode", "message", "fields"}`` as in sObject
Collections. A refused call raises :class:`LifecycleRefused` with the HTTP status and that body.
All writes are made as the integration user and go through :class:`OrgStore`, so ids, stamps, the
recycle bin and the delete log behave as for API writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulators.salesforce import ids
from emulators.salesforce.describe import ObjectDef
from emulators.salesforce.errors import ROLLED_BACK_MESSAGE, SalesforceError, converted_lead
from emulators.salesforce.store import OrgStore, Record
from emulators.salesforce.values import now

#: objects ``merge()`` takes (Person Account and Individual are not emulated)
MERGEABLE = ("Account", "Contact", "Lead")
#: one merge request: a master and at most two other records
MAX_VICTIMS = 2
#: the org's ``LeadStatus`` values with ``IsConverted = true`` (a fresh org has exactly this one)
CONVERTED_STATUSES = ("Closed - Converted",)

#: Lead field -> Contact field: the standard lead mapping, for the fields the emulator has
CONTACT_MAPPING = {
    "Salutation": "Salutation",
    "FirstName": "FirstName",
    "LastName": "LastName",
    "Title": "Title",
    "Email": "Email",
    "Phone": "Phone",
    "MobilePhone": "MobilePhone",
    "Fax": "Fax",
    "LeadSource": "LeadSource",
    "Description": "Description",
    "HasOptedOutOfEmail": "HasOptedOutOfEmail",
    "DoNotCall": "DoNotCall",
    "Street": "MailingStreet",
    "City": "MailingCity",
    "State": "MailingState",
    "PostalCode": "MailingPostalCode",
    "Country": "MailingCountry",
}
#: Lead field -> Account field: the standard lead mapping, for the fields the emulator has
ACCOUNT_MAPPING = {
    "Company": "Name",
    "Phone": "Phone",
    "Fax": "Fax",
    "Website": "Website",
    "Industry": "Industry",
    "AnnualRevenue": "AnnualRevenue",
    "NumberOfEmployees": "NumberOfEmployees",
    "Street": "BillingStreet",
    "City": "BillingCity",
    "State": "BillingState",
    "PostalCode": "BillingPostalCode",
    "Country": "BillingCountry",
}

Body = dict[str, Any]


class LifecycleRefused(Exception):
    """A lifecycle call that changed nothing: the HTTP status and the result body to answer with."""

    def __init__(self, status: int, body: Body) -> None:
        super().__init__(body["detail"])
        self.status = status
        self.body = body


def _refusal(call: str, subject: str, exc: SalesforceError) -> str:
    return f"{call} failed, nothing changed: {subject}: {exc.code}: {exc.message}"


def _empty(value: Any) -> bool:
    """What a conversion into an existing record may fill: null, or an unticked checkbox."""
    return value is None or value is False


class Lifecycle:
    """The lifecycle calls of one org."""

    def __init__(self, org: OrgStore) -> None:
        self.org = org

    @property
    def user_id(self) -> str:
        return self.org.integration_user_id

    # --- undelete and purge ----------------------------------------------------------------------

    def undelete(self, record_ids: list[str]) -> Body:
        """Bring records back from the recycle bin with their old Id and new stamps.

        ``MasterRecordId`` of a merge victim is kept (the merge is not undone, and a real org does not
        clear it either as far as documented), so a live record can carry one: liveness is
        ``IsDeleted``, never ``MasterRecordId``. The delete-log entry stays (it records that a delete
        happened), so the ``deleted`` feed keeps listing the record.
        """
        return self._each("undelete", record_ids, self._undelete_one)

    def purge(self, record_ids: list[str]) -> Body:
        """Empty records from the recycle bin (``emptyRecycleBin()``): gone from ``queryAll`` and
        from every lookup; the ``deleted`` feed keeps listing them (the delete log is not purged)."""
        return self._each("purge", record_ids, self._purge_one)

    def _undelete_one(self, record_id: str) -> Record:
        obj, rec = self.org.find_any(record_id)
        if not obj.soft_delete:
            raise SalesforceError(
                400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support undelete", []
            )
        if not rec.get("IsDeleted"):
            raise SalesforceError(400, "UNDELETE_FAILED", "Entity is not in the recycle bin", [])
        self.org.check_unique(obj, rec, rec["Id"])
        self.org.system_update(obj, rec, {"IsDeleted": False}, self.user_id)
        self.org.restore_cascaded(rec["Id"], self.user_id)
        return rec

    def _purge_one(self, record_id: str) -> Record:
        obj, rec = self.org.find_any(record_id)
        if not obj.soft_delete:
            raise SalesforceError(
                400,
                "INVALID_TYPE_FOR_OPERATION",
                f"entity type {obj.name} does not support emptyRecycleBin",
                [],
            )
        if not rec.get("IsDeleted"):
            raise SalesforceError(400, "INVALID_ID_FIELD", "Entity is not in the recycle bin", [])
        self.org.purge(obj, rec)
        return rec

    def _each(self, call: str, record_ids: list[str], apply: Callable[[str], Record]) -> Body:
        """Apply *apply* to every id; if any fails, undo all and refuse with every record's result."""
        org = self.org
        with org.transaction() as undo:
            results: list[Body] = []
            failures: list[tuple[str, SalesforceError]] = []
            for record_id in record_ids:
                try:
                    rec = apply(record_id)
                except SalesforceError as exc:
                    results.append({"id": record_id, "success": False, "errors": [exc.record_error()]})
                    failures.append((record_id, exc))
                    continue
                results.append({"id": rec["Id"], "success": True, "errors": []})
            if failures:
                org.rollback(undo)
                results = [r if not r["success"] else _rolled_back(r["id"]) for r in results]
                first = failures[0][1]
                detail = "; ".join(_refusal(call, rid, exc) for rid, exc in failures)
                raise LifecycleRefused(first.status, {"detail": detail, "results": results})
        return {"results": results}

    # --- merge -----------------------------------------------------------------------------------

    def merge(
        self, object_name: str, master_id: str, victim_ids: list[str], master_values: dict[str, Any]
    ) -> Body:
        """``merge()``: delete the victims into the recycle bin with ``MasterRecordId`` = the master,
        move their child records (e.g. Contacts of a merged Account) to the master, then update the
        master with *master_values* (validated like any API update; its stamps move even when empty).

        :raises LifecycleRefused: unknown or unmergeable object, no or more than two victims, the
            master among them, a record missing, of another object, deleted or a converted Lead,
            invalid *master_values*.
        """
        org = self.org
        try:
            obj = self._mergeable(object_name)
            master = self._live(obj, master_id)
            victims = self._victims(obj, master, victim_ids)
            if any(rec.get("IsConverted") for rec in (master, *victims)):
                raise converted_lead()
            with org.transaction() as undo:
                try:
                    for victim in victims:
                        org.delete(obj, victim["Id"], self.user_id, master_record_id=master["Id"])
                    moved = self._reparent(obj, victims, master)
                    org.update(obj, master["Id"], master_values, self.user_id)
                except SalesforceError:
                    org.rollback(undo)
                    raise
        except SalesforceError as exc:
            raise LifecycleRefused(
                exc.status,
                {
                    "detail": _refusal("merge", str(master_id), exc),
                    "id": master_id,
                    "success": False,
                    "errors": [exc.record_error()],
                    "mergedRecordIds": [],
                    "updatedRelatedIds": [],
                },
            ) from None
        return {
            "id": master["Id"],
            "success": True,
            "errors": [],
            "mergedRecordIds": [v["Id"] for v in victims],
            "updatedRelatedIds": moved,
        }

    def _mergeable(self, object_name: str) -> ObjectDef:
        obj = self.org.object_def(object_name)
        if obj is None:
            raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{object_name}' is not supported.", [])
        if obj.name not in MERGEABLE:
            raise SalesforceError(
                400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support merge", []
            )
        return obj

    def _victims(self, obj: ObjectDef, master: Record, victim_ids: list[str]) -> list[Record]:
        if not victim_ids:
            raise SalesforceError(
                400,
                "REQUIRED_FIELD_MISSING",
                "A merge request needs one or two records to merge into the master record",
                ["recordToMergeIds"],
            )
        if len(victim_ids) > MAX_VICTIMS:
            raise SalesforceError(
                400,
                "LIMIT_EXCEEDED",
                f"A merge request can merge at most {MAX_VICTIMS} records into the master record, "
                f"not {len(victim_ids)}",
                ["recordToMergeIds"],
            )
        victims: list[Record] = []
        for victim_id in victim_ids:
            rec = self._live(obj, victim_id)
            if rec["Id"] == master["Id"]:
                raise SalesforceError(
                    400,
                    "INVALID_ID_FIELD",
                    f"The master record {master['Id']} cannot also be a record to merge",
                    ["recordToMergeIds"],
                )
            if any(v["Id"] == rec["Id"] for v in victims):
                raise SalesforceError(
                    400,
                    "INVALID_ID_FIELD",
                    f"Record {rec['Id']} is listed twice in the records to merge",
                    ["recordToMergeIds"],
                )
            victims.append(rec)
        return victims

    def _reparent(self, obj: ObjectDef, victims: list[Record], master: Record) -> list[str]:
        """Point the victims' live child records (createable lookups to *obj*) at the master."""
        gone = {v["Id"] for v in victims}
        moved: list[str] = []
        for child in self.org.schema.values():
            lookups = [
                f.name
                for f in child.field_list
                if f.type == "reference" and obj.name in f.referenceTo and f.createable
            ]
            if not lookups:
                continue
            for rec in list(self.org.live(child)):
                changes = {name: master["Id"] for name in lookups if rec.get(name) in gone}
                if changes:
                    self.org.system_update(child, rec, changes, self.user_id)
                    moved.append(rec["Id"])
        return moved

    # --- lead conversion -------------------------------------------------------------------------

    def convert(
        self,
        lead_id: str,
        contact_id: str | None = None,
        account_id: str | None = None,
        converted_status: str | None = None,
    ) -> Body:
        """``convertLead()`` without an opportunity.

        Without *contact_id*: a Contact is created (and, without *account_id*, an Account named after
        ``Company``) from the Lead's mapped fields. With *contact_id*: only the Contact's empty fields
        are filled (an existing Account's too); the Account defaults to the Contact's. The Lead stays,
        read-only from now on: ``IsConverted``, ``ConvertedDate`` (today, UTC), ``ConvertedContactId``,
        ``ConvertedAccountId`` and the converted ``Status`` are set; ``ConvertedOpportunityId`` stays
        null. Duplicate rules do not stop a conversion.

        :raises LifecycleRefused: a missing, deleted or already converted Lead, a status that is not a
            converted status, a missing or deleted Contact/Account, a Contact of another Account,
            or a created record failing validation (e.g. a field an admin made required).
        """
        org = self.org
        lead_obj, contact_obj, account_obj = org.schema["lead"], org.schema["contact"], org.schema["account"]
        try:
            lead = self._live(lead_obj, lead_id)
            if lead.get("IsConverted"):
                raise converted_lead()
            status = converted_status or CONVERTED_STATUSES[0]
            if status not in CONVERTED_STATUSES:
                raise SalesforceError(
                    400,
                    "INVALID_STATUS",
                    f"invalid convertedStatus: {status} (converted statuses: {', '.join(CONVERTED_STATUSES)})",
                    ["Status"],
                )
            contact = self._live(contact_obj, contact_id) if contact_id else None
            account = self._live(account_obj, account_id) if account_id else None
            if contact is not None and contact.get("AccountId"):
                if account is None:
                    account = org.lookup(contact["AccountId"])  # None if that Account is in the bin
                elif contact["AccountId"] != account["Id"]:
                    raise SalesforceError(
                        400,
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"Contact {contact['Id']} belongs to Account {contact['AccountId']}, "
                        f"not to {account['Id']}",
                        ["contactId"],
                    )
            with org.transaction() as undo:
                try:
                    account = self._convert_into(account_obj, account, _mapped(lead, ACCOUNT_MAPPING), lead)
                    contact_values = _mapped(lead, CONTACT_MAPPING) | _same_named_custom(
                        lead_obj, contact_obj, lead
                    )
                    contact_values["AccountId"] = account["Id"]
                    contact = self._convert_into(contact_obj, contact, contact_values, lead)
                    org.system_update(
                        lead_obj,
                        lead,
                        {
                            "IsConverted": True,
                            "ConvertedDate": now().date(),
                            "ConvertedContactId": contact["Id"],
                            "ConvertedAccountId": account["Id"],
                            "Status": status,
                        },
                        self.user_id,
                    )
                    self._move_activities(lead, contact, account)
                except SalesforceError:
                    org.rollback(undo)
                    raise
        except SalesforceError as exc:
            raise LifecycleRefused(
                exc.status,
                {
                    "detail": _refusal("convert", str(lead_id), exc),
                    "leadId": lead_id,
                    "accountId": None,
                    "contactId": None,
                    "opportunityId": None,
                    "success": False,
                    "errors": [exc.record_error()],
                },
            ) from None
        return {
            "leadId": lead["Id"],
            "accountId": account["Id"],
            "contactId": contact["Id"],
            "opportunityId": None,
            "success": True,
            "errors": [],
        }

    def _move_activities(self, lead: Record, contact: Record, account: Record) -> None:
        """The Lead's Tasks (open and closed) move to the Contact (``WhoId``) and, when they were not
        related to anything, to the Account (``WhatId``; a real org uses the Opportunity when the
        conversion makes one). Their stamps move."""
        task_obj = self.org.schema["task"]
        for task in list(self.org.live(task_obj)):
            if task.get("WhoId") == lead["Id"]:
                moved = {"WhoId": contact["Id"]}
                if task.get("WhatId") is None:
                    moved["WhatId"] = account["Id"]
                self.org.system_update(task_obj, task, moved, self.user_id)

    def _convert_into(self, obj: ObjectDef, target: Record | None, values: Body, lead: Record) -> Record:
        """Create the record from *values* (owned by the Lead's owner), or fill the target's empty fields."""
        if target is None:
            owner = {"OwnerId": lead["OwnerId"]} if lead.get("OwnerId") else {}
            return self.org.create(obj, values | owner, self.user_id, allow_duplicates=True)
        fill = {name: value for name, value in values.items() if _empty(target.get(name))}
        return self.org.update(obj, target["Id"], fill, self.user_id)

    # --- shared ----------------------------------------------------------------------------------

    def _live(self, obj: ObjectDef, record_id: str) -> Record:
        """A live record of *obj*, or the error naming why not."""
        if ids.looks_like_id(record_id) and ids.to18(record_id)[:3] != obj.key_prefix:
            raise SalesforceError(
                400, "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {record_id}", []
            )
        _obj, rec = self.org.find_any(record_id)
        if rec.get("IsDeleted"):
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return rec


def _rolled_back(record_id: str) -> Body:
    return {
        "id": record_id,
        "success": False,
        "errors": [
            {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": ROLLED_BACK_MESSAGE, "fields": []}
        ],
    }


def _mapped(lead: Record, mapping: dict[str, str]) -> Body:
    return {target: lead[source] for source, target in mapping.items() if lead.get(source) is not None}


def _same_named_custom(lead_obj: ObjectDef, target: ObjectDef, lead: Record) -> Body:
    """Custom fields the Lead and *target* both have, with the same name and type (e.g. ``SMS_Opt_Out__c``)."""
    out: Body = {}
    for fdef in lead_obj.field_list:
        other = target.get_field(fdef.name)
        if (
            fdef.custom
            and fdef.compute is None
            and other is not None
            and other.compute is None
            and other.type == fdef.type
            and other.createable
            and other.updateable
            and lead.get(fdef.name) is not None
        ):
            out[other.name] = lead[fdef.name]
    return out
