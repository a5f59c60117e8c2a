"""Step 2, default inbox: named or by id, unknown, none visible."""

from __future__ import annotations

import pytest

from sync_engine.setup.default_inbox import default_inbox_step
from tests.unit.setup.data import INBOXES


@pytest.mark.parametrize(
    ("configured", "status", "severities"),
    [
        ("Sales", "ok", ["info", "ok"]),
        ("9002", "ok", ["info", "ok"]),
        ("sales", "ok", ["info", "ok", "warning"]),
        (None, "ok", ["info", "warning"]),
        ("Marketing", "failed", ["info", "error"]),
    ],
)
def test_default_inbox(configured: str | None, status: str, severities: list[str]) -> None:
    result = default_inbox_step(configured, INBOXES)
    assert result.status == status
    assert [f.severity for f in result.findings] == severities


def test_unknown_inbox_names_the_choices() -> None:
    error = default_inbox_step("Marketing", INBOXES).findings[-1]
    assert error.message == "Heymarket has no inbox 'Marketing' (by name or id)"
    assert error.fix.startswith("set default_inbox to one of: Sales (9001), Support (9002)")


def test_no_visible_inbox_is_an_error() -> None:
    assert default_inbox_step("Sales", []).status == "failed"
