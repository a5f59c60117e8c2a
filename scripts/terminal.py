"""Readable terminal output for ``make demo``, ``make sync`` and ``make setup``.

The DAG runs in-process (``dag.test()``), so whatever Airflow and the libraries under it log or warn lands
in the user's terminal above the run's summary. Unless ``LOG_LEVEL=DEBUG``:

* **warnings** raised by library code (deprecations inside Airflow, Starlette, pathspec, ...) are not shown;
  warnings raised by this project's own packages still are;
* **library log lines that say nothing to the user** are dropped (:data:`NOISE`: a secret too short to
  mask, a not-yet-runnable task of ``dag.test()``'s loop, the 404 of an XCom a failed task never pushed);
* **tracebacks** are left out: a failed task's log line keeps the exception's type and message on one line,
  and the run's summary (its ``Why:`` line, or the setup report) says what failed and how to fix it.

``LOG_LEVEL=DEBUG`` shows everything, tracebacks included.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from collections.abc import MutableMapping
from typing import Any

#: This project's own packages: their warnings are always shown.
OWN_PACKAGES = ("sync_engine", "sync_operators", "heymarket_hook", "salesforce_access", "sync_history", "scripts",
                "emulators")
#: A warning raised from any module that is not one of ours (``re.match`` on the warning's module name).
LIBRARY_MODULE = r"(?!(" + "|".join(re.escape(p) for p in OWN_PACKAGES) + r")(\.|$))"
#: (logger name prefix, message prefix) of library log lines that are noise in a terminal.
NOISE = (
    ("airflow.sdk._shared.secrets_masker", "Skipping masking for a secret"),
    ("airflow._shared.secrets_masker", "Skipping masking for a secret"),
    ("airflow.sdk.definitions.dag", "No tasks to run"),
    ("airflow.sdk.api.client", "XCom not found"),
)
#: Longest exception message kept on a failed task's log line.
MESSAGE_CHARS = 200


def debug() -> bool:
    """``LOG_LEVEL=DEBUG``: show everything."""
    return os.environ.get("LOG_LEVEL", "").strip().upper() == "DEBUG"


def silence_library_warnings() -> None:
    """Ignore warnings raised by library code. Call it before importing Airflow *and* again after: importing
    ``airflow.configuration`` puts its own "default" filters for ``airflow.*`` deprecations in front."""
    if debug():
        return
    warnings.filterwarnings("ignore", module=LIBRARY_MODULE)


def is_noise(logger_name: str, message: str) -> bool:
    return any(logger_name.startswith(name) and message.startswith(text) for name, text in NOISE)


def one_line(exc: BaseException) -> str:
    """``Type: message`` with the message's whitespace collapsed, cut at :data:`MESSAGE_CHARS`."""
    text = " ".join(str(exc).split())
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _exception_of(exc_info: object) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    if exc_info is True:
        return sys.exc_info()[1]
    return None


class TerminalFilter(logging.Filter):
    """For the standard-library loggers: drops :data:`NOISE`, folds a traceback into one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        if is_noise(record.name, message):
            return False
        if record.exc_info:
            exc = _exception_of(record.exc_info)
            record.msg, record.args = (f"{message}: {one_line(exc)}" if exc else message), None
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def structlog_processor(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The same for structlog's own loggers (Airflow's task runner logs through them)."""
    import structlog

    name = str(event_dict.get("logger") or event_dict.get("logger_name") or getattr(logger, "name", "") or "")
    event = str(event_dict.get("event", ""))
    if is_noise(name, event):
        raise structlog.DropEvent
    exc_info = event_dict.pop("exc_info", None)
    event_dict.pop("exception", None)
    event_dict.pop("stack_info", None)
    exc = _exception_of(exc_info)
    if exc is not None:
        event_dict["event"] = f"{event}: {one_line(exc)}"
    return event_dict


def quiet_airflow_logging() -> None:
    """Install the filters on the logging Airflow configured at import; call it after importing Airflow."""
    silence_library_warnings()
    if debug():
        return
    import structlog

    processors = structlog.get_config()["processors"]
    if structlog_processor not in processors:
        # In place: loggers structlog already cached hold this very list.
        processors.insert(0, structlog_processor)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, TerminalFilter) for f in handler.filters):
            handler.addFilter(TerminalFilter())


def report_crash(prog: str, exc: BaseException) -> int:
    """A make command stopped by an error of its own (not a failed run): one line, exit code 1.
    ``LOG_LEVEL=DEBUG`` re-raises it, traceback and all."""
    if debug():
        raise exc
    print(f"{prog}: stopped by an unexpected error: {one_line(exc)} (LOG_LEVEL=DEBUG shows the traceback)",
          file=sys.stderr, flush=True)
    return 1
