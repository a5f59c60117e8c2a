"""The emulator's SOQL grammar and evaluator, without a server: parse trees, real error messages, and
query results over a small in-memory org."""

from __future__ import annotations

import datetime as dt

import pytest

from emulators.salesforce import soql
from emulators.salesforce.soql import BoolOp, Comparison, CountAll, Not, SoqlError, parse, parse_condition
from emulators.salesforce.soql_eval import compile_query
from emulators.salesforce.store import OrgStore

NOW = dt.datetime(2024, 5, 15, 12, 0, tzinfo=dt.UTC)  # a Wednesday


# --- parsing -------------------------------------------------------------------------------------


def test_parses_every_clause() -> None:
    q = parse(
        "select Id, Owner.Name from contact using scope mine where (a = 1 or b = 'x') and not c like '%a' "
        "order by Name desc nulls first, Id limit 10 offset 5"
    )
    assert [f.path for f in q.select] == [("Id",), ("Owner", "Name")]
    assert q.sobject == "contact" and q.scope == "mine" and q.limit == 10 and q.offset == 5
    assert isinstance(q.where, BoolOp) and q.where.op == "and"
    inner_or, negated = q.where.items
    assert isinstance(inner_or, BoolOp) and inner_or.op == "or"
    assert isinstance(negated, Not) and isinstance(negated.item, Comparison) and negated.item.op == "like"
    assert [(o.field.text, o.descending, o.nulls_last) for o in q.order_by] == [
        ("Name", True, False),
        ("Id", False, False),
    ]


def test_literals_have_their_types() -> None:
    cond = parse_condition(
        "A = 'O\\'Brien' AND B = -1.5 AND C = 2024-01-01T00:00:00.000+0100 AND D = 2024-02-29 AND E = TRUE "
        "AND F = null AND G = LAST_N_DAYS:7 AND H IN ('x', 'y') AND I NOT IN (1, 2)"
    )
    assert isinstance(cond, BoolOp)
    values = [(c.op, [(v.kind, v.value) for v in c.values]) for c in cond.items]
    assert values == [
        ("=", [("string", "O'Brien")]),
        ("=", [("number", -1.5)]),
        ("=", [("datetime", dt.datetime(2023, 12, 31, 23, 0, tzinfo=dt.UTC))]),
        ("=", [("date", dt.date(2024, 2, 29))]),
        ("=", [("boolean", True)]),
        ("=", [("null", None)]),
        ("=", [("date_literal", ("LAST_N_DAYS", 7))]),
        ("in", [("string", "x"), ("string", "y")]),
        ("notin", [("number", 1), ("number", 2)]),
    ]


def test_count_and_keywords_are_case_insensitive() -> None:
    q = parse("sElEcT cOuNt() FrOm Lead WhErE IsConverted = FaLsE")
    assert q.select == (CountAll(),)


@pytest.mark.parametrize(
    ("query", "detail", "column"),
    [
        ("SELECT Id FRM Contact", "unexpected token: 'FRM'", 11),
        ("SELECT Id, FROM Contact", "unexpected token: 'FROM'", 12),
        ("SELECT Id FROM Contact WHERE", "unexpected token: <EOF>", None),
        ("SELECT Id FROM Contact WHERE a = 1 AND b = 2 OR c = 3", "unexpected token: 'OR'", 46),
        ('SELECT Id FROM Contact WHERE Name = "x"', "unexpected token: '\"'", 37),
        ("SELECT Id FROM Contact GROUP BY Name", "unexpected token: 'GROUP'", 24),
        (
            "SELECT Id FROM Contact WHERE CreatedDate = LAST_FORTNIGHT",
            "unexpected token: 'LAST_FORTNIGHT'",
            44,
        ),
        ("SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS", "unexpected token: 'LAST_N_DAYS'", 44),
    ],
)
def test_syntax_errors_look_like_salesforce(query: str, detail: str, column: int | None) -> None:
    with pytest.raises(SoqlError) as err:
        parse(query)
    assert err.value.code == "MALFORMED_QUERY"
    assert err.value.message.endswith(detail)
    if column is not None:
        assert f"ERROR at Row:1:Column:{column}" in err.value.message
        caret_line = err.value.message.split("\n")[2]
        assert caret_line == " " * (column - 1) + "^"


def test_empty_query_is_malformed() -> None:
    with pytest.raises(SoqlError, match="<EOF>"):
        parse("   ")


# --- evaluation ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def org() -> OrgStore:
    store = OrgStore()
    store.load(
        {
            "Account": [{"Id": "0015g00000AcmeA", "Name": "Acme"}],
            "Contact": [
                {
                    "LastName": "Adams",
                    "FirstName": "Ann",
                    "Phone": "+14155550101",
                    "MailingState": "CA",
                    "AccountId": "0015g00000AcmeA",
                    "Birthdate": "1990-05-15",
                    "SMS_Opt_Out__c": True,
                    "CreatedDate": "2024-05-15T08:00:00Z",
                },
                {
                    "LastName": "baker",
                    "FirstName": "Bob",
                    "MobilePhone": "+14155550102",
                    "MailingState": "NY",
                    "CreatedDate": "2024-05-13T08:00:00Z",
                },
                {
                    "LastName": "Clark",
                    "Email": "c@example.com",
                    "MailingState": None,
                    "CreatedDate": "2024-04-01T08:00:00Z",
                },
                {
                    "LastName": "Davis",
                    "Phone": "+14155550104",
                    "MailingState": "CA",
                    "IsDeleted": True,
                    "CreatedDate": "2024-05-01T08:00:00Z",
                },
            ],
        }
    )
    return store


