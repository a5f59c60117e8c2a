"""Bad input gets the real Salesforce error (never a 500), and the admin fault knobs behave as documented:
latency, error rates, fail-next, session expiry (simple-salesforce logs in again) and the daily budget."""

from __future__ import annotations

import os
import time

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from emulators.common import credentials
from emulators.common.client import AdminClient
from emulators.common.process import EmulatorProcess

API = "/services/data/v59.0"


def login(emu: EmulatorProcess, password: str = credentials.SALESFORCE_PASSWORD) -> Salesforce:
    return Salesforce(
        username=credentials.SALESFORCE_USERNAME,
        password=password,
        security_token=credentials.SALESFORCE_SECURITY_TOKEN,
        domain=f"127.0.0.1:{emu.port}/services/Soap/u/59.0#",
        version="59.0",
    )


@pytest.fixture
def sf(salesforce_emulator: EmulatorProcess, sf_admin: AdminClient) -> Salesforce:
    return login(salesforce_emulator)


def raw(emu: EmulatorProcess, method: str, path: str, token: str | None, **kw: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))  # type: ignore[arg-type]
    url = emu.base_url + path
    return requests.request(method, url, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


# --- authentication ------------------------------------------------------------------------------


def test_wrong_password_is_invalid_login(salesforce_emulator: EmulatorProcess, sf_admin: AdminClient) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        login(salesforce_emulator, password="wrong")
    assert err.value.code == "INVALID_LOGIN"
    assert err.value.auth_message == "Invalid username, password, security token; or user locked out."


def test_hook_test_connection_reports_bad_credentials(
    salesforce_conn: str, sf_admin: AdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    good = os.environ[f"AIRFLOW_CONN_{salesforce_conn.upper()}"]
    monkeypatch.setenv("AIRFLOW_CONN_SF_BAD", good.replace(credentials.SALESFORCE_PASSWORD, "nope"))
    ok, message = SalesforceHook(salesforce_conn_id="sf_bad").test_connection()
    assert ok is False and "INVALID_LOGIN" in message
    assert credentials.SALESFORCE_PASSWORD not in message


def test_oauth_password_flow(salesforce_emulator: EmulatorProcess, sf_admin: AdminClient) -> None:
    domain = f"127.0.0.1:{salesforce_emulator.port}/services/oauth2/token#"
    token, instance = SalesforceLogin(
        username=credentials.SALESFORCE_USERNAME,
        password=credentials.SALESFORCE_PASSWORD,
        consumer_key="key",
        consumer_secret="secret",
        domain=domain,
    )
    assert instance == f"127.0.0.1:{salesforce_emulator.port}"
    sf = Salesforce(session_id=token, instance_url=f"https://{instance}", version="59.0")
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 1
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        SalesforceLogin(
            username=credentials.SALESFORCE_USERNAME,
            password="bad",
            consumer_key="key",
            consumer_secret="secret",
            domain=domain,
        )
    assert err.value.code == "invalid_grant"


def test_bad_session_token(salesforce_emulator: EmulatorProcess, sf_admin: AdminClient) -> None:
    resp = raw(salesforce_emulator, "GET", f"{API}/limits", "00D000000000001!bogus")
    assert resp.status_code == 401
    assert resp.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert raw(salesforce_emulator, "GET", f"{API}/limits", None).status_code == 401
    direct = Salesforce(session_id="00D000000000001!bogus", instance_url=salesforce_emulator.base_url)
    with pytest.raises(SalesforceExpiredSession):  # a direct session is never refreshed
        direct.query("SELECT Id FROM Contact")


# --- bad requests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Id FRM Contact", "MALFORMED_QUERY", "unexpected token: 'FRM'"),
        ("SELECT Id, Foo FROM Contact", "INVALID_FIELD", "No such column 'Foo' on entity 'Contact'"),
        ("SELECT Id FROM Foo", "INVALID_TYPE", "sObject type 'Foo' is not supported."),
    ],
)
def test_bad_soql_through_the_hook(
    salesforce_conn: str, sf_admin: AdminClient, soql: str, code: str, fragment: str
) -> None:
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    with pytest.raises(SalesforceMalformedRequest) as err:
        SalesforceHook(salesforce_conn_id=salesforce_conn).make_query(soql)
    assert err.value.status == 400
    assert err.value.content[0]["errorCode"] == code and fragment in err.value.content[0]["message"]


