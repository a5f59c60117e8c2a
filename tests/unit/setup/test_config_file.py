"""Step 0, the config file: every problem with its line and fix."""

from __future__ import annotations

from sync_engine.config import (
    ConfigProblem,
)
from sync_engine.setup.config_file import config_step


def test_config_step_lists_every_problem_with_line_and_fix() -> None:
    ok = config_step("sync.yaml", [])
    assert ok.ok and ok.findings == ()
    bad = config_step(
        "sync.yaml",
        [ConfigProblem("objects.Lead.scope", "'x' is not allowed", "must be one of: all", line=7)],
    )
    assert bad.status == "failed"
    assert bad.findings[0].path == "objects.Lead.scope (line 7)"
    assert bad.findings[0].fix == "must be one of: all"