def run(org: OrgStore, query: str, include_deleted: bool = False) -> list[dict]:
    compiled = compile_query(parse(query), org, user_id=org.integration_user_id, now=NOW)
    rows = compiled.run(org.live(compiled.obj, include_deleted=include_deleted))
    return [compiled.render(r, "59.0") for r in rows]


def last_names(rows: list[dict]) -> list[str]:
    return [r["LastName"] for r in rows]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("MailingState = 'ca'", ["Adams"]),  # text comparison ignores case
        ("MailingState != 'CA'", ["baker", "Clark"]),  # != keeps nulls
        ("MailingState = null", ["Clark"]),
        ("MailingState = ''", ["Clark"]),  # '' means null in SOQL
        ("Email != ''", ["Clark"]),
        ("AccountId = ''", ["baker", "Clark"]),
        ("MailingState != null AND NOT MailingState = 'NY'", ["Adams"]),
        ("(MailingState = 'NY' OR Email != null) AND LastName LIKE '%a%'", ["baker", "Clark"]),
        ("LastName LIKE 'B_KER'", ["baker"]),
        ("LastName IN ('ADAMS', 'clark')", ["Adams", "Clark"]),
        ("LastName NOT IN ('ADAMS', 'clark')", ["baker"]),
        ("SMS_Opt_Out__c = true", ["Adams"]),
        ("Birthdate < 2000-01-01", ["Adams"]),
        ("CreatedDate >= 2024-05-13T00:00:00Z", ["Adams", "baker"]),
        ("CreatedDate = TODAY", ["Adams"]),
        ("CreatedDate = THIS_WEEK", ["Adams", "baker"]),
        ("CreatedDate = LAST_N_DAYS:30", ["Adams", "baker"]),
        ("CreatedDate < LAST_N_DAYS:30", ["Clark"]),
        ("CreatedDate = YESTERDAY", []),
        ("Full_Phone_Display__c LIKE '%0102'", ["baker"]),
        ("Name = 'ann adams'", ["Adams"]),
        ("Account.Name = 'Acme'", ["Adams"]),
        ("AccountId = '0015g00000AcmeA'", ["Adams"]),  # 15-character ids match their 18-character form
    ],
)
def test_where_semantics(org: OrgStore, where: str, expected: list[str]) -> None:
    assert (
        sorted(last_names(run(org, f"SELECT LastName FROM Contact WHERE {where}")), key=str.lower) == expected
    )


def test_query_hides_deleted_and_query_all_shows_them(org: OrgStore) -> None:
    assert "Davis" not in last_names(run(org, "SELECT LastName FROM Contact"))
    rows = run(org, "SELECT LastName, IsDeleted FROM Contact WHERE IsDeleted = true", include_deleted=True)
    assert [(r["LastName"], r["IsDeleted"]) for r in rows] == [("Davis", True)]


def test_order_by_nulls_limit_offset(org: OrgStore) -> None:
    q = "SELECT LastName, MailingState FROM Contact ORDER BY MailingState ASC NULLS LAST, LastName DESC"
    assert last_names(run(org, q)) == ["Adams", "baker", "Clark"]
    assert last_names(run(org, "SELECT LastName FROM Contact ORDER BY MailingState DESC")) == [
        "baker",
        "Adams",
        "Clark",
    ]
    assert last_names(run(org, "SELECT LastName FROM Contact ORDER BY MailingState")) == [
        "Clark",
        "Adams",
        "baker",
    ]
    assert last_names(run(org, "SELECT LastName FROM Contact ORDER BY LastName LIMIT 1 OFFSET 1")) == [
        "baker"
    ]


def test_render_shape(org: OrgStore) -> None:
    (row,) = run(
        org,
        "SELECT id, name, createddate, Owner.Alias, Account.Name, MailingAddress, Birthdate "
        "FROM Contact WHERE LastName = 'Adams'",
    )
    assert list(row) == [
        "attributes",
        "Id",
        "Name",
        "CreatedDate",
        "Owner",
        "Account",
        "MailingAddress",
        "Birthdate",
    ]  # canonical field names, in SELECT order
    assert row["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v59.0/sobjects/Contact/{row['Id']}",
    }
    assert row["Name"] == "Ann Adams"
    assert row["CreatedDate"] == "2024-05-15T08:00:00.000+0000"
    assert row["Owner"]["Alias"] == "integ" and row["Owner"]["attributes"]["type"] == "User"
    assert row["Account"]["Name"] == "Acme"
    assert row["MailingAddress"]["state"] == "CA" and row["Birthdate"] == "1990-05-15"


