"""The sObjects the emulator serves, their field metadata, and the describe responses built from it.

Field lists follow the standard Salesforce objects (Object Reference) for the fields a Contact/Lead
sync touches, plus the custom fields a typical SMS integration adds (``SMS_Opt_Out__c`` on Contact and
Lead, ``Heymarket_Message_Id__c`` on Task ...). ``Task`` carries the object-specific rules (a Lead
Task has no ``WhatId``; ``CompletedDateTime``) as :attr:`ObjectDef.check` / :attr:`ObjectDef.derive`,
and :func:`name_entity` is what the polymorphic ``Who``/``What`` relationships lead to in SOQL.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from emulators.salesforce.errors import SalesforceError
from emulators.salesforce.fields import (
    FieldDef,
    address_fields,
    boolean,
    combobox,
    date,
    datetime_field,
    email,
    id_field,
    is_deleted_field,
    number,
    phone,
    pick,
    picklist,
    reference,
    system_fields,
    text,
    textarea,
)

LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
SALUTATIONS = ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]
LEAD_STATUSES = [
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
]
INDUSTRIES = ["Agriculture", "Banking", "Education", "Healthcare", "Retail", "Technology", "Other"]
#: a fresh org's ``TaskStatus`` values; only ``Completed`` has ``IsClosed = true``
TASK_STATUSES = ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]
CLOSED_TASK_STATUSES = frozenset({"Completed"})
TASK_PRIORITIES = ["High", "Normal", "Low"]
TASK_SUBTYPES = ["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"]
TASK_TYPES = ["Call", "Email", "Meeting", "Other"]
TASK_SUBJECTS = ["Call", "Send Letter", "Send Quote", "Other"]
#: what ``Task.WhatId`` may point at (the emulator has only Account of these; see the README)
WHAT_TARGETS = [
    "Account",
    "Asset",
    "Campaign",
    "Case",
    "Contract",
    "Opportunity",
    "Order",
    "Product2",
    "Solution",
]
#: the external id field the ``heymarket_messages`` DAG upserts Tasks on; a fresh org has it
HEYMARKET_MESSAGE_ID = "Heymarket_Message_Id__c"

Record = dict[str, Any]
#: object-specific rules on the whole record about to be stored: (record, previous or None) -> None,
#: raising :class:`~emulators.salesforce.errors.SalesforceError` to refuse the write
RecordCheck = Callable[[Record, Record | None], None]
#: values the platform derives when a record is saved: (record, previous or None, stamp) -> None
RecordDerive = Callable[[Record, Record | None, dt.datetime], None]


@dataclass
class ObjectDef:
    """One sObject type: identity, capabilities and fields (looked up case-insensitively)."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    field_list: list[FieldDef]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    #: deletes go to the recycle bin (``IsDeleted``) instead of removing the row
    soft_delete: bool = True
    supported_scopes: list[tuple[str, str]] = field(default_factory=list)
    #: object-specific validation of a create/update (after the field and reference checks)
    check: RecordCheck | None = field(default=None, repr=False, compare=False)
    #: values the platform sets on save (e.g. ``Task.CompletedDateTime``)
    derive: RecordDerive | None = field(default=None, repr=False, compare=False)
    #: custom fields an admin load deleted (the dump lists them so that it loads back)
    removed: list[str] = field(default_factory=list)
    fields: dict[str, FieldDef] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.fields = {f.name.lower(): f for f in self.field_list}

    def get_field(self, name: str) -> FieldDef | None:
        """The field called *name* (any case), or None."""
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship is called *name* (e.g. ``Owner`` -> ``OwnerId``)."""
        lowered = name.lower()
        for fdef in self.fields.values():
            if fdef.relationshipName and fdef.relationshipName.lower() == lowered:
                return fdef
        return None

    def remove_field(self, name: str) -> FieldDef:
        """Delete a field (admin ``FieldDefinition`` load with ``deleted: true``)."""
        fdef = self.fields.pop(name.lower())
        self.field_list = [f for f in self.field_list if f is not fdef]
        self.removed.append(fdef.name)
        return fdef

    def put_field(self, fdef: FieldDef) -> None:
        """Add or replace a field (admin ``FieldDefinition`` load)."""
        key = fdef.name.lower()
        self.removed = [n for n in self.removed if n.lower() != key]
        if key in self.fields:
            self.field_list = [fdef if f.name.lower() == key else f for f in self.field_list]
        else:
            self.field_list.append(fdef)
        self.fields[key] = fdef

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "listviews": f"{base}/listviews",
            "describe": f"{base}/describe",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            "sobject": base,
        }

    def basic(self, version: str) -> dict[str, Any]:
        """The object's entry in the global describe and in ``GET sobjects/{Obj}``."""
        return {
            "activateable": False,
            "associateEntityType": None,
            "associateParentEntity": None,
            "createable": self.createable,
            "custom": False,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": self.soft_delete,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": self.soft_delete,
            "mergeable": self.name in ("Contact", "Lead", "Account"),
            "mruEnabled": self.soft_delete,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": self.soft_delete,
            "triggerable": True,
            "undeletable": self.soft_delete,
            "updateable": self.updateable,
            "urls": self.urls(version),
        }

    def describe(self, version: str, all_objects: Iterable[ObjectDef]) -> dict[str, Any]:
        """The full ``GET sobjects/{Obj}/describe`` body."""
        body = self.basic(version)
        body.update(
            actionOverrides=[],
            childRelationships=_child_relationships(self, all_objects),
            compactLayoutable=self.soft_delete,
            defaultImplementation=None,
            extendedBy=None,
            extendsInterfaces=None,
            fields=[f.describe() for f in self.field_list],
            implementedBy=None,
            implementsInterfaces=None,
            listviewable=None,
            lookupLayoutable=None,
            namedLayoutInfos=[],
            networkScopeFieldName=None,
            recordTypeInfos=[
                {
                    "active": True,
                    "available": True,
                    "defaultRecordTypeMapping": True,
                    "developerName": "Master",
                    "master": True,
                    "name": "Master",
                    "recordTypeId": "012000000000000AAA",
                    "urls": {
                        "layout": f"/services/data/v{version}/sobjects/{self.name}/describe/layouts/"
                        "012000000000000AAA"
                    },
                }
            ]
            if self.soft_delete
            else [],
            searchLayoutable=self.soft_delete,
            sobjectDescribeOption="FULL",
            supportedScopes=[{"label": label, "name": name} for name, label in self.supported_scopes],
        )
        return dict(sorted(body.items()))


