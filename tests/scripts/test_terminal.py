"""``scripts/terminal.py``: what the make targets keep out of the terminal, and what they keep in it."""

from __future__ import annotations

import logging
import warnings

import pytest
import structlog

from scripts import terminal


def _fail(message: str) -> BaseException:
    try:
        raise RuntimeError(message)
    except RuntimeError as exc:
        return exc


@pytest.fixture(autouse=True)
def _not_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_LEVEL", raising=False)


def test_library_warnings_are_ignored_and_our_own_are_shown() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        terminal.silence_library_warnings()
        for module in ("airflow.configuration", "starlette.testclient", "__main__", "sync_engineering"):
            warnings.warn_explicit("old API", DeprecationWarning, "x.py", 1, module=module)
        for module in ("sync_engine.plan", "heymarket_hook", "scripts.sync"):
            warnings.warn_explicit(f"from {module}", UserWarning, "x.py", 1, module=module)
    assert [str(w.message) for w in caught] == ["from sync_engine.plan", "from heymarket_hook", "from scripts.sync"]


def test_log_lines_listed_as_noise_are_dropped_and_others_kept() -> None:
    noisy = logging.LogRecord("airflow.sdk._shared.secrets_masker.secrets_masker", logging.WARNING, "x.py", 1,
                              "Skipping masking for a secret as it's too short (<%d chars)", (5,), None)
    ours = logging.LogRecord("salesforce_access.access", logging.WARNING, "x.py", 1, "retry %d of 3", (1,), None)
    assert terminal.TerminalFilter().filter(noisy) is False
    assert terminal.TerminalFilter().filter(ours) is True and ours.getMessage() == "retry 1 of 3"
    with pytest.raises(structlog.DropEvent):
        terminal.structlog_processor(None, "error", {"event": "XCom not found", "logger_name": "airflow.sdk.api.client"})


def test_a_traceback_becomes_the_exceptions_type_and_message_on_the_same_line() -> None:
    exc = _fail("Preflight failed:\n- Heymarket connection 'heymarket_default': could not reach it")
    record = logging.LogRecord("airflow.sdk.definitions.dag", logging.ERROR, "x.py", 1, "Error running task %s",
                               ("preflight",), (RuntimeError, exc, exc.__traceback__))
    assert terminal.TerminalFilter().filter(record) is True
    assert record.exc_info is None and record.args is None
    assert record.getMessage() == ("Error running task preflight: RuntimeError: Preflight failed: - Heymarket "
                                   "connection 'heymarket_default': could not reach it")
    event = terminal.structlog_processor(None, "exception", {"event": "Task failed with exception", "exc_info": exc,
                                                              "logger": "task"})
    assert "exc_info" not in event and event["event"].startswith("Task failed with exception: RuntimeError: Prefl")


def test_a_long_message_is_cut() -> None:
    line = terminal.one_line(_fail("x" * 1000))
    assert len(line) == len("RuntimeError: ") + terminal.MESSAGE_CHARS and line.endswith("…")


def test_log_level_debug_keeps_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        terminal.silence_library_warnings()
        warnings.warn_explicit("old API", DeprecationWarning, "x.py", 1, module="airflow.configuration")
    assert len(caught) == 1
    with pytest.raises(RuntimeError, match="boom"):
        terminal.report_crash("make sync", _fail("boom"))


def test_an_unexpected_error_of_the_script_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert terminal.report_crash("make sync", _fail("disk full")) == 1
    assert capsys.readouterr().err == ("make sync: stopped by an unexpected error: RuntimeError: disk full "
                                       "(LOG_LEVEL=DEBUG shows the traceback)\n")