def test_malformed_bodies_and_paths(sf: Salesforce, salesforce_emulator: EmulatorProcess) -> None:
    token = sf.session_id
    emu = salesforce_emulator
    bad_json = raw(
        emu,
        "POST",
        f"{API}/sobjects/Contact/",
        token,
        data=b'{"LastName": ',
        headers={"Content-Type": "application/json"},
    )
    assert bad_json.status_code == 400 and bad_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    array = raw(emu, "POST", f"{API}/sobjects/Contact", token, json=[{"LastName": "x"}])
    assert array.status_code == 400 and array.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    empty = raw(emu, "POST", f"{API}/composite/sobjects", token, data=b"")
    assert empty.status_code == 400 and empty.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    not_found = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    for path in (
        "/nothing/here",
        f"{API}/nowhere",
        "/services/data/v10.0/limits",
        f"{API}/sobjects/Foo/describe",
    ):
        resp = raw(emu, "GET", path, token)
        assert (resp.status_code, resp.json()) == (404, not_found), path
    wrong_method = raw(emu, "PUT", f"{API}/limits", token)
    assert wrong_method.status_code == 405 and wrong_method.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    no_q = raw(emu, "GET", f"{API}/query/", token)
    assert no_q.status_code == 400 and no_q.json()[0]["errorCode"] == "MALFORMED_QUERY"
    bad_locator = raw(emu, "GET", f"{API}/query/01g000000000000AAA-2000", token)
    assert bad_locator.status_code == 400 and bad_locator.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    bad_window = raw(
        emu, "GET", f"{API}/sobjects/Contact/updated/", token, params={"start": "yesterday", "end": "today"}
    )
    assert bad_window.status_code == 400 and bad_window.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    bad_job = raw(emu, "POST", f"{API}/jobs/ingest", token, json={"object": "Contact", "operation": "merge"})
    assert bad_job.status_code == 400 and bad_job.json()[0]["errorCode"] == "INVALIDJOB"


def test_daily_budget_exhausted(sf: Salesforce, sf_admin: AdminClient) -> None:
    sf.limits()
    sf_admin.faults(daily_api_budget=20, daily_api_used=19)
    sf.query("SELECT Id FROM Contact")  # the 20th call of the day still passes
    assert (sf.api_usage["api-usage"].used, sf.api_usage["api-usage"].total) == (20, 20)
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Contact")
    assert err.value.status == 403
    assert err.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert sf_admin.dump()["limits"]["DailyApiRequests"] == {"Max": 20, "Used": 20, "Remaining": 0}
    sf_admin.faults(daily_api_budget=100)
    assert sf.limits()["DailyApiRequests"] == {"Max": 100, "Remaining": 79}