#: relationship names of child relationships worth naming (others are anonymous)
_CHILD_NAMES = {
    ("Contact", "AccountId"): "Contacts",
    ("PermissionSetAssignment", "AssigneeId"): "PermissionSetAssignments",
    ("PermissionSetAssignment", "PermissionSetId"): "Assignments",
    ("Task", "WhoId"): "Tasks",
    ("Task", "WhatId"): "Tasks",
}
#: child relationships whose children go to the recycle bin with their parent (see OrgStore.delete)
CASCADE_DELETE = {("Task", "WhoId")}


def _child_relationships(parent: ObjectDef, all_objects: Iterable[ObjectDef]) -> list[dict[str, Any]]:
    out = []
    for child in all_objects:
        for fdef in child.field_list:
            if fdef.type == "reference" and parent.name in fdef.referenceTo and fdef.createable:
                out.append(
                    {
                        "cascadeDelete": (child.name, fdef.name) in CASCADE_DELETE,
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": fdef.name,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                        "relationshipName": _CHILD_NAMES.get((child.name, fdef.name)),
                        "restrictedDelete": False,
                    }
                )
    return out


def _full_name(rec: dict[str, Any]) -> str | None:
    parts = [rec.get("FirstName"), rec.get("LastName")]
    return " ".join(p for p in parts if p) or None


def _name_fields() -> list[FieldDef]:
    return [
        text("LastName", "Last Name", 80, nillable=False, compoundFieldName="Name"),
        text("FirstName", "First Name", 40, compoundFieldName="Name"),
        picklist("Salutation", "Salutation", SALUTATIONS, compoundFieldName="Name"),
        text(
            "Name", "Full Name", 121, createable=False, updateable=False, nameField=True, compute=_full_name
        ),
    ]


