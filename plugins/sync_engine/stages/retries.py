"""When a queued retry counts as due: shared by the extracts (which re-read such records) and the plan
(which holds back the writes whose retry is not due yet)."""

from __future__ import annotations

import datetime as dt

#: A queued retry that falls due this soon is taken now. Its backoff (one schedule interval) starts when
#: the failed batch is committed, minutes after its run started; without this slack the next scheduled
#: run would start just before the retry is due and the record would wait one more interval.
RETRY_DUE_SLACK = dt.timedelta(minutes=5)
#: ``due_retries(now=...)`` that lists every queued retry, due or not.
ALL_QUEUED = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
