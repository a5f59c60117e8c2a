"""The sync configuration's typed, closed model: what the admin chose in YAML, and the helpers that translate
canonical keys (``first``, ``last``, ``email``, ``phone``, ``custom.<title>``) to Salesforce API names.

Rules that need only the file are checked here, in the validators; :mod:`.loader` reads the file,
:mod:`.describe` checks it against live metadata.
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Literal

import phonenumbers
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ..vocabulary import OPT_OUT_KEY, AutoCreate, ConfiguredScope, ConflictPolicy, FieldDirection, ObjectName
from .problems import ConfigValueError

#: Salesforce objects in the order that decides a phone shared by several records (Contact wins).
OBJECTS: tuple[ObjectName, ...] = ("Contact", "Lead")

#: The hard-mapped fields (the managed package's "can't be changed" mappings); phone comes from phone_field.
FIXED_SALESFORCE_FIELDS: dict[str, str] = {"first": "FirstName", "last": "LastName", "email": "Email"}
#: Heymarket's own contact fields; a custom field with one of these titles would shadow them.
RESERVED_HEYMARKET_TITLES = frozenset({"first", "last", "email", "phone"})
CUSTOM_PREFIX = "custom."

_API_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"
_LIST_VIEW_ID = re.compile(r"^00B[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")
_CONN_ID = r"^[A-Za-z0-9_.\-]+$"

ApiName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=_API_NAME)]
ConnId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=_CONN_ID)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


def _scalar_default(value: object) -> object:
    """A required-field default is one plain value; YAML lists, mappings and empty values are mistakes."""
    if isinstance(value, datetime.date):
        return value.isoformat()  # YAML reads an unquoted 2026-01-31 as a date
    if not isinstance(value, str | bool | int | float):
        raise ConfigValueError(
            f"{value!r} is not a single value — write text, a number or true/false (quote text YAML could misread)"
        )
    return value


def _inbox_text(value: object) -> object:
    """Inboxes are named or given by numeric id; both are kept as text, which the inbox check compares."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigValueError(f"{value!r} is not an inbox name or numeric id — e.g. default_inbox: Sales")
    text = str(value).strip()
    if not text:
        raise ConfigValueError("is empty — name the inbox, or remove default_inbox")
    return text


DefaultValue = Annotated[str | bool | int | float, BeforeValidator(_scalar_default)]

#: The opt-out checkbox the managed package's orgs have on Contact and Lead.
DEFAULT_OPT_OUT_FIELD = "SMS_Opt_Out__c"


def _opt_out_field(value: object) -> object:
    """``false`` (or null) turns opt-out sync off for the object; ``true`` names no field, so it is a mistake."""
    if value is False or value is None:
        return None
    if value is True:
        raise ConfigValueError(
            "true names no field — write the API name of the opt-out checkbox (e.g. SMS_Opt_Out__c), or false"
            " to turn opt-out sync off"
        )
    return value

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email_text(value: object) -> object:
    """Salesforce usernames and Heymarket logins are e-mail shaped; anything else is a typo."""
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not _EMAIL.match(text):
        raise ConfigValueError(
            f"{value!r} is not an e-mail address — write the user's e-mail (or Salesforce username),"
            " e.g. jane.doe@example.com"
        )
    return text


#: An e-mail address or a Salesforce username (which has the form of one); compared case-insensitively.
UserRef = Annotated[str, BeforeValidator(_email_text)]


