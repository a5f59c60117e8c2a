"""SalesforceAccess against the Salesforce emulator over real TLS sockets, through an unmodified provider
``salesforce`` connection (SOAP password login)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from emulators.common import credentials
from emulators.common.client import AdminClient
from emulators.common.process import EmulatorProcess
from salesforce_access import (
    BudgetExhausted,
    FullResyncRequired,
    ListViewNotFound,
    SalesforceAccess,
    SalesforceAuthError,
    SessionExpiredError,
    TransientSalesforceError,
)

LOGGERS = ("simple_salesforce", "urllib3", "requests", "salesforce_access", "airflow")
FAST = {"backoff_initial": 0.01, "backoff_max": 0.05, "bulk_poll_seconds": 0.05, "record_retry_pause": 0.01}


def contacts(n: int, start: int = 0, **extra: object) -> list[dict[str, object]]:
    """*n* loadable Contacts with distinct names and phones (CA for even numbers, NY for odd)."""
    return [
        {
            "FirstName": f"First{i}",
            "LastName": f"Last{i}",
            "Phone": f"+1415555{i:04d}",
            "MailingState": "CA" if i % 2 == 0 else "NY",
            **extra,
        }
        for i in range(start, start + n)
    ]


def ids_of(dump: dict, sobject: str = "Contact", **match: object) -> set[str]:
    return {
        r["Id"]
        for r in dump[sobject]
        if not r.get("IsDeleted") and all(r.get(k) == v for k, v in match.items())
    }


@pytest.fixture
def access(salesforce_conn: str) -> SalesforceAccess:
    return SalesforceAccess(salesforce_conn, **FAST)


def flat(pages: Iterator[list[dict]]) -> list[dict]:
    return [record for page in pages for record in page]


# ------------------------------------------------------------------------------------------------ reads


def test_query_streams_pages_lazily(access: SalesforceAccess, sf_admin: AdminClient) -> None:
    sf_admin.load({"Contact": contacts(4500)})
    pages = access.iter_query("SELECT Id, LastName FROM Contact", batch_size=2000)
    first = next(pages)
    assert len(first) == 2000 and "attributes" not in first[0]
    assert access.api_calls.get("query_more", 0) == 0  # the next page is fetched only when asked for
    rest = list(pages)
    assert [len(p) for p in [first, *rest]] == [2000, 2000, 500]
    assert {r["Id"] for p in [first, *rest] for r in p} == ids_of(sf_admin.dump())
    assert access.api_calls["query"] == 1 and access.api_calls["query_more"] == 2
    assert access.api_calls["login"] == 1


def test_incremental_read_uses_systemmodstamp_with_overlap(
    access: SalesforceAccess, sf_admin: AdminClient
) -> None:
    since = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    sf_admin.load(
        {
            "Contact": [
                {"LastName": "Old", "SystemModstamp": "2025-06-01T11:50:00.000+0000"},
                {"LastName": "InOverlap", "SystemModstamp": "2025-06-01T11:57:00.000+0000"},
                {"LastName": "New", "SystemModstamp": "2025-06-01T13:00:00.000+0000"},
            ]
        }
    )
    names = {r["LastName"] for r in flat(access.iter_records("Contact", ["LastName"], since=since))}
    assert names == {"InOverlap", "New"}
    exact = flat(access.iter_records("Contact", ["LastName"], since=since, overlap=timedelta(0)))
    assert {r["LastName"] for r in exact} == {"New"}


def test_record_ids_scope_is_chunked(salesforce_conn: str, sf_admin: AdminClient) -> None:
    sf_admin.load({"Contact": contacts(30)})
    wanted = sorted(ids_of(sf_admin.dump()))[:7]
    access = SalesforceAccess(salesforce_conn, id_chunk_size=3, **FAST)
    records = flat(access.iter_records("Contact", ["Phone"], record_ids=[*wanted, wanted[0]]))
    assert sorted(r["Id"] for r in records) == wanted
    assert access.api_calls["query"] == 3  # 7 distinct ids in chunks of 3


CA_VIEW = {
    "SobjectType": "Contact",
    "DeveloperName": "CA_Contacts",
    "Label": "California Contacts",
    "WhereClause": "MailingState = 'CA' OR (MailingState = 'NY' AND LastName LIKE '%ORDER BY%')",
}


def test_list_view_scope_by_id_and_name_with_our_fields_and_watermark(
    access: SalesforceAccess, sf_admin: AdminClient
) -> None:
    sf_admin.load({"Contact": contacts(20), "ListView": [CA_VIEW]})
    later = "2099-01-01T00:00:00.000+0000"  # changed after the watermark below
    sf_admin.load(
        {"Contact": [{"LastName": "Tricky ORDER BY x", "MailingState": "NY", "SystemModstamp": later}]}
    )
    dump = sf_admin.dump()
    expected = ids_of(dump, MailingState="CA") | ids_of(dump, LastName="Tricky ORDER BY x")
    view_id = next(v["Id"] for v in dump["ListView"] if v["DeveloperName"] == "CA_Contacts")

    by_name = flat(access.iter_records("Contact", ["Phone", "Email", "SystemModstamp"], scope="CA_Contacts"))
    assert {r["Id"] for r in by_name} == expected
    assert set(by_name[0]) == {"Id", "Phone", "Email", "SystemModstamp"}  # our fields, not the view's
    by_id = flat(access.iter_records("Contact", ["Phone"], scope=view_id))
    assert {r["Id"] for r in by_id} == expected

    # a watermark after the first load keeps only the later record
    since = datetime.now(UTC) + timedelta(hours=1)
    newer = flat(access.iter_records("Contact", ["LastName"], scope="CA_Contacts", since=since))
    assert [r["LastName"] for r in newer] == ["Tricky ORDER BY x"]
    assert access.api_calls["listviews"] == 2  # one list + one describe: resolved views are cached


def test_in_list_view(access: SalesforceAccess, sf_admin: AdminClient) -> None:
    sf_admin.load({"Contact": contacts(10), "ListView": [CA_VIEW]})
    dump = sf_admin.dump()
    everyone = sorted(ids_of(dump))
    assert access.in_list_view("Contact", "CA_Contacts", everyone) == ids_of(dump, MailingState="CA")
    short = [i[:15] for i in everyone]
    assert access.in_list_view("Contact", "CA_Contacts", short) == {
        i[:15] for i in ids_of(dump, MailingState="CA")
    }


def test_unknown_list_view_is_a_clear_user_error(access: SalesforceAccess, sf_admin: AdminClient) -> None:
    sf_admin.load(
        {
            "ListView": [
                CA_VIEW,
                {**CA_VIEW, "DeveloperName": "NY_Contacts", "WhereClause": "MailingState = 'NY'"},
            ]
        }
    )
    with pytest.raises(ListViewNotFound) as caught:
        next(access.iter_records("Contact", ["Phone"], scope="Texas_Contacts"))
    assert "List view 'Texas_Contacts' not found on Contact; available: " in str(caught.value)
    assert "CA_Contacts" in str(caught.value) and "NY_Contacts" in str(caught.value)


def test_deleted_ids_window_and_full_resync(access: SalesforceAccess, sf_admin: AdminClient) -> None:
    sf_admin.load({"Contact": contacts(6)})
    doomed = sorted(ids_of(sf_admin.dump()))[:2]
    start = datetime.now(UTC)  # the emulator's delete log starts at its reset, just before this test
    assert all(r.success for r in access.delete(doomed))
    window = access.deleted_ids("Contact", start, datetime.now(UTC) + timedelta(minutes=1))
    assert sorted(window.ids) == doomed
    assert window.latest_date_covered is not None
    with pytest.raises(FullResyncRequired, match="Run a full sync of Contact"):
        access.deleted_ids("Contact", datetime.now(UTC) - timedelta(days=40), datetime.now(UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        access.deleted_ids("Contact", datetime(2025, 1, 1), datetime(2025, 1, 2))
    updated = access.updated_ids(
        "Contact", start - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1)
    )
    assert ids_of(sf_admin.dump()) <= set(updated.ids)
    assert access.api_calls["sobject"] == 3  # deleted twice (the second answers with the log start), updated


def test_describe_lead_phone_and_required_fields(access: SalesforceAccess) -> None:
    lead = access.describe("Lead")
    assert {"Phone", "MobilePhone"} <= set(lead.phone_fields())
    assert set(lead.required_on_create()) == {"Company", "LastName"}
    assert access.describe("lead") is lead
    assert access.api_calls["describe"] == 1
    contact = access.describe("Contact")
    assert "MailingAddress" in contact.fields and not contact.is_mappable("MailingAddress")
    assert contact.is_mappable("MailingCity")


# ------------------------------------------------------------------------------------------------ writes


def _write_scenario(access: SalesforceAccess, sf_admin: AdminClient) -> dict[str, list]:
    """Create 450 (3 without LastName), update them (2 bad emails), delete them (2 already gone)."""
    bad_creates = {5, 222, 449}
    new = [
        {"FirstName": f"N{i}", **({} if i in bad_creates else {"LastName": f"New{i}"})} for i in range(450)
    ]
    created = access.create("Contact", new)
    made = [r.id for r in created if r.success]

    bad_updates = {17, 301}
    changes = [
        {"Id": record_id, "Email": "not-an-email" if i in bad_updates else f"n{i}@example.com"}
        for i, record_id in enumerate(made)
    ]
    updated = access.update("Contact", changes)

    gone = {0, 446}
    access.delete([made[i] for i in gone])
    deleted = access.delete(made, sobject="Contact")
    return {
        "created": created,
        "updated": updated,
        "deleted": deleted,
        "made": made,
        "bad": [bad_creates, bad_updates, gone],
    }


def _check_write_scenario(result: dict[str, list], sf_admin: AdminClient) -> None:
    created, updated, deleted = result["created"], result["updated"], result["deleted"]
    bad_creates, bad_updates, gone = result["bad"]
    assert [r.index for r in created] == list(range(450))
    assert {r.index for r in created if not r.success} == bad_creates
    assert all(r.errors[0]["statusCode"] == "REQUIRED_FIELD_MISSING" for r in created if not r.success)
    assert {r.index for r in updated if not r.success} == bad_updates
    assert all(r.errors[0]["statusCode"] == "INVALID_EMAIL_ADDRESS" for r in updated if not r.success)
    assert [r.id for r in updated] == result["made"]
    assert {r.index for r in deleted if not r.success} == gone
    assert all(r.errors[0]["statusCode"] == "ENTITY_IS_DELETED" for r in deleted if not r.success)
    assert ids_of(sf_admin.dump()) == set()


def test_collections_writes_report_failures_at_their_index(
    access: SalesforceAccess, sf_admin: AdminClient
) -> None:
    result = _write_scenario(access, sf_admin)
    _check_write_scenario(result, sf_admin)
    assert access.api_calls["composite"] == 3 + 3 + 1 + 3
    assert "bulk2" not in access.api_calls


def test_bulk2_above_threshold_gives_the_same_results(salesforce_conn: str, sf_admin: AdminClient) -> None:
    access = SalesforceAccess(salesforce_conn, bulk_threshold=100, **FAST)
    result = _write_scenario(access, sf_admin)
    _check_write_scenario(result, sf_admin)
    assert access.api_calls["bulk2"] >= 3 * 4  # create, upload, close, poll(s), results per job
    assert access.api_calls["composite"] == 1  # only the 2-record delete stayed below the threshold


# ------------------------------------------------------------------------------------ budget and failures


def test_daily_budget_and_stopping_early(access: SalesforceAccess, sf_admin: AdminClient) -> None:
    sf_admin.faults(daily_api_budget=1000, daily_api_used=900)
    budget = access.daily_budget()
    assert budget.max == 1000 and 900 <= budget.used < 910 and budget.source == "limits"
    assert access.check_budget(50).remaining >= 90
    header = access.daily_budget(refresh=False)
    assert header.source == "header" and header.used >= budget.used
    sf_admin.faults(daily_api_used=990)
    with pytest.raises(BudgetExhausted, match="requests used") as caught:
        access.check_budget(50, refresh=True)
    assert caught.value.limit == 1000
    sf_admin.faults(daily_api_used=1000)
    with pytest.raises(BudgetExhausted, match="REQUEST_LIMIT_EXCEEDED"):
        next(access.iter_query("SELECT Id FROM Contact"))


def test_budget_reserve_stops_before_the_limit(salesforce_conn: str, sf_admin: AdminClient) -> None:
    access = SalesforceAccess(salesforce_conn, budget_reserve=20, **FAST)
    sf_admin.faults(daily_api_budget=1000, daily_api_used=970)
    access.describe("Contact")
    sf_admin.faults(daily_api_used=985)
    access.describe("Lead")  # this answer's header shows < 20 left
    with pytest.raises(BudgetExhausted):
        access.describe("Account")


def test_expired_session_logs_in_again(access: SalesforceAccess, sf_admin: AdminClient) -> None:
    sf_admin.load({"Contact": contacts(3)})
    assert len(flat(access.iter_query("SELECT Id FROM Contact"))) == 3
    sf_admin.faults(expire_sessions=True)
    assert len(flat(access.iter_query("SELECT Id FROM Contact"))) == 3
    sf_admin.faults(expire_sessions=True)
    access.bulk_threshold = 2  # Bulk 2.0 requests bypass simple-salesforce's own re-login
    results = access.create("Contact", [{"LastName": f"B{i}"} for i in range(3)])
    assert all(r.success for r in results)
    assert access.api_calls["login"] == 3


def _private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize("mode", ["password", "oauth_password", "jwt"])
def test_standard_connection_types_work_and_renew_expired_sessions(
    mode: str, sf_admin: AdminClient, salesforce_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unmodified provider connections: password + token (SOAP), OAuth password grant, JWT bearer."""
    from tests.conftest import salesforce_conn_json

    conn = json.loads(salesforce_conn_json(salesforce_emulator))
    token_url = f"127.0.0.1:{salesforce_emulator.port}/services/oauth2/token#"
    if mode == "oauth_password":
        conn["extra"] = {"consumer_key": "emu-key", "consumer_secret": "emu-secret", "domain": token_url}
    elif mode == "jwt":
        del conn["password"]
        conn["extra"] = {"consumer_key": "emu-key", "private_key": _private_key_pem(), "domain": token_url}
    monkeypatch.setenv("AIRFLOW_CONN_SF_MODE", json.dumps(conn))
    sf_admin.load({"Contact": contacts(5)})
    access = SalesforceAccess("sf_mode", **FAST)
    assert len(flat(access.iter_query("SELECT Id FROM Contact"))) == 5
    sf_admin.faults(expire_sessions=True)
    assert len(flat(access.iter_query("SELECT Id FROM Contact"))) == 5
    assert access.api_calls["login"] == 2