def _owner() -> FieldDef:
    return reference("OwnerId", "Owner ID", ["User"], "Owner", nillable=False, defaultedOnCreate=True)


def _master_record(obj_name: str) -> FieldDef:
    """Set by a merge on the records it deleted: the Id of the record they were merged into."""
    return reference(
        "MasterRecordId", "Master Record ID", [obj_name], "MasterRecord", createable=False, updateable=False
    )


def contact() -> ObjectDef:
    fields = [
        id_field(),
        is_deleted_field(),
        _master_record("Contact"),
        reference("AccountId", "Account ID", ["Account"], "Account"),
        *_name_fields(),
        *address_fields("Mailing", "Mailing", "MailingAddress"),
        phone("Phone", "Business Phone"),
        phone("Fax", "Business Fax"),
        phone("MobilePhone", "Mobile Phone"),
        phone("HomePhone", "Home Phone"),
        phone("OtherPhone", "Other Phone"),
        phone("AssistantPhone", "Asst. Phone"),
        email("Email", "Email"),
        text("Title", "Title", 128),
        text("Department", "Department", 80),
        picklist("LeadSource", "Lead Source", LEAD_SOURCES),
        date("Birthdate", "Birthdate"),
        textarea("Description", "Contact Description", 32000, filterable=False),
        _owner(),
        boolean("HasOptedOutOfEmail", "Email Opt Out"),
        boolean("DoNotCall", "Do Not Call"),
        *system_fields(),
        FieldDef(
            "Full_Phone_Display__c",
            "Full Phone Display",
            "string",
            length=1300,
            createable=False,
            updateable=False,
            calculated=True,
            custom=True,
            calculatedFormula="BLANKVALUE(Phone, MobilePhone)",
            compute=lambda rec: rec.get("Phone") or rec.get("MobilePhone"),
        ),
        boolean("SMS_Opt_Out__c", "SMS Opt Out", custom=True),
        picklist("Customer_Tier__c", "Customer Tier", ["Gold", "Silver", "Bronze"], custom=True),
        text("Preferred_Language__c", "Preferred Language", 80, custom=True),
    ]
    return ObjectDef(
        "Contact",
        "Contact",
        "Contacts",
        "003",
        fields,
        supported_scopes=[("everything", "All contacts"), ("mine", "My contacts")],
    )


def lead() -> ObjectDef:
    ro = {"createable": False, "updateable": False}
    fields = [
        id_field(),
        is_deleted_field(),
        _master_record("Lead"),
        *_name_fields(),
        text("Title", "Title", 128),
        text("Company", "Company", 255, nillable=False),
        *address_fields("", "", "Address"),
        phone("Phone", "Phone"),
        phone("MobilePhone", "Mobile Phone"),
        phone("Fax", "Fax"),
        email("Email", "Email"),
        FieldDef("Website", "Website", "url", length=255),
        textarea("Description", "Description", 32000, filterable=False),
        picklist("LeadSource", "Lead Source", LEAD_SOURCES),
        picklist(
            "Status",
            "Status",
            LEAD_STATUSES,
            default="Open - Not Contacted",
            nillable=False,
            defaultedOnCreate=True,
        ),
        picklist("Industry", "Industry", INDUSTRIES),
        picklist("Rating", "Rating", ["Hot", "Warm", "Cold"]),
        FieldDef("AnnualRevenue", "Annual Revenue", "currency", precision=18, scale=0),
        FieldDef("NumberOfEmployees", "Employees", "int", digits=8),
        _owner(),
        boolean("HasOptedOutOfEmail", "Email Opt Out"),
        boolean("IsConverted", "Converted", **ro),
        date("ConvertedDate", "Converted Date", **ro),
        reference("ConvertedAccountId", "Converted Account ID", ["Account"], "ConvertedAccount", **ro),
        reference("ConvertedContactId", "Converted Contact ID", ["Contact"], "ConvertedContact", **ro),
        # no Opportunity object here: conversions never create one, so this stays null
        reference(
            "ConvertedOpportunityId",
            "Converted Opportunity ID",
            ["Opportunity"],
            "ConvertedOpportunity",
            **ro,
        ),
        boolean("IsUnreadByOwner", "Unread By Owner"),
        boolean("DoNotCall", "Do Not Call"),
        *system_fields(),
        boolean("SMS_Opt_Out__c", "SMS Opt Out", custom=True),
        number("Lead_Score__c", "Lead Score", precision=5, scale=2, custom=True),
        text("Preferred_Language__c", "Preferred Language", 80, custom=True),
    ]
    return ObjectDef(
        "Lead",
        "Lead",
        "Leads",
        "00Q",
        fields,
        supported_scopes=[("everything", "All leads"), ("mine", "My leads"), ("queue", "My queues' leads")],
    )