@pytest.mark.parametrize(
    ("query", "code", "detail"),
    [
        ("SELECT Foo FROM Contact", "INVALID_FIELD", "No such column 'Foo' on entity 'Contact'"),
        (
            "SELECT Id FROM Contact WHERE Foo__c = 1",
            "INVALID_FIELD",
            "No such column 'Foo__c' on entity 'Contact'",
        ),
        ("SELECT Id FROM Foo", "INVALID_TYPE", "sObject type 'Foo' is not supported."),
        ("SELECT Boss.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Boss'"),
        (
            "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-01",
            "INVALID_FIELD",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Contact WHERE LastName = 5",
            "INVALID_FIELD",
            "must be of type string and should be enclosed in quotes",
        ),
        ("SELECT Id FROM Contact WHERE DoNotCall = 'true'", "INVALID_FIELD", "must be of type boolean"),
        ("SELECT Id FROM Contact WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc"),
        ("SELECT Id FROM Contact WHERE Description = 'x'", "INVALID_FIELD", "can not be filtered"),
        ("SELECT Id FROM Contact ORDER BY MailingAddress", "INVALID_FIELD", "can not be sorted"),
        ("SELECT Id, id FROM Contact", "MALFORMED_QUERY", "duplicate field selected: Id"),
        ("SELECT Id FROM Contact OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset"),
        ("SELECT COUNT(), Id FROM Contact", "MALFORMED_QUERY", "COUNT()"),
        ("SELECT FIELDS(ALL) FROM Contact", "MALFORMED_QUERY", "LIMIT of at most 200"),
    ],
)
def test_semantic_errors(org: OrgStore, query: str, code: str, detail: str) -> None:
    with pytest.raises(SoqlError) as err:
        run(org, query)
    assert err.value.code == code
    assert detail in err.value.message


def test_count_and_fields_function(org: OrgStore) -> None:
    compiled = compile_query(
        parse("SELECT COUNT() FROM Contact WHERE MailingState != null"),
        org,
        user_id=org.integration_user_id,
        now=NOW,
    )
    assert compiled.mode == "count" and len(compiled.run(org.live(compiled.obj))) == 2
    (row,) = run(org, "SELECT FIELDS(STANDARD) FROM Contact WHERE LastName = 'Adams'")
    assert row["Phone"] == "+14155550101" and "SMS_Opt_Out__c" not in row
    (row,) = run(org, "SELECT FIELDS(CUSTOM) FROM Contact WHERE LastName = 'Adams' LIMIT 1")
    assert row["SMS_Opt_Out__c"] is True and "Phone" not in row


def test_using_scope_mine_filters_on_owner(org: OrgStore) -> None:
    compiled = compile_query(
        parse("SELECT Id FROM Contact USING SCOPE mine"), org, user_id="005000000000001AAA", now=NOW
    )
    assert compiled.run(org.live(compiled.obj)) == []
    assert len(run(org, "SELECT Id FROM Contact USING SCOPE mine")) == 3


def test_date_literal_ranges_start_weeks_on_sunday() -> None:
    from emulators.salesforce.soql_eval import _date_range

    today = dt.date(2024, 5, 15)
    assert _date_range("THIS_WEEK", None, today) == (dt.date(2024, 5, 12), dt.date(2024, 5, 19))
    assert _date_range("LAST_MONTH", None, today) == (dt.date(2024, 4, 1), dt.date(2024, 5, 1))
    assert _date_range("N_DAYS_AGO", 3, today) == (dt.date(2024, 5, 12), dt.date(2024, 5, 13))
    assert set(soql.DATE_LITERALS) >= {"TODAY", "YESTERDAY", "THIS_WEEK", "LAST_N_DAYS"}


# --- robustness: any text gives a Query or a SoqlError, never anything else --------------------

_WORDS = [
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "LIMIT",
    "OFFSET",
    "NULLS",
    "FIRST",
    "ASC",
    "DESC",
    "Id",
    "Name",
    "Phone",
    "Contact",
    "Lead",
    "Owner.Name",
    "COUNT()",
    "(",
    ")",
    ",",
    "=",
    "!=",
    "<",
    ">=",
    "'x'",
    "'%a_'",
    "1",
    "-2.5",
    "2024-01-01",
    "2024-01-01T00:00:00Z",
    "TODAY",
    "LAST_N_DAYS:3",
    "null",
    "true",
    "USING",
    "SCOPE",
    "mine",
    '"',
    "\\",
    "Foo__c",
    ".",
]


def test_fuzzed_queries_fail_cleanly(org: OrgStore) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    texts = st.one_of(
        st.lists(st.sampled_from(_WORDS), max_size=14).map(" ".join),
        st.lists(st.sampled_from(_WORDS), max_size=10).map(
            lambda w: "SELECT Id FROM Contact WHERE " + " ".join(w)
        ),
        st.text(max_size=60),
    )

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(texts)
    def check(text: str) -> None:
        try:
            run(org, text)
        except SoqlError as exc:
            assert exc.code and exc.message

    check()