class _Model(BaseModel):
    """Unknown keys are errors (a typo must not silently fall back to a default); instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMapping(_Model):
    """One extra mapping between a Salesforce field and a Heymarket custom field (the "Add More" rows)."""

    salesforce: ApiName
    heymarket: Title
    direction: FieldDirection = "both"
    conflict_policy: ConflictPolicy | None = None

    @model_validator(mode="after")
    def _policy_needs_both_directions(self) -> FieldMapping:
        if self.conflict_policy is not None and self.direction != "both":
            raise ConfigValueError(
                f"a conflict policy only applies to fields synced both ways, this one is {self.direction}"
                " — remove conflict_policy or set direction: both",
                at=("conflict_policy",),
            )
        return self

    @property
    def canonical_key(self) -> str:
        """The column name both extract frames use for this field."""
        return CUSTOM_PREFIX + self.heymarket


class ObjectConfig(_Model):
    """What to sync for one Salesforce object (the managed package's per-object sync settings)."""

    enabled: bool = True
    scope: ConfiguredScope = "all"
    list_view: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = None
    phone_field: ApiName = "Phone"
    delete_in_heymarket: bool = False
    required_defaults: dict[ApiName, DefaultValue] = Field(default_factory=dict)
    fields: tuple[FieldMapping, ...] = ()
    #: The Salesforce checkbox holding the person's SMS opt-out, synced with Heymarket's ``is_opted_out``
    #: under the compliance rules (``sync_engine.plan.consent``); ``None`` (``false``/null in YAML): off.
    opt_out_field: Annotated[ApiName | None, BeforeValidator(_opt_out_field)] = DEFAULT_OPT_OUT_FIELD

    @field_validator("list_view")
    @classmethod
    def _list_view_is_id_or_name(cls, value: str | None) -> str | None:
        if value is not None and not (_LIST_VIEW_ID.match(value) or re.match(_API_NAME, value)):
            raise ConfigValueError(
                f"{value!r} is neither a list view id (00B…, 15 or 18 characters) nor an API name"
                " — copy the id from the list view's URL or its API name from the list view's settings"
            )
        return value

    @model_validator(mode="after")
    def _check_scope_and_mappings(self) -> ObjectConfig:
        ConfigValueError.raise_all([*self._scope_problems(), *self._field_mapping_problems(),
                                    *self._opt_out_problems()])
        return self

    def _opt_out_problems(self) -> list[ConfigValueError]:
        """The opt-out checkbox is a field of its own: never a fixed mapping, the phone field or an extra one."""
        if self.opt_out_field is None:
            return []
        name = self.opt_out_field.casefold()
        taken = {n.casefold() for n in (*FIXED_SALESFORCE_FIELDS.values(), self.phone_field)}
        taken |= {m.salesforce.casefold() for m in self.fields}
        if name in taken:
            return [ConfigValueError(
                f"{self.opt_out_field} is already mapped as a field — the opt-out checkbox must be a field of its"
                " own (a Checkbox): name another field, or remove it from fields",
                at=("opt_out_field",),
            )]
        return []

    def _scope_problems(self) -> list[ConfigValueError]:
        if self.scope == "list_view" and self.list_view is None:
            return [ConfigValueError(
                "scope is list_view but no list view is named — add list_view: <id 00B… or API name>,"
                " or set scope: all",
                at=("list_view",),
            )]
        if self.scope == "all" and self.list_view is not None:
            return [ConfigValueError(
                "list_view is only used with scope: list_view — set scope: list_view, or remove list_view",
                at=("list_view",),
            )]
        return []

    def _field_mapping_problems(self) -> list[ConfigValueError]:
        """The fixed mappings can't be redefined, and each side of a mapping may be used once."""
        fixed = {name.casefold(): key for key, name in FIXED_SALESFORCE_FIELDS.items()}
        fixed[self.phone_field.casefold()] = "phone"
        problems: list[ConfigValueError] = []
        seen_titles: dict[str, int] = {}
        written_sf_fields: dict[str, int] = {}
        for index, mapping in enumerate(self.fields):
            sf_name = mapping.salesforce.casefold()
            title = mapping.heymarket.casefold()
            if sf_name in fixed:
                problems.append(ConfigValueError(
                    f"{mapping.salesforce} is already mapped to Heymarket '{fixed[sf_name]}' (first name, last"
                    " name, email and the phone field are fixed mappings) — remove this entry",
                    at=("fields", index, "salesforce"),
                ))
            elif mapping.direction != "to_heymarket" and sf_name in written_sf_fields:
                problems.append(ConfigValueError(
                    f"{mapping.salesforce} would be written from two Heymarket fields (see fields"
                    f"[{written_sf_fields[sf_name]}]) — keep one, or set direction: to_heymarket on the other",
                    at=("fields", index, "salesforce"),
                ))
            elif mapping.direction != "to_heymarket":
                written_sf_fields[sf_name] = index
            if title in RESERVED_HEYMARKET_TITLES:
                problems.append(ConfigValueError(
                    f"'{mapping.heymarket}' is a built-in Heymarket contact field, already mapped — custom"
                    " fields need another title",
                    at=("fields", index, "heymarket"),
                ))
            elif title in seen_titles:
                other = self.fields[seen_titles[title]].salesforce
                problems.append(ConfigValueError(
                    f"Heymarket field '{mapping.heymarket}' is already mapped from {other} (fields"
                    f"[{seen_titles[title]}]); one Heymarket field can hold only one Salesforce field"
                    " — map it once, or use another Heymarket field",
                    at=("fields", index, "heymarket"),
                ))
            else:
                seen_titles[title] = index
        return problems


class ObjectsConfig(_Model):
    """The two Salesforce objects the managed package synced; both on by default."""

    Contact: ObjectConfig = Field(default_factory=ObjectConfig)
    Lead: ObjectConfig = Field(default_factory=ObjectConfig)


class GuardsConfig(_Model):
    """Limits that stop a run before it writes anything (see ``sync_engine.guards``)."""

    max_delete_share: float = Field(default=0.10, ge=0, le=1)
    max_invalid_phone_share: float = Field(default=0.25, ge=0, le=1)
    min_records_for_share_guards: int = Field(default=20, ge=0)


class SalesforceConfig(_Model):
    conn_id: ConnId = "salesforce_default"
    bulk_threshold: int = Field(default=2000, ge=1)
    min_daily_api_remaining: int = Field(default=1000, ge=0)
    # The org's daily API allocation (Setup > Company Information, "API Requests, Last 24 Hours" maximum), for
    # the Sync history page only: it sets each run's Salesforce calls against it. None: "budget unknown".
    daily_api_budget: int | None = Field(default=None, ge=1)
    list_view_scope_user: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = None


class HeymarketConfig(_Model):
    conn_id: ConnId = "heymarket_default"
    # Heymarket answers 429 above 500 requests per minute; pacing at the limit leaves no room for retries.
    # None: the connection's extra ``requests_per_minute`` decides (450 when it has none), so a deployment can
    # split one credential's budget per connection; a value here overrides it for the sync tasks.
    requests_per_minute: int | None = Field(default=None, ge=1, le=500)
    # Heymarket's bulk endpoints take at most 100 contacts per call (emulator choice; undocumented limit).
    batch_size: int = Field(default=100, ge=1, le=100)
    # Batch calls on the wire at once. Two keep a full sync at the pace above instead of one round trip per
    # batch; more would let a killed task leave more batches unrecorded (sync_engine.apply).
    calls_in_flight: int = Field(default=2, ge=1, le=2)


class StateConfig(_Model):
    conn_id: ConnId = "heymarket_sync_state"
    runs_root: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = "runs"


class HistoryConfig(_Model):
    """How long the sync keeps what it learned about records (both hold ids and codes, or personal data).

    ``record_outcome_days``: rows of ``hm_sync_record_outcome`` (ids, actions, reason codes) older than this
    are deleted by the run's ``record_run``. ``run_folder_days``: run folders (Parquet extracts with phones,
    e-mails and names) older than this are deleted by ``record_run`` too; the folders of runs that failed since
    the last successful run are kept until a run succeeds, to find out why.
    """

    record_outcome_days: int = Field(default=90, ge=1, le=3650)
    run_folder_days: int = Field(default=7, ge=1, le=3650)


class SetupConfig(_Model):
    """What the ``heymarket_setup`` DAG assigns and maps (the managed package's User Mapping screen)."""

    permission_set: ApiName = "Heymarket_User"
    user_mapping: dict[UserRef, UserRef] = Field(default_factory=dict)
    exclude_users: tuple[UserRef, ...] = ()

    @model_validator(mode="after")
    def _each_user_named_once(self) -> SetupConfig:
        """Users are matched case-insensitively, so two spellings of one user would contradict each other."""
        problems = []
        mapped: dict[str, str] = {}
        for key in self.user_mapping:
            if key.casefold() in mapped:
                problems.append(ConfigValueError(
                    f"{key} is mapped twice (also as {mapped[key.casefold()]}; letter case does not count)"
                    " — keep one entry",
                    at=("user_mapping", key),
                ))
            mapped.setdefault(key.casefold(), key)
        problems += [
            ConfigValueError(
                f"{user} is both mapped in user_mapping and listed in exclude_users — keep it in one of them",
                at=("exclude_users", index),
            )
            for index, user in enumerate(self.exclude_users) if user.casefold() in mapped
        ]
        ConfigValueError.raise_all(problems)
        return self


_SF_USER_ID = r"^005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$"


class MessagesConfig(_Model):
    """The ``heymarket_messages`` DAG: every Heymarket message becomes a completed Salesforce Task.

    ``external_id_field``: the Task's external id field (Text, External ID, Unique) the upsert matches on, so a
    rerun never duplicates a Task; ``heymarket_setup`` checks it. ``include_bodies``: false leaves
    ``Description`` empty (the text stays in Heymarket). ``look_back_days``: how far back the first run reads.
    ``default_owner_id``: the Salesforce user who owns Tasks whose Heymarket user is not mapped (default: the
    integration user). ``settle_seconds``: messages younger than this are left to the next run (one being
    stored while the page is read is not skipped). ``write_batch``: messages upserted at a time (above
    ``salesforce.bulk_threshold`` the batch goes through Bulk 2.0); the watermark moves after each batch.
    ``pending_recheck_calls``: at most this many Heymarket calls per run re-read waiting messages.
    """

    external_id_field: ApiName = "Heymarket_Message_Id__c"
    include_bodies: bool = True
    look_back_days: int = Field(default=30, ge=1, le=3650)
    default_owner_id: Annotated[str, StringConstraints(strip_whitespace=True, pattern=_SF_USER_ID)] | None = None
    settle_seconds: int = Field(default=60, ge=0, le=3600)
    write_batch: int = Field(default=10_000, ge=1, le=150_000)
    pending_recheck_calls: int = Field(default=20, ge=0, le=10_000)


AlertEvent = Literal["failed", "partial", "guard_stopped"]
AlertChannelName = Literal["email", "slack", "webhook"]
#: Every run outcome that can alert, in the order the docs list them.
ALERT_EVENTS: tuple[AlertEvent, ...] = ("failed", "partial", "guard_stopped")
#: Keys that would put a secret (or a URL that embeds one) into the YAML; it belongs in the Airflow connection.
_SECRET_KEYS = frozenset({
    "password", "passwd", "secret", "token", "api_key", "apikey", "key", "url", "webhook_url", "webhook",
    "smtp_password", "authorization", "auth", "headers", "host", "login", "user", "username",
})


def _address_list(value: object) -> object:
    """``to: ops@example.com`` is one recipient; a list is several."""
    return [value] if isinstance(value, str) else value


class _AlertChannel(_Model):
    """A place alerts go: an Airflow connection (which holds every secret), and optionally its own events."""

    conn_id: ConnId
    events: tuple[AlertEvent, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_secret_in_this_file(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in data:
                if str(key).strip().casefold() in _SECRET_KEYS:
                    raise ConfigValueError(
                        f"'{key}' does not belong in this file: addresses, tokens and passwords of a channel stay"
                        " in its Airflow connection — put it there (Admin > Connections) and name the connection"
                        " with conn_id",
                        at=(str(key),),
                    )
        return data

    @field_validator("events")
    @classmethod
    def _events_named_once(cls, value: tuple[AlertEvent, ...] | None) -> tuple[AlertEvent, ...] | None:
        return None if value is None else _check_events(value)


def _check_events(value: tuple[AlertEvent, ...]) -> tuple[AlertEvent, ...]:
    if not value:
        raise ConfigValueError(
            "the list of events is empty — name at least one of: " + ", ".join(ALERT_EVENTS)
            + " (or remove the channel / the alerts section)"
        )
    repeated = sorted({event for event in value if value.count(event) > 1})
    if repeated:
        raise ConfigValueError(f"{', '.join(repeated)} is listed twice — name each event once")
    return value


class EmailAlert(_AlertChannel):
    """E-mail through an Airflow SMTP connection (host, port, login, password; ``from_email`` in its extra)."""

    conn_id: ConnId = "smtp_default"
    to: Annotated[tuple[UserRef, ...], BeforeValidator(_address_list)]
    from_email: UserRef | None = None

    @field_validator("to")
    @classmethod
    def _someone_to_tell(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ConfigValueError("no recipient — write at least one address, e.g. to: [sync-admins@example.com]")
        return value


class SlackAlert(_AlertChannel):
    """A Slack incoming webhook, through a ``slackwebhook`` connection (the webhook URL in its password)."""


class WebhookAlert(_AlertChannel):
    """A JSON document POSTed to an ``http`` connection (base URL in it; a token in its password or headers)."""

    endpoint: Annotated[str, StringConstraints(strip_whitespace=True)] = ""

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_a_plain_path(cls, value: str) -> str:
        if "://" in value:
            raise ConfigValueError(
                f"{value!r} is a whole URL — put the base URL in the connection's host and keep only the path"
                " here (e.g. /hooks/heymarket-sync)"
            )
        if "?" in value or "#" in value:
            raise ConfigValueError(
                f"{value!r} has a query string, where tokens often hide — put a token in the connection (its"
                " password, or an Authorization header in its extra) and keep only the path here"
            )
        return value


class AlertsConfig(_Model):
    """Who hears about a run that failed, ended partial, or was stopped by a guard (``sync_operators.alerts``)."""

    events: tuple[AlertEvent, ...] = ALERT_EVENTS
    email: EmailAlert | None = None
    slack: SlackAlert | None = None
    webhook: WebhookAlert | None = None

    @field_validator("events")
    @classmethod
    def _events_named_once(cls, value: tuple[AlertEvent, ...]) -> tuple[AlertEvent, ...]:
        return _check_events(value)

    @model_validator(mode="after")
    def _has_a_channel(self) -> AlertsConfig:
        if not self.channels():
            raise ConfigValueError(
                "alerts has no channel, so no alert would be sent — add email:, slack: or webhook: (see"
                " include/mappings/example-full.yaml), or remove the alerts section"
            )
        return self

    def channels(self) -> list[tuple[AlertChannelName, _AlertChannel]]:
        """The configured channels, in the order email, slack, webhook."""
        named: list[tuple[AlertChannelName, _AlertChannel | None]] = [
            ("email", self.email), ("slack", self.slack), ("webhook", self.webhook)]
        return [(name, channel) for name, channel in named if channel is not None]

    def channels_for(self, event: AlertEvent) -> list[tuple[AlertChannelName, str]]:
        """(channel, connection id) of every channel that wants ``event`` (its own events, else the section's)."""
        return [(name, channel.conn_id) for name, channel in self.channels() if event in (channel.events or self.events)]


class SyncConfig(_Model):
    """The whole sync configuration; build it with :func:`load_config`."""

    default_region: str = "US"
    conflict_policy: ConflictPolicy = "salesforce_wins"
    auto_create: AutoCreate = "none"
    default_inbox: Annotated[str | None, BeforeValidator(_inbox_text)] = None
    objects: ObjectsConfig = Field(default_factory=ObjectsConfig)
    guards: GuardsConfig = Field(default_factory=GuardsConfig)
    salesforce: SalesforceConfig = Field(default_factory=SalesforceConfig)
    heymarket: HeymarketConfig = Field(default_factory=HeymarketConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    setup: SetupConfig = Field(default_factory=SetupConfig)
    messages: MessagesConfig = Field(default_factory=MessagesConfig)
    #: ``None``: no alerts (the default).
    alerts: AlertsConfig | None = None

    @field_validator("default_region", mode="before")
    @classmethod
    def _region_is_supported(cls, value: object) -> str:
        if isinstance(value, bool):
            # YAML 1.1 reads an unquoted NO (Norway), ON, Y... as a boolean.
            raise ConfigValueError(
                f"YAML read the region as the boolean {str(value).lower()} — quote it, e.g."
                ' default_region: "NO"'
            )
        region = str(value).strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigValueError(
                f"{value!r} is not a region phonenumbers knows — use a two-letter ISO 3166 country code"
                " such as US, GB, DE, FR, AU"
            )
        return region

    @model_validator(mode="after")
    def _auto_create_object_is_synced(self) -> SyncConfig:
        problems = []
        if self.auto_create != "none" and not self.object_config(self.auto_create).enabled:
            # A created record that is never extracted would be created again on every run.
            problems.append(ConfigValueError(
                f"auto_create is {self.auto_create} but objects.{self.auto_create}.enabled is false — enable"
                f" {self.auto_create}, or set auto_create to another object or none",
                at=("auto_create",),
            ))
        if not self.enabled_objects():
            problems.append(ConfigValueError(
                "no object is enabled, so there is nothing to sync — set objects.Contact.enabled or"
                " objects.Lead.enabled to true",
                at=("objects",),
            ))
        ConfigValueError.raise_all(problems)
        return self

    def object_config(self, obj: ObjectName) -> ObjectConfig:
        """The settings of one object.

        :param obj: ``Contact`` or ``Lead``
        """
        if obj not in OBJECTS:
            raise KeyError(f"unknown Salesforce object {obj!r}; the sync knows {', '.join(OBJECTS)}")
        return getattr(self.objects, obj)

    def enabled_objects(self) -> tuple[ObjectName, ...]:
        """Enabled objects in precedence order (Contact before Lead), the order the planner breaks ties in."""
        return tuple(obj for obj in OBJECTS if getattr(self.objects, obj).enabled)

    def canonical_keys(self, obj: ObjectName) -> tuple[str, ...]:
        """Compared field keys of one object: the fixed ones, then one ``custom.<title>`` per extra mapping.

        ``phone`` is not among them: it is the match key, not a compared value.
        """
        cfg = self.object_config(obj)
        opt_out = (OPT_OUT_KEY,) if cfg.opt_out_field is not None else ()
        return (*FIXED_SALESFORCE_FIELDS, *(m.canonical_key for m in cfg.fields), *opt_out)

    def salesforce_fields(self, obj: ObjectName) -> dict[str, str]:
        """Canonical key -> Salesforce API name for one object, ``phone`` included (its phone_field)."""
        cfg = self.object_config(obj)
        fields = dict(FIXED_SALESFORCE_FIELDS)
        fields["phone"] = cfg.phone_field
        fields.update((m.canonical_key, m.salesforce) for m in cfg.fields)
        if cfg.opt_out_field is not None:
            fields[OPT_OUT_KEY] = cfg.opt_out_field
        return fields

    def query_fields(self, obj: ObjectName) -> tuple[str, ...]:
        """The SOQL select list for one object: Id, SystemModstamp, the phone field and every mapped field."""
        mapped = self.salesforce_fields(obj)
        wanted = ["Id", "SystemModstamp", mapped.pop("phone"), *mapped.values()]
        seen: set[str] = set()
        unique = []
        for name in wanted:
            if name.casefold() not in seen:
                seen.add(name.casefold())
                unique.append(name)
        return tuple(unique)

    def field_directions(self, obj: ObjectName) -> dict[str, FieldDirection]:
        """Canonical key -> direction; the fixed mappings go both ways."""
        directions: dict[str, FieldDirection] = dict.fromkeys(FIXED_SALESFORCE_FIELDS, "both")
        directions.update((m.canonical_key, m.direction) for m in self.object_config(obj).fields)
        if self.object_config(obj).opt_out_field is not None:
            # Both sides are read and written; which way a state goes is the compliance rules' business.
            directions[OPT_OUT_KEY] = "both"
        return directions

    def field_policies(self, obj: ObjectName) -> dict[str, ConflictPolicy]:
        """Canonical key -> conflict policy: the field's override, else the global ``conflict_policy``."""
        policies: dict[str, ConflictPolicy] = dict.fromkeys(FIXED_SALESFORCE_FIELDS, self.conflict_policy)
        policies.update(
            (m.canonical_key, m.conflict_policy or self.conflict_policy) for m in self.object_config(obj).fields
        )
        if self.object_config(obj).opt_out_field is not None:
            policies[OPT_OUT_KEY] = self.conflict_policy  # never consulted: opt-outs follow the consent rules
        return policies

    def opt_out_objects(self) -> tuple[ObjectName, ...]:
        """Enabled objects whose opt-out checkbox is synced (``opt_out_field`` set)."""
        return tuple(obj for obj in self.enabled_objects() if self.object_config(obj).opt_out_field is not None)

    def heymarket_field_titles(self) -> tuple[str, ...]:
        """Custom field titles the enabled objects map, sorted; Heymarket must have each of them."""
        return tuple(
            sorted({m.heymarket for obj in self.enabled_objects() for m in self.object_config(obj).fields})
        )