def test_admin_load_rejects_bad_records(sf_admin: AdminClient) -> None:
    def load_error(payload: dict) -> str:
        with pytest.raises(requests.HTTPError) as err:
            sf_admin.load(payload)
        assert err.value.response.status_code == 400
        return err.value.response.json()["detail"]

    assert "no field 'Foo'" in load_error({"Contact": [{"LastName": "x", "Foo": 1}]})
    assert "Required fields are missing: [LastName]" in load_error({"Contact": [{"FirstName": "x"}]})
    assert "Cannot deserialize instance of boolean" in load_error(
        {"Contact": [{"LastName": "x", "DoNotCall": "perhaps"}]}
    )
    assert "unknown load keys" in load_error({"Opportunity": []})
    assert "unexpected token: 'CA'" in load_error(
        {"ListView": [{"SobjectType": "Contact", "DeveloperName": "Bad", "WhereClause": "MailingState CA"}]}
    )
    assert "No such column 'State'" in load_error(
        {"ListView": [{"SobjectType": "Contact", "DeveloperName": "Bad", "WhereClause": "State = 'CA'"}]}
    )
    # a load is all or nothing: the good Contact is not kept when the list view is rejected
    assert "WhereClause" in load_error(
        {
            "Contact": [{"LastName": "Kept?"}],
            "ListView": [{"SobjectType": "Contact", "DeveloperName": "Bad", "WhereClause": "Foo = 1"}],
        }
    )
    assert "Username is unique" in load_error(
        {
            "User": [
                {
                    "Username": credentials.SALESFORCE_USERNAME.upper(),
                    "LastName": "Twin",
                    "Email": "t@example.com",
                    "Alias": "twin",
                    "TimeZoneSidKey": "GMT",
                    "LocaleSidKey": "en_US",
                    "EmailEncodingKey": "UTF-8",
                    "LanguageLocaleKey": "en_US",
                    "ProfileId": "00e5g000000HmSy",
                }
            ]
        }
    )
    loaded = sf_admin.load(
        {
            "Contact": [
                {"LastName": "Binned", "IsDeleted": True, "SystemModstamp": "2024-05-01T12:00:00.000+0000"}
            ]
        }
    )
    assert loaded == {"Contact": 1}
    dump = sf_admin.dump()
    assert [(c["LastName"], c["IsDeleted"]) for c in dump["Contact"]] == [("Binned", True)]
    assert dump["Contact"][0]["SystemModstamp"] == "2024-05-01T12:00:00.000+0000"
    assert {"User", "PermissionSet", "ListView", "FieldDefinition", "DuplicateRule", "limits"} <= set(dump)


# --- faults --------------------------------------------------------------------------------------


def test_latency(sf: Salesforce, sf_admin: AdminClient) -> None:
    sf_admin.faults(latency_ms=300)
    started = time.monotonic()
    sf.limits()
    assert time.monotonic() - started >= 0.3
    sf_admin.faults(latency_ms=0)


def test_fail_next_and_error_rates(sf: Salesforce, sf_admin: AdminClient) -> None:
    sf_admin.faults(fail_next=[503, 500])
    with pytest.raises(SalesforceGeneralError) as first:
        sf.query("SELECT Id FROM Contact")
    assert first.value.status == 503 and first.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    with pytest.raises(SalesforceGeneralError) as second:
        sf.query("SELECT Id FROM Contact")
    assert second.value.status == 500 and second.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert sf.query("SELECT Id FROM Contact")["done"] is True

    sf_admin.faults(error_rates={"503": 1.0}, path_prefixes=[f"{API}/sobjects"])
    assert sf.query("SELECT Id FROM Contact")["done"] is True  # outside the prefix
    with pytest.raises(SalesforceGeneralError):
        sf.Contact.describe()
    sf_admin.faults(error_rates={}, path_prefixes=[])
    assert sf.Contact.describe()["name"] == "Contact"
    stats = sf_admin.stats()
    assert stats["injected_failures"] == {"500": 1, "503": 2}
    assert stats["by_endpoint"]["GET /services/data/v{version}/query"] == 2  # the calls that got through
    assert stats["by_status"]["503"] == 2 and stats["by_status"]["500"] == 1


def test_expired_sessions_are_refreshed_by_simple_salesforce(
    sf: Salesforce, sf_admin: AdminClient, salesforce_emulator: EmulatorProcess
) -> None:
    old = sf.session_id
    sf_admin.faults(expire_sessions=True)
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0  # 401, log in again, retry
    assert sf.session_id != old
    assert raw(salesforce_emulator, "GET", f"{API}/limits", old).status_code == 401
    assert sf_admin.dump()["sessions"] >= 1
    assert sf_admin.faults()["expire_sessions"] is False  # one shot

    sf_admin.faults(fail_next=[401])
    assert sf.limits()["DailyApiRequests"]["Max"] == 15000  # an injected 401 is refreshed the same way
