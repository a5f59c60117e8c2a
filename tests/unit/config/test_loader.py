"""Loading the sync config: the shipped files load, and each way a file can be wrong gives an admin message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sync_engine.config import ConfigError, FieldMapping, ObjectConfig, SyncConfig, load_config

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "include" / "mappings" / "sync.yaml"
EXAMPLE = REPO / "include" / "mappings" / "example-full.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sync.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    return info.value


def test_shipped_config_loads_with_the_documented_choices() -> None:
    config = load_config(SHIPPED)
    assert config.enabled_objects() == ("Contact", "Lead")
    assert config.auto_create == "Contact"
    assert config.default_region == "US"
    for obj in ("Contact", "Lead"):
        cfg = config.object_config(obj)
        assert (cfg.scope, cfg.phone_field, cfg.delete_in_heymarket) == ("all", "Phone", False)
    assert config.objects.Lead.required_defaults == {"Company": "Unknown (via Heymarket)"}
    assert config.salesforce_fields("Contact")["custom.Customer Tier"] == "Customer_Tier__c"


def test_full_example_loads_and_sets_every_section() -> None:
    config = load_config(EXAMPLE)
    contact = config.objects.Contact
    assert (contact.scope, contact.list_view, contact.phone_field) == ("list_view", "SMS_Contacts", "MobilePhone")
    assert config.objects.Lead.delete_in_heymarket is True
    assert config.default_inbox == "Sales"
    assert config.salesforce.list_view_scope_user == "sync.owner@example.com"
    assert config.field_directions("Contact")["custom.City"] == "to_heymarket"
    assert config.field_policies("Contact")["custom.Customer Tier"] == "heymarket_wins"


def test_example_documents_every_option_of_the_model() -> None:
    """Every key the model accepts appears in example-full.yaml, so admins can find it."""
    text = EXAMPLE.read_text(encoding="utf-8")
    models = [SyncConfig, ObjectConfig, FieldMapping, *(SyncConfig.model_fields[k].annotation
                                                       for k in ("guards", "salesforce", "heymarket", "state", "history",
                                                                "messages"))]
    missing = [f"{m.__name__}.{name}" for m in models for name in m.model_fields if f"{name}:" not in text]
    assert missing == []


def test_defaults_when_sections_are_left_out(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "objects:\n  Lead:\n    enabled: false\n"))
    assert config.enabled_objects() == ("Contact",)
    assert config.auto_create == "none"
    assert config.conflict_policy == "salesforce_wins"
    assert (config.guards.max_delete_share, config.guards.max_invalid_phone_share,
            config.guards.min_records_for_share_guards) == (0.10, 0.25, 20)
    assert (config.salesforce.conn_id, config.salesforce.bulk_threshold,
            config.salesforce.min_daily_api_remaining) == ("salesforce_default", 2000, 1000)
    assert (config.heymarket.conn_id, config.heymarket.requests_per_minute, config.heymarket.batch_size,
            config.heymarket.calls_in_flight) == ("heymarket_default", None, 100, 2)
    assert (config.state.conn_id, config.state.runs_root) == ("heymarket_sync_state", "runs")
    assert (config.history.record_outcome_days, config.history.run_folder_days) == (90, 7)


def test_canonical_keys_and_salesforce_fields() -> None:
    config = load_config(EXAMPLE)
    assert config.canonical_keys("Lead") == ("first", "last", "email", "custom.Preferred Language", "opt_out")
    assert config.salesforce_fields("Contact") == {
        "first": "FirstName", "last": "LastName", "email": "Email", "phone": "MobilePhone",
        "custom.Customer Tier": "Customer_Tier__c", "custom.Preferred Language": "Preferred_Language__c",
        "custom.City": "MailingCity", "custom.Job Title": "Title", "opt_out": "SMS_Opt_Out__c",
    }
    assert config.query_fields("Lead") == (
        "Id", "SystemModstamp", "Phone", "FirstName", "LastName", "Email", "Preferred_Language__c", "SMS_Opt_Out__c")
    assert config.field_policies("Lead") == dict.fromkeys(
        ("first", "last", "email", "custom.Preferred Language", "opt_out"), "salesforce_wins")
    assert config.opt_out_objects() == ("Contact", "Lead")
    assert config.heymarket_field_titles() == ("City", "Customer Tier", "Job Title", "Preferred Language")


def test_query_fields_do_not_repeat_a_field() -> None:
    config = SyncConfig.model_validate({"objects": {"Contact": {"fields": [
        {"salesforce": "Title", "heymarket": "Job Title", "direction": "to_heymarket"},
        {"salesforce": "Title", "heymarket": "Role", "direction": "to_heymarket"},
    ]}}})
    assert config.query_fields("Contact").count("Title") == 1


def test_yaml_scalars_are_read_as_admins_mean_them(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
        default_inbox: 1234
        auto_create: none
        objects:
          Lead:
            required_defaults: {Company: Acme, Due__c: 2026-01-31, Score__c: 3, Hot__c: false}
        """))
    assert config.default_inbox == "1234"
    assert config.auto_create == "none"
    assert config.objects.Lead.required_defaults == {"Company": "Acme", "Due__c": "2026-01-31", "Score__c": 3,
                                                     "Hot__c": False}