def test_expired_direct_session_raises_a_typed_error(
    access: SalesforceAccess,
    sf_admin: AdminClient,
    salesforce_emulator: EmulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    session_id = access._client().session_id
    monkeypatch.setenv(
        "AIRFLOW_CONN_SF_DIRECT",
        json.dumps(
            {
                "conn_type": "salesforce",
                "extra": {
                    "instance_url": salesforce_emulator.base_url,
                    "version": credentials.SALESFORCE_API_VERSION,
                },
            }
        ),
    )
    direct = SalesforceAccess(SalesforceHook("sf_direct", session_id=session_id), **FAST)
    assert direct.describe("Contact").name == "Contact"
    sf_admin.faults(expire_sessions=True)
    with pytest.raises(SessionExpiredError, match="pass a fresh session id"):
        direct.describe("Lead")
    assert "login" not in direct.api_calls


def test_5xx_burst_on_reads_is_retried(
    access: SalesforceAccess, sf_admin: AdminClient, all_logs: pytest.LogCaptureFixture
) -> None:
    caplog = all_logs
    sf_admin.load({"Contact": contacts(2500)})
    access.describe("Contact")  # logged in
    sf_admin.faults(fail_next=[500, 503], path_prefixes=["/services/data"])
    records = flat(access.iter_query("SELECT Id FROM Contact"))
    assert len(records) == 2500
    assert len([r for r in caplog.records if "retry" in r.getMessage()]) == 2
    pages = access.iter_query("SELECT Id FROM Contact")
    first = next(pages)
    sf_admin.faults(fail_next=[502])  # the query_more page fails once
    assert len(first) + len(flat(pages)) == 2500
    assert "read page 2 of Contact failed (502)" in caplog.text
    sf_admin.faults(error_rates={500: 1.0}, path_prefixes=[])
    with pytest.raises(TransientSalesforceError, match="HTTP 500"):
        access.describe("Lead")
    stats = sf_admin.stats()
    assert stats["injected_failures"]["500"] >= access.max_attempts


def test_writes_retry_only_what_was_provably_not_applied(
    access: SalesforceAccess, sf_admin: AdminClient
) -> None:
    composite = ["/services/data/v59.0/composite"]
    sf_admin.faults(fail_next=[409, 429], path_prefixes=composite)  # row lock, then concurrency limit
    created = access.create("Contact", [{"LastName": f"R{i}"} for i in range(3)])
    assert all(r.success for r in created)
    sf_admin.faults(fail_next=[503], path_prefixes=composite)
    updated = access.update("Contact", [{"Id": r.id, "Title": "T"} for r in created])  # idempotent
    assert all(r.success for r in updated)
    sf_admin.faults(fail_next=[500], path_prefixes=composite)
    with pytest.raises(TransientSalesforceError, match="HTTP 500"):
        access.create("Contact", [{"LastName": "Maybe"}])  # a 500 on a create is not blindly re-sent
    assert sf_admin.stats()["injected_failures"] == {"409": 1, "429": 1, "500": 1, "503": 1}
    assert len(ids_of(sf_admin.dump())) == 3


def test_bad_password_is_a_typed_auth_error(
    sf_admin: AdminClient, salesforce_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import salesforce_conn_json

    conn = json.loads(salesforce_conn_json(salesforce_emulator))
    conn["password"] = "wrong-" + credentials.SALESFORCE_PASSWORD
    monkeypatch.setenv("AIRFLOW_CONN_SF_BAD", json.dumps(conn))
    with pytest.raises(SalesforceAuthError, match="username, password and security token") as caught:
        SalesforceAccess("sf_bad", **FAST).describe("Contact")
    assert credentials.SALESFORCE_PASSWORD not in str(caught.value)


# ------------------------------------------------------------------------------------------------ secrets


@pytest.fixture
def all_logs(salesforce_conn: str, caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog at DEBUG for every logger, set up after Airflow configured logging.

    Airflow runs ``dictConfig`` when first used (it replaces the root handlers, caplog's included, and
    disables the loggers that exist at that moment), so trigger that first, then capture.
    """
    SalesforceAccess(salesforce_conn).hook.get_connection(salesforce_conn)
    root = logging.getLogger()
    if caplog.handler not in root.handlers:
        root.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and name.split(".")[0] in LOGGERS:
            logger.disabled = False
    return caplog


def test_no_secret_reaches_logs_errors_or_reprs(
    salesforce_conn: str,
    sf_admin: AdminClient,
    salesforce_emulator: EmulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.conftest import salesforce_conn_json

    caplog = all_logs

    # canary: prove this capture would see a leaked secret (nothing masks it before the check)
    logging.getLogger("canary").debug("leak %s", credentials.SALESFORCE_SECURITY_TOKEN)
    assert credentials.SALESFORCE_SECURITY_TOKEN in caplog.text
    caplog.clear()
    texts: list[str] = []
    sf_admin.load({"Contact": contacts(2100), "ListView": [CA_VIEW]})

    access = SalesforceAccess(salesforce_conn, bulk_threshold=50, **FAST)
    flat(access.iter_records("Contact", ["Phone"], scope="CA_Contacts"))
    session_ids = [access._client().session_id]
    created = access.create("Contact", [{"LastName": f"S{i}"} for i in range(60)] + [{"FirstName": "NoLast"}])
    access.update("Contact", [{"Id": r.id, "Email": "bad"} for r in created if r.success][:3])
    access.daily_budget()
    sf_admin.faults(expire_sessions=True)
    access.describe("Lead")
    texts += [repr(access), repr(created), repr(access.describe("Lead"))]
    session_ids.append(access._client().session_id)
    assert session_ids[0] != session_ids[1]

    failures: list[BaseException] = []
    for attempt in (
        lambda: next(access.iter_records("Contact", ["Phone"], scope="Nope")),
        lambda: next(access.iter_query("SELECT Nope__c FROM Contact")),
    ):
        try:
            attempt()
        except Exception as exc:  # noqa: BLE001 - collected to inspect their text
            failures.append(exc)
    conn = json.loads(salesforce_conn_json(salesforce_emulator))
    conn["extra"]["security_token"] = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_SF_BAD", json.dumps(conn))
    try:
        SalesforceAccess("sf_bad", **FAST).describe("Contact")
    except Exception as exc:  # noqa: BLE001
        failures.append(exc)
    assert len(failures) == 3
    for exc in failures:
        chain: BaseException | None = exc
        while chain is not None:
            texts += [str(chain), repr(chain)]
            chain = chain.__cause__ or chain.__context__

    texts.append(caplog.text)
    texts += list(capsys.readouterr())
    texts += [str(r.args) for r in caplog.records]
    loggers = {r.name.split(".")[0] for r in caplog.records}
    assert {"urllib3", "salesforce_access"} <= loggers, loggers
    assert "POST /services/Soap/u/" in caplog.text  # the logins themselves were captured
    everything = "\n".join(texts)
    for secret in (credentials.SALESFORCE_PASSWORD, credentials.SALESFORCE_SECURITY_TOKEN, *session_ids):
        assert secret not in everything
