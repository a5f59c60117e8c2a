"""What the DAGs that call the APIs share: their start date, retry policy and the API pools.

One place, so the sync and the messages DAG cannot drift apart on how a task retries a failed API call.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

#: The first date a DAG may be scheduled from (catchup is off, so no past run is ever started).
START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: One Heymarket writer at a time (500 requests/minute per API key); created by the deployment (docker-compose).
HEYMARKET_POOL = "heymarket_api"


def api_task_defaults() -> dict[str, Any]:
    """``default_args`` of a task calling the APIs: retried with back-off (a brief outage passes, a long one
    fails the run within about 15 minutes), a fresh dict each time as Airflow mutates it."""
    return {
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=10),
    }