def account() -> ObjectDef:
    fields = [
        id_field(),
        is_deleted_field(),
        _master_record("Account"),
        text("Name", "Account Name", 255, nillable=False, nameField=True),
        picklist(
            "Type",
            "Account Type",
            ["Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"],
        ),
        *address_fields("Billing", "Billing", "BillingAddress"),
        phone("Phone", "Account Phone"),
        phone("Fax", "Account Fax"),
        FieldDef("Website", "Website", "url", length=255),
        picklist("Industry", "Industry", INDUSTRIES),
        FieldDef("AnnualRevenue", "Annual Revenue", "currency", precision=18, scale=0),
        FieldDef("NumberOfEmployees", "Employees", "int", digits=8),
        textarea("Description", "Account Description", 32000, filterable=False),
        _owner(),
        *system_fields(),
    ]
    return ObjectDef(
        "Account",
        "Account",
        "Accounts",
        "001",
        fields,
        supported_scopes=[("everything", "All accounts"), ("mine", "My accounts")],
    )


def user() -> ObjectDef:
    required = {"nillable": False}
    fields = [
        id_field(),
        text("Username", "Username", 80, unique=True, idLookup=True, **required),
        *[f for f in _name_fields() if f.name != "Salutation"],
        text("CompanyName", "Company Name", 80),
        text("Title", "Title", 80),
        email("Email", "Email", **required),
        phone("Phone", "Phone"),
        phone("MobilePhone", "Mobile"),
        text("Alias", "Alias", 8, **required),
        boolean("IsActive", "Active", default=True),
        picklist(
            "TimeZoneSidKey",
            "Time Zone",
            ["America/Los_Angeles", "America/New_York", "Europe/London", "GMT"],
            restrictedPicklist=True,
            **required,
        ),
        picklist("LocaleSidKey", "Locale", ["en_US", "en_GB"], restrictedPicklist=True, **required),
        picklist(
            "EmailEncodingKey", "Email Encoding", ["UTF-8", "ISO-8859-1"], restrictedPicklist=True, **required
        ),
        picklist("LanguageLocaleKey", "Language", ["en_US"], restrictedPicklist=True, **required),
        reference("ProfileId", "Profile ID", ["Profile"], "Profile", **required),
        reference("UserRoleId", "Role ID", ["UserRole"], "UserRole"),
        picklist(
            "UserType",
            "User Type",
            ["Standard", "PowerPartner", "CsnOnly", "Guest"],
            default="Standard",
            createable=False,
            updateable=False,
            defaultedOnCreate=True,
            nillable=False,
        ),
        datetime_field("LastLoginDate", "Last Login", createable=False, updateable=False),
        *system_fields(),
    ]
    return ObjectDef("User", "User", "Users", "005", fields, deletable=False, soft_delete=False)


