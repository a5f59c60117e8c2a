"""The org's data: records of every object, list views, duplicate rules, and the write rules around them.

Every write goes through :class:`OrgStore` so that bookkeeping (ids, audit fields, strictly increasing
``SystemModstamp``, recycle bin, delete log) and cross-record rules (references, unique fields,
duplicate rules, duplicate permission set assignments) are the same for REST, sObject Collections,
Bulk API 2.0 and the admin load. :meth:`OrgStore.transaction` gives sObject Collections their
``allOrNone`` rollback.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from emulators.common import credentials
from emulators.salesforce import ids
from emulators.salesforce.describe import CASCADE_DELETE, ObjectDef, standard_objects
from emulators.salesforce.errors import SalesforceError, converted_lead, not_found
from emulators.salesforce.fields import FieldDef, field_from_definition
from emulators.salesforce.listviews import ListViewSpec, build_list_view
from emulators.salesforce.validation import prepare_write, required_missing
from emulators.salesforce.values import coerce, now, to_json

log = logging.getLogger(__name__)

Record = dict[str, Any]

#: the order an admin load applies its keys in (references point backwards in this list)
LOAD_ORDER = [
    "FieldDefinition",
    "DuplicateRule",
    "User",
    "PermissionSet",
    "Account",
    "Contact",
    "Lead",
    "Task",
    "PermissionSetAssignment",
    "ListView",
]
SEEDED_PERMISSION_SETS = [("Heymarket_User", "Heymarket User"), ("Heymarket_Admin", "Heymarket Admin")]
#: internal mark on a record the recycle bin holds because its parent was deleted (never rendered)
_DELETED_WITH = "_deleted_with"
#: text types whose only rule is the length (email addresses and ids need the full check)
_PLAIN_TEXT = {"string", "phone", "textarea", "picklist", "url", "combobox", "multipicklist"}


@dataclass
class DuplicateRule:
    """Matches a new record against live ones on all *fields* (case-insensitive, non-null)."""

    sobject: str
    fields: list[str]
    name: str = "Standard_Rule"


@dataclass
class Deletion:
    object: str
    id: str
    when: dt.datetime


class Clock:
    """Millisecond timestamps that never repeat or go backwards, so ``SystemModstamp`` orders writes."""

    def __init__(self) -> None:
        self._last = now() - dt.timedelta(milliseconds=1)

    def latest(self) -> dt.datetime:
        """The emulator's "now": wall-clock time, or the last stamp if fast writes ran ahead of it."""
        return max(now(), self._last)

    def next(self) -> dt.datetime:
        stamp = now()
        if stamp <= self._last:
            stamp = self._last + dt.timedelta(milliseconds=1)
        self._last = stamp
        return stamp


@dataclass
class _Undo:
    steps: list[Callable[[], None]] = field(default_factory=list)


