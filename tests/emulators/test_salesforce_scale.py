"""100,000 Contacts: the admin load is fast and REST paging and Bulk 2.0 serve every record once.

The time limits are generous (a shared 2-core machine); they catch accidental quadratic behaviour
(re-running the query per page), not small slowdowns.
"""

from __future__ import annotations

import csv
import io
import time

import pytest
from simple_salesforce import Salesforce

from emulators.common import credentials
from emulators.common.client import AdminClient
from emulators.common.process import EmulatorProcess

pytestmark = pytest.mark.scale
N = 100_000


def test_hundred_thousand_contacts(salesforce_emulator: EmulatorProcess, sf_admin: AdminClient) -> None:
    records = [
        {
            "LastName": f"Last{i:06d}",
            "FirstName": "Pat",
            "Phone": f"+1415{i:07d}",
            "Email": f"p{i}@example.com",
            "MailingState": "CA" if i % 4 else "NV",
        }
        for i in range(N)
    ]
    started = time.monotonic()
    assert sf_admin.load({"Contact": records}) == {"Contact": N}
    assert time.monotonic() - started < 30

    sf = Salesforce(
        username=credentials.SALESFORCE_USERNAME,
        password=credentials.SALESFORCE_PASSWORD,
        security_token=credentials.SALESFORCE_SECURITY_TOKEN,
        domain=f"127.0.0.1:{salesforce_emulator.port}/services/Soap/u/59.0#",
        version="59.0",
    )
    started = time.monotonic()
    used_before = sf.limits()["DailyApiRequests"]["Remaining"]
    ids = [r["Id"] for r in sf.query_all_iter("SELECT Id, Name, Phone, SystemModstamp FROM Contact")]
    assert len(ids) == N and len(set(ids)) == N
    assert time.monotonic() - started < 60
    # 50 pages of 2,000 = 50 API calls (+1 for the limits call itself)
    assert used_before - sf.limits()["DailyApiRequests"]["Remaining"] == 51

    pages = list(sf.bulk2.Contact.query("SELECT Id, Phone FROM Contact WHERE MailingState = 'CA'", wait=0))
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(pages) == 2 and len(rows) == N * 3 // 4
    assert sf.query("SELECT COUNT() FROM Contact WHERE MailingState = 'NV'")["totalSize"] == N // 4
