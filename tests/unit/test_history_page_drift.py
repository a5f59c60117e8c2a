"""The Sync history page and its JSON show the drift after each run: in sync and held back, with the reasons.

Rows are ``hm_sync_run`` rows as ``StateStore.list_runs`` returns them; the JSON endpoint returns
``History.as_dict()`` as is (``sync_history.app``), the page is ``render_page``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from html import unescape

from sync_history.render import render_page
from sync_history.runs import History, summarise

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
WITH_DRIFT = {
    "Contact": {"to_heymarket": {"created": 3, "duplicate": 2},
                "state": {"linked": 3, "in_sync": 118, "out_of_sync": 2, "held_duplicate": 2, "held_retry": 1}},
    "Lead": {"state": {"in_sync": 40, "out_of_sync": 0}},
    "(heymarket)": {"to_heymarket": {"invalid": 4}, "state": {"held_invalid": 4}},
}
BEFORE_DRIFT = {"Contact": {"to_heymarket": {"updated": 5}}}


def row(run_id: str, counts: dict, dry_run: bool = False, status: str = "success") -> dict[str, object]:
    return {"run_id": run_id, "dag_id": "heymarket_sync", "trigger": "scheduled", "mode": "incremental",
            "objects": ["Contact", "Lead"], "dry_run": dry_run, "started_at": T0,
            "ended_at": T0 + dt.timedelta(seconds=40), "status": status, "counts": counts,
            "api_calls": {"heymarket": {"contacts": 3}}, "error_summary": None}


def cells(html: str, run_id: str) -> dict[str, tuple[str, str]]:
    """The drift cells of a run's row: name -> (text, tooltip)."""
    line = re.search(rf"<tr data-run-id=\"{re.escape(run_id)}\".*?</tr>", html, re.S)
    assert line is not None, run_id
    found = re.findall(r"<td class=\"n drift[^\"]*\" data-drift=\"([\w-]+)\"(?: title=\"([^\"]*)\")?>(.*?)</td>",
                       line.group(0))
    return {name: (re.sub(r"<[^>]+>", " ", text).split(), unescape(title)) for name, title, text in found}


def test_the_summary_sums_the_drift_over_objects_and_keeps_it_per_object() -> None:
    run = summarise(row("r1", WITH_DRIFT))
    assert (run.in_sync, run.out_of_sync, run.held_back) == (158, 2, 7)
    assert run.held_back_reasons == {"duplicate": 2, "invalid_phone": 4, "waiting_retry": 1}
    assert run.drift["Lead"] == {"in_sync": 40, "out_of_sync": 0, "held_back": 0, "held_back_reasons": {}}
    assert run.counts["Contact"] == {"created": 3, "updated": 0, "deleted": 0, "failed": 0}  # writes only
    old = summarise(row("r0", BEFORE_DRIFT))
    assert (old.in_sync, old.out_of_sync, old.held_back, old.held_back_reasons, old.drift) == (None, None, None,
                                                                                             {}, {})


def test_the_json_carries_the_drift() -> None:
    history = History(runs=[summarise(row("r1", WITH_DRIFT)), summarise(row("r0", BEFORE_DRIFT))])
    data = json.loads(json.dumps(history.as_dict()))  # what /sync-history/api/runs answers
    new, old = data["runs"]
    assert (new["in_sync"], new["out_of_sync"], new["held_back"]) == (158, 2, 7)
    assert new["held_back_reasons"] == {"duplicate": 2, "invalid_phone": 4, "waiting_retry": 1}
    assert new["drift"]["Contact"]["held_back_reasons"] == {"duplicate": 2, "waiting_retry": 1}
    assert (old["in_sync"], old["held_back"], old["drift"]) == (None, None, {})


def test_the_page_shows_in_sync_and_held_back_with_the_reasons() -> None:
    runs = [summarise(row("r1", WITH_DRIFT)), summarise(row("r0", BEFORE_DRIFT)),
            summarise(row("dry", WITH_DRIFT, dry_run=True, status="dry_run"))]
    html = render_page(History(runs=runs))
    assert ">In sync</th>" in html and ">Held back</th>" in html
    shown = cells(html, "r1")
    assert shown["in-sync"][0] == ["158", "2", "out", "of", "sync"]
    assert shown["in-sync"][1].startswith("158 linked pair(s) agree on every mapped value after the run; 2 do not")
    assert shown["held-back"] == (["7", "duplicate", "2,", "invalid", "phone", "4,", "waiting", "retry", "1"],
                                  "7 record(s) held back: duplicate 2, invalid phone 4, waiting retry 1")
    assert cells(html, "r0") == {"in-sync": (["–"], ""), "held-back": (["–"], "")}  # recorded before drift
    # a dry run's drift is the state after it (what it would write is out of sync), never "planned"
    assert cells(html, "dry")["in-sync"][0][0] == "158"
    assert not re.search(r"class=\"n planned[^\"]*\" data-drift", html)
    # every row has as many cells as the header
    header = re.search(r"<tr><th>Run id</th>.*?</tr>", html, re.S)
    assert header is not None
    width = header.group(0).count("<th")
    for run in runs:
        line = re.search(rf"<tr data-run-id=\"{run.run_id}\".*?</tr>", html, re.S)
        assert line is not None and line.group(0).count("<td") == width, run.run_id