def test_region_is_normalised_to_upper_case(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "default_region: gb\n")).default_region == "GB"


# --- bad files -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "objects:\n  Lead:\n    delet_in_heymarket: true\n",
            ":3: objects.Lead.delet_in_heymarket: unknown key 'delet_in_heymarket'"
            " — did you mean 'delete_in_heymarket'?",
            id="unknown-key-suggestion",
        ),
        pytest.param(
            "objects:\n  Account: {}\n",
            "objects.Account: unknown key 'Account' — allowed keys here: Contact, Lead",
            id="unknown-object",
        ),
        pytest.param(
            "objects:\n  Contact:\n    scope: everything\n",
            ":3: objects.Contact.scope: 'everything' is not allowed — must be one of: all, list_view",
            id="bad-scope",
        ),
        pytest.param(
            "objects:\n  Lead:\n    scope: list_view\n",
            "objects.Lead.list_view: scope is list_view but no list view is named — add list_view:",
            id="list-view-missing",
        ),
        pytest.param(
            "objects:\n  Lead:\n    list_view: 00B000000000001\n",
            "objects.Lead.list_view: list_view is only used with scope: list_view",
            id="list-view-without-scope",
        ),
        pytest.param(
            "objects:\n  Lead:\n    scope: list_view\n    list_view: 'My Leads!'\n",
            "objects.Lead.list_view: 'My Leads!' is neither a list view id",
            id="list-view-malformed",
        ),
        pytest.param(
            "objects:\n  Contact:\n    fields:\n      - salesforce: FirstName\n        heymarket: Given Name\n",
            ":4: objects.Contact.fields[0].salesforce: FirstName is already mapped to Heymarket 'first'",
            id="remap-FirstName",
        ),
        pytest.param(
            "objects:\n  Contact:\n    phone_field: MobilePhone\n    fields:\n"
            "      - salesforce: mobilephone\n        heymarket: Mobile\n",
            "objects.Contact.fields[0].salesforce: mobilephone is already mapped to Heymarket 'phone'",
            id="remap-phone-field",
        ),
        pytest.param(
            "objects:\n  Contact:\n    fields:\n      - salesforce: Title\n        heymarket: Email\n",
            "objects.Contact.fields[0].heymarket: 'Email' is a built-in Heymarket contact field",
            id="custom-title-shadows-builtin",
        ),
        pytest.param(
            "objects:\n  Contact:\n    fields:\n      - salesforce: Title\n        heymarket: Role\n"
            "      - salesforce: Department\n        heymarket: Role\n",
            ":7: objects.Contact.fields[1].heymarket: Heymarket field 'Role' is already mapped from Title",
            id="two-sf-fields-one-hm-field",
        ),
        pytest.param(
            "objects:\n  Contact:\n    fields:\n      - salesforce: Title\n        heymarket: Role\n"
            "      - salesforce: Title\n        heymarket: Job\n",
            "objects.Contact.fields[1].salesforce: Title would be written from two Heymarket fields",
            id="one-sf-field-written-twice",
        ),
        pytest.param(
            "objects:\n  Contact:\n    fields:\n      - salesforce: Title\n        heymarket: Role\n"
            "        direction: to_heymarket\n        conflict_policy: newest_wins\n",
            "objects.Contact.fields[0].conflict_policy: a conflict policy only applies to fields synced both ways",
            id="policy-on-one-way-field",
        ),
        pytest.param(
            "objects:\n  Contact:\n    fields:\n      - salesforce: Title\n",
            "objects.Contact.fields[0].heymarket: 'heymarket' is required",
            id="mapping-without-heymarket",
        ),
        pytest.param(
            "objects:\n  Contact:\n    fields:\n      - salesforce: Customer Tier\n        heymarket: Tier\n",
            "objects.Contact.fields[0].salesforce: 'Customer Tier' is not a valid name — use the API name",
            id="label-instead-of-api-name",
        ),
        pytest.param("default_region: XX\n", "default_region: 'XX' is not a region phonenumbers knows",
                     id="bad-region"),
        pytest.param("default_region: NO\n", 'quote it, e.g. default_region: "NO"', id="region-read-as-bool"),
        pytest.param(
            "auto_create: Lead\nobjects:\n  Lead:\n    enabled: false\n",
            "auto_create: auto_create is Lead but objects.Lead.enabled is false",
            id="auto-create-disabled-object",
        ),
        pytest.param(
            "auto_create: none\nobjects:\n  Lead: {enabled: false}\n  Contact: {enabled: false}\n",
            "objects: no object is enabled",
            id="nothing-enabled",
        ),
        pytest.param(
            "objects:\n  Contact:\n    fields:\n      - salesforce: Title\n        heymarket: Role\n"
            "        directon: to_heymarket\n",
            ":6: objects.Contact.fields[0].directon: unknown key 'directon' — did you mean 'direction'?",
            id="unknown-key-in-mapping",
        ),
        pytest.param(
            "objects:\n  Lead:\n    required_defaults:\n      Company: [Acme]\n",
            ":4: objects.Lead.required_defaults.Company: ['Acme'] is not a single value",
            id="default-not-scalar",
        ),
        pytest.param("default_inbox: [1]\n", "default_inbox: [1] is not an inbox name or numeric id", id="bad-inbox"),
        pytest.param("guards:\n  max_delete_share: 1.5\n",
                     "guards.max_delete_share: 1.5 is out of range — use a value at most 1", id="share-range"),
        pytest.param("heymarket:\n  requests_per_minute: 600\n",
                     "heymarket.requests_per_minute: 600 is out of range — use a value at most 500",
                     id="above-rate-limit"),
        pytest.param("heymarket:\n  calls_in_flight: 3\n",
                     "heymarket.calls_in_flight: 3 is out of range — use a value at most 2", id="too-many-in-flight"),
        pytest.param("heymarket:\n  batch_size: lots\n", "heymarket.batch_size: 'lots' is not a whole number",
                     id="not-a-number"),
        pytest.param("objects:\n  Lead:\n    enabled: maybe\n",
                     "objects.Lead.enabled: 'maybe' is not a boolean — must be true or false", id="not-a-bool"),
        pytest.param("objects:\n  - Contact\n", "objects: is a list — must be a mapping of keys", id="list-for-map"),
        pytest.param(
            "objects:\n  Lead:\n    scope: all\n   phone_field: Phone\n",
            ":4: YAML syntax error, column 4:",
            id="yaml-syntax-with-line",
        ),
        pytest.param(
            "objects:\n  Lead:\n    scope: all\n    scope: list_view\n",
            ":4: key 'scope' appears twice (lines 3 and 4) — keep one of them",
            id="duplicate-key",
        ),
        pytest.param("", "the file is empty", id="empty-file"),
        pytest.param("- a\n- b\n", "the top level is a list, not a mapping of keys", id="top-level-list"),
    ],
)
def test_bad_config_message(tmp_path: Path, text: str, expected: str) -> None:
    error = problems_of(tmp_path, text)
    assert expected in str(error)
    assert len(error.problems) == 1, str(error)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    error = problems_of(tmp_path, """\
        default_region: ZZ
        objects:
          Lead:
            scope: list_view
            fields:
              - {salesforce: A__c, heymarket: X}
              - {salesforce: B__c, heymarket: X}
          Contact:
            scope: some
        """)
    paths = [p.path for p in error.problems]
    assert sorted(paths) == ["default_region", "objects.Contact.scope", "objects.Lead.fields[1].heymarket",
                             "objects.Lead.list_view"]
    assert str(error).startswith(f"Sync config {tmp_path / 'sync.yaml'} has 4 problems:")


def test_missing_file_names_path_and_shipped_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert f"{tmp_path / 'nope.yaml'}: file not found" in str(info.value)
    assert "include/mappings/sync.yaml" in str(info.value)


def test_object_config_rejects_unknown_object() -> None:
    with pytest.raises(KeyError, match="Account"):
        SyncConfig().object_config("Account")  # type: ignore[arg-type]


def test_config_is_immutable() -> None:
    config = load_config(SHIPPED)
    with pytest.raises(ValueError, match="frozen"):
        config.auto_create = "Lead"  # type: ignore[misc]