def permission_set() -> ObjectDef:
    ro = {"createable": False, "updateable": False}
    fields = [
        id_field(),
        text("Name", "Name", 80, nillable=False, unique=True),
        text("Label", "Label", 80, nillable=False, nameField=True),
        textarea("Description", "Description", 255),
        boolean("IsOwnedByProfile", "Is Owned By Profile", **ro),
        boolean("IsCustom", "Custom", default=True, **ro),
        reference("ProfileId", "Profile ID", ["Profile"], "Profile", **ro),
        text("NamespacePrefix", "Namespace Prefix", 15, **ro),
        reference("LicenseId", "License ID", ["PermissionSetLicense", "UserLicense"], "License"),
        picklist(
            "Type",
            "Permission Set Type",
            ["Regular", "Group", "Session", "Standard", "Profile"],
            default="Regular",
            defaultedOnCreate=True,
            **ro,
        ),
        *system_fields(),
    ]
    return ObjectDef("PermissionSet", "Permission Set", "Permission Sets", "0PS", fields, soft_delete=False)


def permission_set_assignment() -> ObjectDef:
    fields = [
        id_field(),
        reference("AssigneeId", "Assignee ID", ["User"], "Assignee", nillable=False, updateable=False),
        reference(
            "PermissionSetId",
            "Permission Set ID",
            ["PermissionSet"],
            "PermissionSet",
            nillable=False,
            updateable=False,
        ),
        reference(
            "PermissionSetGroupId",
            "Permission Set Group ID",
            ["PermissionSetGroup"],
            "PermissionSetGroup",
            updateable=False,
        ),
        datetime_field("ExpirationDate", "Expiration Date"),
        boolean("IsActive", "Is Active", default=True, createable=False, updateable=False),
        datetime_field(
            "SystemModstamp",
            "System Modstamp",
            nillable=False,
            createable=False,
            updateable=False,
            defaultedOnCreate=True,
        ),
    ]
    return ObjectDef(
        "PermissionSetAssignment",
        "Permission Set Assignment",
        "Permission Set Assignments",
        "0Pa",
        fields,
        soft_delete=False,
    )


def list_view() -> ObjectDef:
    ro = {"createable": False, "updateable": False}
    fields = [
        id_field(),
        text("Name", "View Name", 40, nillable=False, nameField=True, **ro),
        text("DeveloperName", "View Unique Name", 80, nillable=False, **ro),
        text("NamespacePrefix", "Namespace Prefix", 15, **ro),
        picklist("SobjectType", "Sobject Type", ["Contact", "Lead", "Account", "User"], **ro),
        boolean("IsSoqlCompatible", "Is Soql Compatible", default=True, **ro),
        *system_fields(),
        datetime_field("LastViewedDate", "Last Viewed Date", **ro),
        datetime_field("LastReferencedDate", "Last Referenced Date", **ro),
    ]
    return ObjectDef(
        "ListView",
        "List View",
        "List Views",
        "00B",
        fields,
        createable=False,
        updateable=False,
        deletable=False,
        soft_delete=False,
    )


def _task_check(rec: Record, _previous: Record | None) -> None:
    """A Task on a Lead cannot also be related to another record (⚠️ message; see the README)."""
    who, what = rec.get("WhoId"), rec.get("WhatId")
    if who and what and sobject_type(who) == "Lead":
        raise SalesforceError(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            "Related To ID: a task whose Name is a lead cannot be related to another record",
            ["WhatId"],
        )


def _task_derive(rec: Record, _previous: Record | None, stamp: dt.datetime) -> None:
    """``CompletedDateTime``: set by the save that closes the Task, cleared when it is reopened."""
    if rec.get("Status") in CLOSED_TASK_STATUSES:
        if rec.get("CompletedDateTime") is None:
            rec["CompletedDateTime"] = stamp
    else:
        rec["CompletedDateTime"] = None


