"""The validate stage without Airflow: a plan made by the real plan stage, checked by the suite and the guards."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from sync_engine.config import SyncConfig
from sync_engine.stages.plan_stage import run_plan_stage
from sync_engine.stages.results import PlanResult
from sync_engine.stages.validate_stage import VALIDATION_FILE, ValidateRequest, guard_hold, run_validate_stage
from tests.unit.plan.test_plan_world import hm_frame, link_frame, sf_frame
from tests.unit.stages.configs import contacts_only
from tests.unit.stages.test_plan_stage import EXTRACTS, FakeFiles, FakeState, request
from tests.unit.test_settings import NOW, _queued

ANN = "003000000000001AAA"
BO = "003000000000002AAA"


class ReportFiles(FakeFiles):
    """The fake run folder, writable as text too (validate writes its report)."""

    def write_text(self, name: str, text: str) -> str:
        self.texts[name] = text
        return self.path(name)


def planned(tmp_path: Path, config: SyncConfig, *rows: dict[str, object]) -> tuple[ReportFiles, PlanResult]:
    """The plan of Salesforce *rows* (default: Ann, new, with a good phone) against an empty Heymarket."""
    salesforce = sf_frame(*(rows or ({"sf_id": ANN, "phone_raw": "(415) 555-0101", "first": "Ann"},)))
    files = ReportFiles(tmp_path / "run", {"sf_contact.parquet": salesforce, "hm.parquet": hm_frame()})
    state = FakeState(link_frame(), _queued({"action": "create_heymarket", "sf_id": "-"}).iloc[0:0])
    return files, run_plan_stage(request(), EXTRACTS, config, files, state, now=NOW)


def load(tmp_path: Path, extra: str = "") -> SyncConfig:
    return contacts_only(tmp_path, extra=textwrap.dedent(extra))


def test_a_valid_plan_passes_and_its_report_is_written(tmp_path: Path) -> None:
    config = load(tmp_path)
    files, plan = planned(tmp_path, config)
    lines: list[str] = []
    result = run_validate_stage(ValidateRequest(objects=("Contact",), dry_run=True), plan, EXTRACTS.salesforce,
                                config, files, progress=lines.append)

    assert result.success and result.failures == () and result.guard_trips == 0 and result.expectations > 0
    assert result.to_xcom() == {"success": True, "expectations": result.expectations}
    report = json.loads(files.texts[VALIDATION_FILE])
    assert report["guards"] == [] and report["expectations"]["success"] is True
    assert lines[0].startswith("Plan valid: ") and lines[1].startswith("Dry run: the apply tasks will write nothing")


def test_a_failed_expectation_fails_the_plan_and_is_no_guard_stop(tmp_path: Path) -> None:
    config = load(tmp_path)
    files, plan = planned(tmp_path, config, {"sf_id": "003C", "phone_raw": "(415) 555-0101", "first": "Ann"})
    result = run_validate_stage(ValidateRequest(objects=("Contact",)), plan, EXTRACTS.salesforce, config, files)

    assert not result.success and result.guard_trips == 0
    assert result.failures == ("create_heymarket: 1 of 1 rows have a Salesforce id that is not 15 or 18 letters and "
                               "digits: Contact 003C",)
    assert json.loads(files.texts[VALIDATION_FILE])["guards"] == []


def test_a_tripped_guard_fails_the_plan_and_the_report_says_which(tmp_path: Path) -> None:
    config = load(tmp_path, """\
        guards:
          max_invalid_phone_share: 0.1
          min_records_for_share_guards: 1
    """)
    files, plan = planned(tmp_path, config, {"sf_id": ANN, "phone_raw": "(415) 555-0101", "first": "Ann"},
                          {"sf_id": BO, "phone_raw": "12", "first": "Bo"})
    result = run_validate_stage(ValidateRequest(objects=("Contact",)), plan, EXTRACTS.salesforce, config, files)

    assert not result.success and result.guard_trips == 1 and len(result.failures) == 1
    assert result.message().startswith("The plan was not applied (nothing was written):\n- ")
    assert [g["guard"] for g in json.loads(files.texts[VALIDATION_FILE])["guards"]] == ["invalid_phone_share"]


def test_validate_wired_without_the_objects_extract_says_so(tmp_path: Path) -> None:
    config = load(tmp_path)
    files, plan = planned(tmp_path, config)
    with pytest.raises(ValueError, match="no Salesforce extract of Contact"):
        run_validate_stage(ValidateRequest(objects=("Contact",)), plan, EXTRACTS.salesforce[1:], config, files)
    assert VALIDATION_FILE not in files.texts


def test_guards_hold_back_everything_but_the_opt_outs_of_linked_pairs(tmp_path: Path) -> None:
    """Issue 15: an opt-out is never held back by a guard. Ann (linked) ticked her box while Bo's phone is
    unusable (the invalid-phone guard trips): the plan fails, but validate lets its one opt-out change through
    (``consent_only`` in the report and the XCom); a dry run of the same plan writes nothing, so it does not."""
    config = load(tmp_path, """\
        objects:
          Lead:
            enabled: false
          Contact:
            opt_out_field: SMS_Opt_Out__c
        guards:
          max_invalid_phone_share: 0.1
          min_records_for_share_guards: 1
    """)
    phone = "14155550101"
    keys = ("first", "last", "email", "opt_out")
    salesforce = sf_frame({"sf_id": ANN, "phone_raw": "(415) 555-0101", "first": "Ann", "opt_out": "true"},
                          {"sf_id": BO, "phone_raw": "12", "first": "Bo"}, keys=keys)
    heymarket = hm_frame({"hm_id": 7, "phone": phone, "first": "Ann", "opt_out": "false"}, keys=keys)
    links = link_frame({"sf_id": ANN, "hm_id": 7, "phone": phone, "synced": {"first": "Ann", "opt_out": "false"}},
                       keys=keys)
    files = ReportFiles(tmp_path / "run", {"sf_contact.parquet": salesforce, "hm.parquet": heymarket})
    state = FakeState(links, _queued({"action": "create_heymarket", "sf_id": "-"}).iloc[0:0])
    plan = run_plan_stage(request(), EXTRACTS, config, files, state, now=NOW)
    lines: list[str] = []

    result = run_validate_stage(ValidateRequest(objects=("Contact",)), plan, EXTRACTS.salesforce, config, files,
                                progress=lines.append)

    assert not result.success and result.guard_trips == 1 and result.consent_only and result.consent_writes == 1
    assert result.to_xcom()["consent_only"] == 1
    assert result.message().startswith("The plan was not applied: only its 1 opt-out change(s) are written")
    report = json.loads(files.texts[VALIDATION_FILE])
    assert report["consent_only"] == {"writes": 1} and guard_hold(files) == (report["guards"][0]["message"],)
    assert lines == [result.message()]

    dry = run_validate_stage(ValidateRequest(objects=("Contact",), dry_run=True), plan, EXTRACTS.salesforce,
                             config, files)
    assert not dry.success and not dry.consent_only and "consent_only" not in json.loads(files.texts[VALIDATION_FILE])
    assert guard_hold(files) is None
