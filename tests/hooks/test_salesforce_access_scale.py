"""Paging at scale: 100,000 Contacts read completely through REST query pages (marked ``scale``)."""

from __future__ import annotations

import logging
import time

import pytest

from emulators.common.client import AdminClient
from salesforce_access import SalesforceAccess

log = logging.getLogger(__name__)

TOTAL = 100_000


@pytest.mark.scale
def test_reads_100k_contacts_in_50_pages(salesforce_conn: str, sf_admin: AdminClient) -> None:
    for start in range(0, TOTAL, 25_000):  # a few admin requests of moderate size
        sf_admin.load(
            {
                "Contact": [
                    {"LastName": f"Scale{i}", "Phone": f"+1212{i:07d}"} for i in range(start, start + 25_000)
                ]
            }
        )
    expected = {r["Id"] for r in sf_admin.dump()["Contact"]}
    assert len(expected) == TOTAL

    access = SalesforceAccess(salesforce_conn)
    began = time.monotonic()
    seen: list[str] = []
    pages = 0
    for page in access.iter_records("Contact", ["Phone", "SystemModstamp"]):
        pages += 1
        seen.extend(r["Id"] for r in page)
    elapsed = time.monotonic() - began

    assert len(seen) == TOTAL and set(seen) == expected  # complete, no duplicates, nothing extra
    query_calls = access.api_calls["query"] + access.api_calls["query_more"]
    assert pages == 50 and query_calls == 50
    log.warning(
        "read %d Contacts in %d pages, %d query calls, %.1f s; api_calls=%s",
        len(seen),
        pages,
        query_calls,
        elapsed,
        access.api_calls,
    )