def task() -> ObjectDef:
    """An activity: what the ``heymarket_messages`` DAG writes for every SMS message."""
    ro = {"createable": False, "updateable": False}
    polymorphic = {"polymorphicForeignKey": True, "namePointing": True}
    fields = [
        id_field(),
        reference("WhoId", "Name ID", ["Contact", "Lead"], "Who", **polymorphic),
        reference("WhatId", "Related To ID", WHAT_TARGETS, "What", **polymorphic),
        combobox("Subject", "Subject", TASK_SUBJECTS, nameField=True),
        date("ActivityDate", "Due Date Only"),
        picklist(
            "Status",
            "Status",
            TASK_STATUSES,
            default="Not Started",
            nillable=False,
            defaultedOnCreate=True,
            restrictedPicklist=True,
        ),
        picklist(
            "Priority",
            "Priority",
            TASK_PRIORITIES,
            default="Normal",
            nillable=False,
            defaultedOnCreate=True,
            restrictedPicklist=True,
        ),
        boolean("IsHighPriority", "High Priority", compute=lambda r: r.get("Priority") == "High", **ro),
        reference("OwnerId", "Assigned To ID", ["User"], "Owner", nillable=False, defaultedOnCreate=True),
        textarea("Description", "Description", 32000, filterable=False),
        picklist("Type", "Type", TASK_TYPES),
        is_deleted_field(),
        boolean("IsClosed", "Closed", compute=lambda r: r.get("Status") in CLOSED_TASK_STATUSES, **ro),
        boolean("IsArchived", "Archived", **ro),
        boolean("IsReminderSet", "Reminder Set"),
        datetime_field("ReminderDateTime", "Reminder Date/Time"),
        FieldDef("CallDurationInSeconds", "Call Duration", "int", digits=8),
        picklist("CallType", "Call Type", ["Internal", "Inbound", "Outbound"], restrictedPicklist=True),
        text("CallDisposition", "Call Result", 255),
        text("CallObject", "Call Object Identifier", 255),
        picklist(
            "TaskSubtype",
            "Task Subtype",
            TASK_SUBTYPES,
            default="Task",
            defaultedOnCreate=True,
            updateable=False,
            restrictedPicklist=True,
        ),
        datetime_field("CompletedDateTime", "Completed Date/Time", **ro),
        *system_fields(),
        text(
            HEYMARKET_MESSAGE_ID,
            "Heymarket Message Id",
            255,
            custom=True,
            externalId=True,
            unique=True,
            inlineHelpText="Id of the Heymarket message this activity records (set by the sync)",
        ),
    ]
    return ObjectDef(
        "Task",
        "Task",
        "Tasks",
        "00T",
        fields,
        supported_scopes=[
            ("everything", "All tasks"),
            ("mine", "My tasks"),
            ("delegated", "Delegated tasks"),
        ],
        check=_task_check,
        derive=_task_derive,
    )


def standard_objects() -> dict[str, ObjectDef]:
    """A fresh copy of every object definition (each store owns its copy; admin loads change it)."""
    objs = [
        account(),
        contact(),
        lead(),
        task(),
        user(),
        permission_set(),
        permission_set_assignment(),
        list_view(),
    ]
    return {o.name.lower(): o for o in objs}


@functools.cache
def _types_by_prefix() -> dict[str, str]:
    return {o.key_prefix: o.name for o in standard_objects().values()}


def sobject_type(record_id: str | None) -> str | None:
    """The object an id belongs to, from its key prefix (None for prefixes the emulator does not know)."""
    return _types_by_prefix().get(record_id[:3]) if record_id else None


@functools.cache
def name_entity() -> ObjectDef:
    """The ``Name`` entity a polymorphic relationship (``Who``, ``What``) leads to in SOQL.

    Its fields read the referenced record, whatever its object: ``Type`` is that object's name,
    ``Name`` its name (a person's full name), the others the record's own field of that name.
    """
    types = sorted(_types_by_prefix().values())
    fields = [
        id_field(),
        FieldDef(
            "Type",
            "Object Type",
            "picklist",
            length=40,
            picklistValues=[pick(t) for t in types],
            compute=lambda r: sobject_type(r.get("Id")),
        ),
        text("Name", "Name", 255, nameField=True, compute=lambda r: r.get("Name") or _full_name(r)),
        text("FirstName", "First Name", 40),
        text("LastName", "Last Name", 80),
        email("Email", "Email"),
        phone("Phone", "Phone"),
        text("Title", "Title", 80),
        text("Alias", "Alias", 8),
    ]
    return ObjectDef(
        "Name",
        "Name",
        "Names",
        "",
        fields,
        createable=False,
        updateable=False,
        deletable=False,
        soft_delete=False,
    )