class OrgStore:
    """All records of the emulated org."""

    def __init__(self) -> None:
        self.id_factory = ids.IdFactory()
        #: kept across resets so that stamps never go backwards while the process lives
        self.clock = Clock()
        self.org_id = ids.to18("00D5g000004HmEm")
        #: stays the same across resets so that live sessions keep working
        self.integration_user_id = self.id_factory.new("005")
        self.profile_id = ids.to18("00e5g000000HmSy")
        self.reset()

    # --- lifecycle -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to a fresh org: the integration user, the Heymarket permission sets, default list views."""
        self.schema: dict[str, ObjectDef] = standard_objects()
        self.records: dict[str, dict[str, Record]] = {o.name: {} for o in self.schema.values()}
        self.prefixes = {o.key_prefix: o.name for o in self.schema.values()}
        self.list_views: dict[str, ListViewSpec] = {}
        self.duplicate_rules: list[DuplicateRule] = []
        self.deletions: list[Deletion] = []
        self.created_at = self.clock.next()
        self._undo: _Undo | None = None
        self._forget_keys()
        self._seed()

    def _seed(self) -> None:
        stamp = self.clock.next()
        user = {
            "Id": self.integration_user_id,
            "Username": credentials.SALESFORCE_USERNAME,
            "FirstName": "Integration",
            "LastName": "User",
            "Email": credentials.SALESFORCE_USERNAME,
            "Alias": "integ",
            "IsActive": True,
            "TimeZoneSidKey": "America/Los_Angeles",
            "LocaleSidKey": "en_US",
            "EmailEncodingKey": "UTF-8",
            "LanguageLocaleKey": "en_US",
            "ProfileId": self.profile_id,
        }
        self._load_records("User", [user], stamp)
        self._load_records(
            "PermissionSet",
            [
                {"Name": name, "Label": label, "Description": f"{label} access to the Heymarket integration"}
                for name, label in SEEDED_PERMISSION_SETS
            ]
            + [
                {
                    "Name": "X00e5g000000HmSy",
                    "Label": "00e5g000000HmSy",
                    "IsOwnedByProfile": True,
                    "IsCustom": False,
                    "ProfileId": self.profile_id,
                    "Type": "Profile",
                }
            ],
            stamp,
        )
        self.load_list_views(
            [
                {
                    "SobjectType": "Contact",
                    "DeveloperName": "AllContacts",
                    "Label": "All Contacts",
                    "WhereClause": "",
                },
                {
                    "SobjectType": "Lead",
                    "DeveloperName": "AllOpenLeads",
                    "Label": "All Open Leads",
                    "WhereClause": "IsConverted = false",
                },
            ],
            stamp,
        )

    # --- lookups ---------------------------------------------------------------------------------

    def object_def(self, name: str) -> ObjectDef | None:
        return self.schema.get(name.lower())

    def require_object(self, name: str) -> ObjectDef:
        obj = self.object_def(name)
        if obj is None:
            raise not_found()
        return obj

    def lookup(self, record_id: str | None) -> Record | None:
        """The live record with *record_id*, whatever its object (relationship fields, references)."""
        if not record_id:
            return None
        obj_name = self.prefixes.get(record_id[:3])
        if obj_name is None:
            return None
        rec = self.records[obj_name].get(record_id)
        if rec is None or rec.get("IsDeleted"):
            return None
        return rec

    def live(self, obj: ObjectDef, include_deleted: bool = False) -> Iterable[Record]:
        recs = self.records[obj.name].values()
        if include_deleted or not obj.soft_delete:
            return recs
        return (r for r in recs if not r.get("IsDeleted"))

    def find(self, obj: ObjectDef, record_id: str) -> Record:
        """The record behind a REST ``sobjects/{Obj}/{id}`` path, or the error a real org gives.

        :raises SalesforceError: 404 ``NOT_FOUND``, 404 ``ENTITY_IS_DELETED``, 400 ``MALFORMED_ID``.
        """
        if not ids.looks_like_id(record_id):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {record_id}")
        rid = ids.to18(record_id)
        if rid[:3] != obj.key_prefix:
            raise SalesforceError(
                400, "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {record_id}"
            )
        rec = self.records[obj.name].get(rid)
        if rec is None:
            raise not_found()
        if rec.get("IsDeleted"):
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return rec

    # --- transactions ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_Undo]:
        """Collect undo steps for every write inside; call :meth:`rollback` to take them all back."""
        outer = self._undo
        self._undo = _Undo()
        try:
            yield self._undo
        finally:
            self._undo = outer

    def rollback(self, undo: _Undo) -> None:
        for step in reversed(undo.steps):
            step()
        undo.steps.clear()
        self._generation += 1  # the undo steps changed records behind the key index's back

    def _remember(self, step: Callable[[], None]) -> None:
        """Every write calls this (its undo step): it is also what tells the key index the records changed."""
        self._generation += 1
        if self._undo is not None:
            self._undo.steps.append(step)

    # --- unique and external id lookups ---------------------------------------------------------------

    def _forget_keys(self) -> None:
        """Drop the key index (reset, load, schema changes: writes that bypass :meth:`_remember`)."""
        self._generation = getattr(self, "_generation", 0) + 1
        #: (object, field) -> (generation it is valid for, match key -> ids of records that had that key)
        self._key_index: dict[tuple[str, str], tuple[int, dict[Any, list[str]]]] = {}

    def live_with_key(self, obj: ObjectDef, fdef: FieldDef, key: Any) -> list[Record]:
        """The live records whose *fdef* value has match key *key*, in record order.

        Emulator choice for speed (not a behaviour): an index per unique / external id field, so an upsert
        or a uniqueness check costs O(1), not a scan of the object (1,000,000 Tasks upserted on their
        external id took hours). It is rebuilt whenever a write other than :meth:`create` / :meth:`update`
        happened since (every write goes through :meth:`_remember`); creates and updates add their new
        keys to it. Its hits are verified against the records, so stale entries never match.
        """
        entry = self._key_index.get((obj.name, fdef.name))
        if entry is None or entry[0] != self._generation:
            index: dict[Any, list[str]] = {}
            for rec in self.records[obj.name].values():
                value = rec.get(fdef.name)
                if value is not None:
                    index.setdefault(fdef.match_key(value), []).append(rec["Id"])
            entry = self._key_index[(obj.name, fdef.name)] = (self._generation, index)
        table = self.records[obj.name]
        out = []
        for rid in entry[1].get(key, ()):
            rec = table.get(rid)
            value = rec.get(fdef.name) if rec is not None else None
            if value is not None and not (obj.soft_delete and rec.get("IsDeleted")) and fdef.match_key(value) == key:
                out.append(rec)
        return out

    def _index_write(self, obj: ObjectDef, rec: Record, valid_before: dict[str, bool]) -> None:
        """After a create or update: add the record's keys to the indexes that were current before it."""
        for name, was_valid in valid_before.items():
            entry = self._key_index.get((obj.name, name))
            if entry is None:
                continue
            if not was_valid:
                del self._key_index[(obj.name, name)]
                continue
            fdef = obj.get_field(name)
            value = rec.get(name)
            if fdef is not None and value is not None:
                ids_ = entry[1].setdefault(fdef.match_key(value), [])
                if rec["Id"] not in ids_:
                    ids_.append(rec["Id"])
            self._key_index[(obj.name, name)] = (self._generation, entry[1])

    def _indexes_current(self, obj: ObjectDef) -> dict[str, bool]:
        return {name: entry[0] == self._generation for (obj_name, name), entry in self._key_index.items()
                if obj_name == obj.name}

    # --- writes ----------------------------------------------------------------------------------

    def create(
        self,
        obj: ObjectDef,
        data: dict[str, Any],
        user_id: str,
        *,
        allow_duplicates: bool = False,
        from_csv: bool = False,
    ) -> Record:
        """Insert one record (REST, collections, bulk) after all the checks a real org makes.

        :param allow_duplicates: the client sent ``Sforce-Duplicate-Rule-Header: allowSave=true``.
        :raises SalesforceError: validation failures.
        """
        if not obj.createable:
            raise SalesforceError(
                400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support insert"
            )
        values = prepare_write(obj, data, creating=True, from_csv=from_csv)
        rec = self._with_defaults(obj, values, user_id)
        self._check_references(obj, values)
        if obj.check is not None:
            obj.check(rec, None)
        self.check_unique(obj, rec, None)
        if not allow_duplicates:
            self._check_duplicate_rules(obj, rec)
        rec["Id"] = self.id_factory.new(obj.key_prefix)
        stamp = self.clock.next()
        if obj.derive is not None:
            obj.derive(rec, None, stamp)
        self._stamp(obj, rec, user_id, stamp, created=True)
        current = self._indexes_current(obj)
        self.records[obj.name][rec["Id"]] = rec
        self._remember(lambda: self.records[obj.name].pop(rec["Id"], None))
        self._index_write(obj, rec, current)
        return rec

    def update(
        self, obj: ObjectDef, record_id: str, data: dict[str, Any], user_id: str, *, from_csv: bool = False
    ) -> Record:
        """Change fields of a live record.

        A converted Lead is read-only: once the values pass the field checks, its update fails with
        ``CANNOT_UPDATE_CONVERTED_LEAD`` (REST, collections, Bulk 2.0 and 1.0, upserts all come here).

        :raises SalesforceError: NOT_FOUND, ENTITY_IS_DELETED, MALFORMED_ID, CANNOT_UPDATE_CONVERTED_LEAD
            and validation failures.
        """
        rec = self.find(obj, record_id)
        if not obj.updateable:
            raise SalesforceError(
                400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support update"
            )
        values = prepare_write(obj, data, creating=False, from_csv=from_csv)
        if rec.get("IsConverted") and obj.name == "Lead":
            raise converted_lead()
        self._check_references(obj, values)
        merged = rec | values
        if obj.check is not None:
            obj.check(merged, rec)
        self.check_unique(obj, merged, rec["Id"])
        current = self._indexes_current(obj)
        before = dict(rec)
        rec.update(values)
        stamp = self.clock.next()
        if obj.derive is not None:
            obj.derive(rec, before, stamp)
        self._stamp(obj, rec, user_id, stamp, created=False)
        self._remember(lambda: (rec.clear(), rec.update(before)))
        self._index_write(obj, rec, current)
        return rec

    def delete(
        self, obj: ObjectDef | None, record_id: str, user_id: str, *, master_record_id: str | None = None
    ) -> Record:
        """Delete a record: to the recycle bin (``IsDeleted``) for data objects, for good for setup objects.

        Deleting a Contact or Lead also sends its Tasks (``WhoId``) to the recycle bin; they come back
        with it on undelete and go with it on purge. A merge's victims keep their Tasks (the merge
        moves them to the master).

        :param obj: the object named in the path, or None to find it from the id (collections).
        :param master_record_id: a merge deletes its victims with ``MasterRecordId`` = the master.
        """
        if obj is None:
            if not ids.looks_like_id(record_id):
                raise SalesforceError(400, "MALFORMED_ID", f"malformed id {record_id}")
            obj_name = self.prefixes.get(ids.to18(record_id)[:3])
            if obj_name is None:
                raise SalesforceError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            obj = self.schema[obj_name.lower()]
        rec = self.find(obj, record_id)
        if not obj.deletable:
            raise SalesforceError(
                400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support delete"
            )
        stamp = self.clock.next()
        deletion = Deletion(obj.name, rec["Id"], stamp)
        self.deletions.append(deletion)
        if obj.soft_delete:
            before = dict(rec)
            rec["IsDeleted"] = True
            if master_record_id is not None:
                rec["MasterRecordId"] = master_record_id
            self._stamp(obj, rec, user_id, stamp, created=False)
            self._remember(lambda: (rec.clear(), rec.update(before)))
            if master_record_id is None:
                for child_obj, child in self.cascade_children(obj, rec["Id"]):
                    self.delete(child_obj, child["Id"], user_id)
                    child[_DELETED_WITH] = rec["Id"]
        else:
            del self.records[obj.name][rec["Id"]]
            self._remember(lambda: self.records[obj.name].__setitem__(rec["Id"], rec))
        self._remember(lambda: self.deletions.remove(deletion))
        return rec

    def hard_delete(self, obj: ObjectDef, record_id: str, user_id: str) -> Record:
        """Bulk ``hardDelete``: gone at once, recycle bin skipped (still in the delete log); a Contact's or
        Lead's Tasks go with it."""
        rec = self.find(obj, record_id)
        for child_obj, child in self.cascade_children(obj, rec["Id"]):
            self.hard_delete(child_obj, child["Id"], user_id)
        del self.records[obj.name][rec["Id"]]
        deletion = Deletion(obj.name, rec["Id"], self.clock.next())
        self.deletions.append(deletion)
        self._remember(
            lambda: (self.records[obj.name].__setitem__(rec["Id"], rec), self.deletions.remove(deletion))
        )
        return rec

    def find_any(self, record_id: str) -> tuple[ObjectDef, Record]:
        """The record behind any id, live, in the recycle bin or not soft-deletable (admin calls).

        :raises SalesforceError: 400 ``MALFORMED_ID``; 404 ``INVALID_CROSS_REFERENCE_KEY`` for an id
            no record has (never existed, or purged).
        """
        if not ids.looks_like_id(record_id):
            raise SalesforceError(400, "MALFORMED_ID", f"malformed id {record_id}", [])
        rid = ids.to18(str(record_id))
        obj_name = self.prefixes.get(rid[:3])
        rec = self.records[obj_name].get(rid) if obj_name else None
        if obj_name is None or rec is None:
            raise SalesforceError(404, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        return self.schema[obj_name.lower()], rec

    def system_update(self, obj: ObjectDef, rec: Record, values: dict[str, Any], user_id: str) -> None:
        """A write the platform makes itself (undelete, conversion, merge reparenting): no access checks, new
        stamps, undone by :meth:`rollback` like any other write."""
        before = dict(rec)
        rec.update(values)
        self._stamp(obj, rec, user_id, self.clock.next(), created=False)
        self._remember(lambda: (rec.clear(), rec.update(before)))

    def purge(self, obj: ObjectDef, rec: Record) -> None:
        """Empty one record from the recycle bin: gone from ``queryAll``; its delete-log entry stays.
        The Tasks that went to the bin with it are emptied too."""
        del self.records[obj.name][rec["Id"]]
        self._remember(lambda: self.records[obj.name].__setitem__(rec["Id"], rec))
        for child_obj, child in self.cascaded_with(rec["Id"]):
            self.purge(child_obj, child)

    def cascade_children(self, obj: ObjectDef, parent_id: str) -> list[tuple[ObjectDef, Record]]:
        """Live records a delete of *parent_id* takes along (``CASCADE_DELETE`` relationships)."""
        out = []
        for child_name, field_name in CASCADE_DELETE:
            child_obj = self.schema[child_name.lower()]
            fdef = child_obj.get_field(field_name)
            if fdef is None or obj.name not in fdef.referenceTo:
                continue
            out += [(child_obj, r) for r in self.live(child_obj) if r.get(fdef.name) == parent_id]
        return out

    def restore_cascaded(self, parent_id: str, user_id: str) -> None:
        """Undelete: the records that went to the recycle bin with *parent_id* come back with it.

        :raises SalesforceError: ``DUPLICATE_VALUE`` when a live record took one of their unique values
            (e.g. a ``Heymarket_Message_Id__c``) meanwhile; the caller rolls the undelete back.
        """
        for child_obj, child in self.cascaded_with(parent_id):
            self.check_unique(child_obj, child, child["Id"])
            self.system_update(child_obj, child, {"IsDeleted": False, _DELETED_WITH: None}, user_id)

    def cascaded_with(self, parent_id: str) -> list[tuple[ObjectDef, Record]]:
        """Records in the recycle bin because *parent_id* was deleted."""
        out = []
        for child_name, _field in CASCADE_DELETE:
            child_obj = self.schema[child_name.lower()]
            out += [
                (child_obj, r)
                for r in self.records[child_obj.name].values()
                if r.get("IsDeleted") and r.get(_DELETED_WITH) == parent_id
            ]
        return out

    def upsert(
        self,
        obj: ObjectDef,
        ext_field: str,
        value: Any,
        data: dict[str, Any],
        user_id: str,
        *,
        from_csv: bool = False,
    ) -> tuple[Record, bool]:
        """Create or update by an external id field; returns (record, created).

        :raises SalesforceError: NOT_FOUND for a field that is not an external id; 300
            ``DUPLICATE_EXTERNAL_ID`` (``extra["matches"]``: their ids) when several live records match.
        """
        fdef = obj.get_field(ext_field)
        if fdef is None or not (fdef.externalId or fdef.idLookup or fdef.name == "Id"):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {ext_field}")
        if fdef.name == "Id":
            if value in (None, ""):
                return self.create(obj, data, user_id, from_csv=from_csv), True
            rec = self.find(obj, str(value))
            return self.update(obj, rec["Id"], data, user_id, from_csv=from_csv), False
        wanted = coerce(fdef, value, from_csv=True)
        if wanted is None:
            raise SalesforceError(400, "MISSING_ARGUMENT", f"{fdef.name} not specified", [fdef.name])
        key = fdef.match_key(wanted)
        matches = self.live_with_key(obj, fdef, key)
        if len(matches) > 1:
            found = [m["Id"] for m in matches]
            raise SalesforceError(
                300,
                "DUPLICATE_EXTERNAL_ID",
                f"{fdef.label}: more than one record found for external id field: [{', '.join(found)}]",
                [fdef.name],
                context={"matches": found},
            )
        body = {k: v for k, v in data.items() if k.lower() != fdef.name.lower()}
        if matches:
            return self.update(obj, matches[0]["Id"], body, user_id, from_csv=from_csv), False
        return self.create(obj, {**body, fdef.name: value}, user_id, from_csv=from_csv), True

    # --- write helpers ---------------------------------------------------------------------------

    def _with_defaults(self, obj: ObjectDef, values: dict[str, Any], user_id: str) -> Record:
        rec: Record = {}
        for fdef in obj.field_list:
            if fdef.compute is not None or fdef.name == "Id":
                continue
            if values.get(fdef.name) is not None:
                rec[fdef.name] = values[fdef.name]
            elif fdef.type == "boolean":
                rec[fdef.name] = bool(fdef.defaultValue)
            elif fdef.defaultedOnCreate and fdef.defaultValue is not None:
                rec[fdef.name] = fdef.defaultValue
            elif fdef.name == "OwnerId":
                rec[fdef.name] = user_id
            elif fdef.name in values:
                rec[fdef.name] = None
        return rec

    def _stamp(self, obj: ObjectDef, rec: Record, user_id: str, stamp: dt.datetime, *, created: bool) -> None:
        fields = obj.fields
        if created:
            if "createddate" in fields:
                rec["CreatedDate"] = stamp
            if "createdbyid" in fields:
                rec["CreatedById"] = user_id
        if "lastmodifieddate" in fields:
            rec["LastModifiedDate"] = stamp
        if "lastmodifiedbyid" in fields:
            rec["LastModifiedById"] = user_id
        rec["SystemModstamp"] = stamp

    def _check_references(self, obj: ObjectDef, values: dict[str, Any]) -> None:
        """Reference fields written: the id's object must be one the field points at
        (``FIELD_INTEGRITY_EXCEPTION``), the record must be live (``INVALID_CROSS_REFERENCE_KEY``), an
        owner active (``INACTIVE_OWNER_OR_USER``), a Lead not converted (``CANNOT_UPDATE_CONVERTED_LEAD``).
        Fields pointing only at objects the emulator does not have (``Profile``...) are not checked."""
        for name, value in values.items():
            fdef = obj.fields[name.lower()]
            if fdef.type != "reference" or value is None:
                continue
            emulated = [t for t in fdef.referenceTo if t.lower() in self.schema]
            if not emulated:
                continue
            target_type = self.prefixes.get(value[:3])
            if target_type is None and len(emulated) < len(fdef.referenceTo):
                # an id of an object the emulator lacks (e.g. an Opportunity as WhatId): no such record here
                raise SalesforceError(
                    400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fdef.name]
                )
            if target_type not in fdef.referenceTo:
                raise SalesforceError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{fdef.label}: id value of incorrect type: {value}",
                    [fdef.name],
                )
            target = self.lookup(value)
            if target is None:
                raise SalesforceError(
                    400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fdef.name]
                )
            if name == "OwnerId" and target.get("IsActive") is False:
                raise SalesforceError(
                    400,
                    "INACTIVE_OWNER_OR_USER",
                    f"operation performed with inactive user [{value}] as owner of {obj.name.lower()}",
                    [fdef.name],
                )
            if target_type == "Lead" and target.get("IsConverted"):
                raise converted_lead()

    def check_unique(self, obj: ObjectDef, rec: Record, own_id: str | None) -> None:
        """Unique fields of *rec* against every live record but *own_id* (``DUPLICATE_VALUE``)."""
        if obj.name == "PermissionSetAssignment":
            pair = (rec.get("AssigneeId"), rec.get("PermissionSetId"))
            for other in self.records[obj.name].values():
                if other["Id"] != own_id and (other.get("AssigneeId"), other.get("PermissionSetId")) == pair:
                    raise SalesforceError(400, "DUPLICATE_VALUE", "Duplicate PermissionSetAssignment", [])
        for fdef in obj.field_list:
            if not fdef.unique or rec.get(fdef.name) is None:
                continue
            key = fdef.match_key(rec[fdef.name])
            for other in self.live_with_key(obj, fdef, key):
                if other["Id"] != own_id:
                    if obj.name == "User" and fdef.name == "Username":
                        raise SalesforceError(
                            400,
                            "DUPLICATE_USERNAME",
                            "Duplicate Username.<br>The username already exists in this or "
                            "another Salesforce organization. Usernames must be unique across "
                            "all Salesforce organizations. To resolve, use a different "
                            "username (it doesn't need to match the user's email address). ",
                            ["Username"],
                        )
                    raise SalesforceError(
                        400,
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {fdef.name} duplicates value on record with "
                        f"id: {other['Id']}",
                        [fdef.name],
                    )

    def _check_duplicate_rules(self, obj: ObjectDef, rec: Record) -> None:
        for rule in self.duplicate_rules:
            if rule.sobject.lower() != obj.name.lower():
                continue
            wanted = [rec.get(f) for f in rule.fields]
            if any(v is None for v in wanted):
                continue
            keys = [v.lower() if isinstance(v, str) else v for v in wanted]
            matches = [
                other
                for other in self.live(obj)
                if all(
                    (o.lower() if isinstance(o, str) else o) == k
                    for o, k in zip((other.get(f) for f in rule.fields), keys, strict=True)
                )
            ]
            if matches:
                raise SalesforceError(
                    400,
                    "DUPLICATES_DETECTED",
                    "Use one of these records?",
                    [],
                    extra={
                        "duplicateResult": {
                            "allowSave": False,
                            "duplicateRule": rule.name,
                            "duplicateRuleEntityType": obj.name,
                            "errorMessage": "You're creating a duplicate record. We recommend you use an "
                            "existing record instead.",
                            "matchResults": [
                                {
                                    "entityType": obj.name,
                                    "errors": [],
                                    "matchEngine": "ExactMatchEngine",
                                    "matchRecords": [
                                        {
                                            "additionalInformation": [],
                                            "fieldDiffs": [],
                                            "matchConfidence": 100.0,
                                            "record": {"attributes": {"type": obj.name}, "Id": m["Id"]},
                                        }
                                        for m in matches[:20]
                                    ],
                                    "rule": f"{rule.name}_Matching",
                                    "size": len(matches),
                                    "success": True,
                                }
                            ],
                        }
                    },
                )

    # --- admin load / dump -----------------------------------------------------------------------

    def load(self, payload: dict[str, Any]) -> dict[str, int]:
        """Add records and configuration (the ``POST /__admin/load`` body); returns counts per key.

        :raises ValueError: unknown keys, unknown fields, values of the wrong type, missing standard
            required fields, invalid list view filters.
        """
        unknown = set(payload) - set(LOAD_ORDER)
        if unknown:
            raise ValueError(f"unknown load keys {sorted(unknown)}; allowed: {LOAD_ORDER}")
        saved = self._snapshot()
        self._forget_keys()
        try:
            return self._load(payload)
        except Exception:
            self._restore(saved)  # a load is all or nothing
            raise
        finally:
            self._forget_keys()

    def _snapshot(self) -> tuple[Any, ...]:
        return (
            copy.deepcopy(self.schema),
            {name: dict(table) for name, table in self.records.items()},
            dict(self.list_views),
            list(self.duplicate_rules),
            list(self.deletions),
        )

    def _restore(self, saved: tuple[Any, ...]) -> None:
        self.schema, self.records, self.list_views, self.duplicate_rules, self.deletions = saved

    def _load(self, payload: dict[str, Any]) -> dict[str, int]:
        stamp = self.clock.next()
        counts: dict[str, int] = {}
        for key in LOAD_ORDER:
            if key not in payload:
                continue
            items = payload[key]
            if not isinstance(items, list):
                raise ValueError(f"{key} must be a list of objects")
            if key == "FieldDefinition":
                self.load_field_definitions(items)
            elif key == "DuplicateRule":
                self.load_duplicate_rules(items)
            elif key == "ListView":
                self.load_list_views(items, stamp)
            else:
                self._load_records(key, items, stamp)
            counts[key] = len(items)
        log.info("admin load: %s", counts)
        return counts

    def load_field_definitions(self, items: list[dict[str, Any]]) -> None:
        for spec in items:
            if not isinstance(spec, dict):
                raise ValueError(f"FieldDefinition entries must be objects, not {spec!r}")
            spec = dict(spec)
            obj = self.object_def(str(spec.pop("sobject", "")))
            if obj is None:
                raise ValueError(
                    f"FieldDefinition: unknown sobject in {spec}; known: "
                    f"{sorted(o.name for o in self.schema.values())}"
                )
            if "deleted" in spec:
                if spec.pop("deleted") is not True or set(spec) != {"name"}:
                    raise ValueError(
                        'FieldDefinition: a deletion is {"sobject": ..., "name": ..., "deleted": true} '
                        f"and nothing else, not {spec}"
                    )
                self._remove_field(obj, str(spec["name"]))
                continue
            obj.put_field(field_from_definition(spec, obj.get_field(str(spec.get("name", "")))))

    def _remove_field(self, obj: ObjectDef, name: str) -> None:
        """Delete a custom field, as an admin does in Setup. Stored values stay out of sight (a field
        defined again under the same name shows them again, like an undeleted field in a real org)."""
        fdef = obj.get_field(name)
        if fdef is None:
            raise ValueError(f"FieldDefinition: no field {name!r} on {obj.name} to delete")
        if not fdef.custom:
            raise ValueError(
                f"FieldDefinition: {obj.name}.{fdef.name} is a standard field; only custom fields can be deleted"
            )
        for rule in self.duplicate_rules:
            if rule.sobject == obj.name and fdef.name in rule.fields:
                raise ValueError(f"FieldDefinition: duplicate rule {rule.name} uses {obj.name}.{fdef.name}")
        for view in self.list_views.values():
            used = " ".join([view.where_text, *view.columns]).lower()
            if view.sobject == obj.name and fdef.name.lower() in used:
                raise ValueError(
                    f"FieldDefinition: list view {view.developer_name} uses {obj.name}.{fdef.name}"
                )
        obj.remove_field(fdef.name)

    def load_duplicate_rules(self, items: list[dict[str, Any]]) -> None:
        for spec in items:
            obj = self.object_def(str(spec.get("sobject", "")))
            fields = spec.get("fields")
            if obj is None or not isinstance(fields, list) or not fields:
                raise ValueError(
                    f"DuplicateRule needs a known 'sobject' and a non-empty 'fields' list: {spec}"
                )
            canonical = []
            for name in fields:
                fdef = obj.get_field(name)
                if fdef is None:
                    raise ValueError(f"DuplicateRule: no field {name!r} on {obj.name}")
                canonical.append(fdef.name)
            self.duplicate_rules.append(
                DuplicateRule(obj.name, canonical, spec.get("name", f"Standard_{obj.name}_Duplicate_Rule"))
            )

    def load_list_views(self, items: list[dict[str, Any]], stamp: dt.datetime) -> None:
        for spec in items:
            lv_id, record, view = build_list_view(self, spec, stamp)
            self.records["ListView"][lv_id] = record
            self.list_views[lv_id] = view

    def _load_records(self, obj_name: str, items: list[dict[str, Any]], stamp: dt.datetime) -> None:
        obj = self.schema[obj_name.lower()]
        table = self.records[obj.name]
        required = [f for f in obj.field_list if f.required_on_create and not f.admin_defined]
        defaults = self._load_defaults(obj)
        fields_by_key: dict[str, FieldDef] = {}
        for index, data in enumerate(items):
            if not isinstance(data, dict):
                raise ValueError(f"{obj.name}[{index}] must be an object of API field names")
            rec = dict(defaults)
            for key, value in data.items():
                if key == "attributes":
                    continue
                fdef = fields_by_key.get(key)
                if fdef is None:
                    fdef = fields_by_key[key] = self._loadable_field(obj, key, index)
                # fast path for the common case (plain text that fits); everything else is fully checked
                if type(value) is str and fdef.type in _PLAIN_TEXT and 0 < len(value) <= fdef.length:
                    rec[fdef.name] = value
                    continue
                try:
                    rec[fdef.name] = coerce(fdef, value, from_csv=True)
                except SalesforceError as exc:
                    raise ValueError(f"{obj.name}[{index}].{fdef.name}: {exc.message}") from None
            missing = [f.name for f in required if rec.get(f.name) is None]
            if missing:
                raise ValueError(f"{obj.name}[{index}]: {required_missing(missing).message}")
            if rec.get("Id"):
                if rec["Id"][:3] != obj.key_prefix:
                    raise ValueError(
                        f"{obj.name}[{index}]: Id {rec['Id']} does not start with {obj.key_prefix}"
                    )
            else:
                rec["Id"] = self.id_factory.new(obj.key_prefix)
            created = stamp
            if "createddate" in obj.fields:
                created = rec["CreatedDate"] = rec.get("CreatedDate") or stamp
            modified = created
            if "lastmodifieddate" in obj.fields:
                modified = rec["LastModifiedDate"] = rec.get("LastModifiedDate") or created
            rec["SystemModstamp"] = rec.get("SystemModstamp") or modified
            if obj.derive is not None:
                obj.derive(rec, None, modified)
            if rec.get("IsDeleted"):
                self.deletions.append(Deletion(obj.name, rec["Id"], rec["SystemModstamp"]))
            table[rec["Id"]] = rec
        self._check_loaded_unique(obj)

    def _check_loaded_unique(self, obj: ObjectDef) -> None:
        """A real org never holds two records with the same unique value; neither may a load."""
        table = self.records[obj.name]
        if obj.name == "PermissionSetAssignment":
            pairs = [(r.get("AssigneeId"), r.get("PermissionSetId")) for r in table.values()]
            if len(pairs) != len(set(pairs)):
                raise ValueError("PermissionSetAssignment: the same AssigneeId/PermissionSetId pair twice")
        for fdef in obj.field_list:
            if not fdef.unique:
                continue
            seen: set[Any] = set()
            for rec in self.live(obj):
                value = rec.get(fdef.name)
                key = fdef.match_key(value)
                if key is not None and key in seen:
                    raise ValueError(
                        f"{obj.name}: two records with {fdef.name} = {value!r} ({fdef.name} is unique)"
                    )
                seen.add(key)

    @staticmethod
    def _loadable_field(obj: ObjectDef, key: str, index: int) -> FieldDef:
        fdef = obj.get_field(key)
        if fdef is None:
            raise ValueError(f"{obj.name}[{index}]: no field {key!r} on {obj.name} (see its describe)")
        if fdef.compute is not None:
            raise ValueError(
                f"{obj.name}[{index}]: {fdef.name} is calculated; load the fields it is made of instead"
            )
        return fdef

    def _load_defaults(self, obj: ObjectDef) -> Record:
        defaults: Record = {}
        for fdef in obj.field_list:
            if fdef.compute is not None or fdef.name == "Id":
                continue
            if fdef.type == "boolean":
                defaults[fdef.name] = bool(fdef.defaultValue)
            elif fdef.defaultedOnCreate and fdef.defaultValue is not None:
                defaults[fdef.name] = fdef.defaultValue
        for name in ("OwnerId", "CreatedById", "LastModifiedById"):
            if name.lower() in obj.fields:
                defaults[name] = self.integration_user_id
        return defaults

    def dump(self) -> dict[str, Any]:
        """Every object's records (deleted ones too, with ``IsDeleted``), list views and configuration."""
        out: dict[str, Any] = {}
        for obj in self.schema.values():
            if obj.name == "ListView":
                continue
            out[obj.name] = [self.record_json(obj, r) for r in self.records[obj.name].values()]
        out["ListView"] = [
            view.dump(self.records["ListView"][lv_id]) for lv_id, view in self.list_views.items()
        ]
        out["FieldDefinition"] = [
            {"sobject": obj.name, "name": name, "deleted": True}
            for obj in self.schema.values()
            for name in obj.removed
        ] + [
            {"sobject": obj.name, **_field_spec(f)}
            for obj in self.schema.values()
            for f in obj.field_list
            if f.admin_defined
        ]
        out["DuplicateRule"] = [
            {"sobject": r.sobject, "fields": r.fields, "name": r.name} for r in self.duplicate_rules
        ]
        out["Deleted"] = [
            {"sobject": d.object, "id": d.id, "deletedDate": to_json(_DT, d.when)} for d in self.deletions
        ]
        return out

    @staticmethod
    def record_json(obj: ObjectDef, rec: Record) -> dict[str, Any]:
        """A stored record's own fields in API format (calculated fields left out, so it loads back)."""
        return {
            f.name: to_json(f, rec.get(f.name)) for f in obj.field_list if f.compute is None and f.name in rec
        }


