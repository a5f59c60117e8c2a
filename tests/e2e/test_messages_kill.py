"""Kill ``heymarket_messages`` mid-upsert, for real (SIGKILL of the process running the DAG), and prove that the
next run leaves exactly one Task per message, and that the run after it writes nothing.

The kill point: Salesforce has answered the 2nd chunk of Tasks, the copy has not yet stored its pending rows
nor moved its watermark (``killable``'s ``tasks`` kill point). With ``write_batch: 2`` the first chunk's
watermark move has happened, the second's has not: the next run reads those messages again and upserts them
again, which must update the Tasks, not duplicate them.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.killable import Zygote
from tests.e2e.test_messages_dag import EXT, conversations, loaded_ids, people

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def zygote(airflow_db: Path, salesforce_emulator, heymarket_emulator,  # noqa: ANN001
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    import os

    zygote = Zygote(dict(os.environ), tmp_path_factory.mktemp("zygote") / "zygote.log")
    yield zygote
    zygote.close()


def test_a_run_killed_mid_upsert_and_the_next_run_leave_one_task_per_message(
    messages, zygote: Zygote, tmp_path: Path,  # noqa: ANN001
) -> None:
    sync = messages.sync
    people(sync)
    sync.write_config(lambda c: c["messages"].update(write_batch=2))
    sync.hm.load({"messages": conversations()})
    matched = [i for phone, ids in loaded_ids(sync).items() if phone != "14155550114" for i in ids]

    child = zygote.start_run(log_path=tmp_path / "killed.log", config_path=sync.config_path,
                             conf={"mode": "incremental", "dry_run": False}, dag_id="heymarket_messages",
                             die_after="tasks:2")
    assert child.wait() == -signal.SIGKILL, f"the child was not killed; see {child.log_path}"
    assert "dying after tasks chunk 2" in child.log_text()
    written = Counter(t[EXT] for t in messages.tasks())
    assert len(written) == 4 and set(written.values()) == {1}, "the kill should land after 4 Tasks"

    resumed = messages.run()
    assert str(resumed.state) == "success"
    per_message = Counter(t[EXT] for t in messages.tasks())
    assert per_message == Counter({str(i): 1 for i in matched})
    result = messages.copy_result(resumed)
    assert result["created"] == 2 and result["updated"] >= 2  # the unrecorded batch came again as updates
    abandoned = [r for r in sync.store().list_runs(dag_id="heymarket_messages") if r["run_id"] != resumed.run_id]
    assert [r["status"] for r in abandoned] == ["failed"]  # the killed run's history row was closed

    before = sync.sf.dump()["Task"]
    again = messages.copy_result(messages.run())
    assert (again["created"], again["updated"], again["read"]) == (0, 0, 0)
    assert sync.sf.dump()["Task"] == before