_DT = FieldDef("When", "When", "datetime")


def repeated_external_ids(fdef: FieldDef, values: Iterable[Any]) -> set[Any]:
    """Match keys (see :meth:`FieldDef.match_key`) that occur more than once among the external id
    *values* of one upsert call; blank and malformed values are left to fail on their own."""
    seen: set[Any] = set()
    repeated: set[Any] = set()
    for value in values:
        key = external_id_key(fdef, value)
        if key is not None:
            (repeated if key in seen else seen).add(key)
    return repeated


def external_id_key(fdef: FieldDef, value: Any) -> Any:
    """The match key of one external id value, or None when it is blank or malformed."""
    try:
        stored = coerce(fdef, value, from_csv=True)
    except SalesforceError:
        return None
    return None if stored is None else fdef.match_key(stored)


def duplicate_in_call(fdef: FieldDef, value: Any) -> SalesforceError:
    """What every record of one upsert call gets whose external id another record of the call repeats."""
    return SalesforceError(400, "DUPLICATE_VALUE", f"Duplicate external id specified: {value}", [fdef.name])


def _field_spec(fdef: FieldDef) -> dict[str, Any]:
    desc = fdef.describe()
    keys = (
        "name",
        "label",
        "type",
        "length",
        "nillable",
        "createable",
        "updateable",
        "defaultedOnCreate",
        "custom",
        "externalId",
        "unique",
        "caseSensitive",
        "picklistValues",
        "calculated",
        "calculatedFormula",
        "referenceTo",
        "relationshipName",
        "polymorphicForeignKey",
        "namePointing",
        "defaultValue",
    )
    return {k: desc[k] for k in keys}
