"""Run ``heymarket_sync`` with ``dag.test()`` in a process of its own, so that a test can really kill it.

``dag.test()`` runs every task in the calling process, so killing "the task" means killing a process that
runs the DAG. Starting a fresh Python for every run would cost ~30 s (Airflow's import, and the in-process
Execution API building its versioned routes on first use), so this module runs as a warm **zygote**
(``python tests/e2e/killable.py``): it imports and warms everything once, then forks one child per run, the
way Airflow's LocalExecutor forks its task processes. Each child runs one ``dag.test()`` with the test's
environment (the session's ``AIRFLOW_HOME`` and metadata DB, the ``AIRFLOW_CONN_*`` of the emulators) and
writes its log to a file that the test reads as it grows, to kill the child at a chosen stage with
SIGKILL or SIGTERM from the outside.

Some crash points cannot be hit from the outside by timing: "the API accepted the batch, the state commit has
not happened yet" lasts microseconds. For those the child kills itself with SIGKILL at exactly that point
(``die_after="heymarket:2"``: right after the 2nd Heymarket write call returned, before its state commit).
That is still a real kill: no ``finally``, no rollback handler, no flush runs.

Protocol: the test writes one JSON command per line to the zygote's stdin; the zygote answers
``KILLABLE forked <pid>`` and, once that child is gone, ``KILLABLE exited <pid> <code>`` (negative: the signal
that killed it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPORT = "KILLABLE "


# -------------------------------------------------------------------------------------------- zygote side


def _warm() -> object:
    """Import and build everything a run needs, without starting a thread (the zygote forks afterwards)."""
    for extra in (str(REPO), str(REPO / "plugins")):
        if extra not in sys.path:
            sys.path.insert(0, extra)
    import great_expectations  # noqa: F401 - validate imports it; ~10 s once instead of once per child
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import simple_salesforce  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    import sync_engine.plan  # noqa: F401
    import sync_engine.validate  # noqa: F401
    import sync_operators.adapters  # noqa: F401

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    app = in_process_api_server().app
    if not getattr(app, "_cadwyn_initialized", True):
        app._cadwyn_initialize()  # what the first request would do, ~15 s of route generation
    return bag.dags


def _die_after(system: str, calls: int) -> None:
    """SIGKILL this process right after the ``calls``-th write call to ``system`` returns.

    The writer adapters are patched on their class, so the operators (which import them inside
    ``execute``) get the patched method. The kill comes after the API has answered and before the applier
    commits the batch to the state store: the one crash point a run cannot checkpoint. ``tasks`` is the
    message copy's Task upsert: the kill comes after the ``calls``-th chunk of Tasks was answered by Salesforce,
    before the copy stores its pending rows and moves its watermark.
    """
    from sync_operators import adapters

    if system == "tasks":
        _die_after_task_chunks(calls)
        return
    cls, method = {"heymarket": (adapters.HookHeymarketWriter, "upsert"),
                   "salesforce": (adapters.AccessSalesforceWriter, "create")}[system]
    original = getattr(cls, method)
    seen = {"calls": 0}

    def write_then_die(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - same as original
        outcomes = original(self, *args, **kwargs)
        seen["calls"] += 1
        print(f"{REPORT}{system} write call {seen['calls']} answered", flush=True)
        if seen["calls"] >= calls:
            print(f"{REPORT}dying after {system} write call {seen['calls']}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return outcomes

    setattr(cls, method, write_then_die)


def _die_after_task_chunks(chunks: int) -> None:
    from sync_operators import messages

    original = messages.AccessTaskWriter.upsert
    seen = {"chunks": 0}

    def upsert_then_die(self, rows):  # noqa: ANN001, ANN202 - same as original
        for outcomes in original(self, rows):
            seen["chunks"] += 1
            print(f"{REPORT}tasks chunk {seen['chunks']} answered", flush=True)
            if seen["chunks"] >= chunks:
                print(f"{REPORT}dying after tasks chunk {seen['chunks']}", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            yield outcomes

    messages.AccessTaskWriter.upsert = upsert_then_die


def configure_dag(dag, config_path: str, sf_batch_size: int, lock_grace: float | None) -> None:  # noqa: ANN001
    """The same tweaks in the child and in the test process: the test's config, no retries, small batches."""
    for task in dag.tasks:
        task.retries = 0
        if hasattr(task, "config_path"):
            task.config_path = config_path
    if "apply_salesforce" not in dag.task_dict:
        return  # the messages DAG: nothing else to tweak
    dag.task_dict["apply_salesforce"].batch_size = sf_batch_size
    if lock_grace is not None:
        dag.task_dict["preflight"].stale_lock_grace_seconds = lock_grace


def _child(dags, command: dict) -> None:  # noqa: ANN001
    """In the forked child: log to the command's file, take its environment, run the DAG once, exit."""
    dag = dags[command.get("dag_id") or "heymarket_sync"]
    log = os.open(command["log_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    code = 1
    try:
        os.environ.update(command["env"])
        configure_dag(dag, command["config_path"], command["sf_batch_size"], command.get("lock_grace"))
        if command.get("die_after"):
            system, calls = command["die_after"].split(":")
            _die_after(system, int(calls))
        print(f"{REPORT}pid {os.getpid()} starting", flush=True)
        dag_run = dag.test(run_conf=command["conf"])
        print(f"{REPORT}finished run {dag_run.run_id} state {dag_run.state}", flush=True)
        code = 0
    except BaseException:  # noqa: BLE001 - report anything, then leave without running the zygote's code
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def zygote_main() -> int:
    dags = _warm()
    print(f"{REPORT}ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(dags, command)
        print(f"{REPORT}forked {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"{REPORT}exited {pid} {code}", flush=True)
    return 0


# -------------------------------------------------------------------------------------------- test side


class Zygote:
    """The warm process that forks one child per DAG run; start it once per test module.

    :param env: its environment (the test session's, with ``AIRFLOW_HOME`` and the metadata DB).
    """

    def __init__(self, env: dict[str, str], log_path: Path, timeout: float = 180.0) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], env=env, cwd=str(REPO),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
                                     bufsize=1)
        self._expect(r"ready", timeout)

    def _expect(self, pattern: str, timeout: float) -> re.Match[str]:
        """The zygote's next report line, which must match ``pattern``."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the zygote exited ({self.proc.poll()}); see {self.log_path}")
            if line.startswith(REPORT):
                match = re.match(REPORT + pattern, line)
                if not match:
                    raise AssertionError(f"zygote said {line!r}, expected {pattern!r}")
                return match
        raise AssertionError(f"the zygote said nothing matching {pattern!r} within {timeout} s")

    def start_run(self, *, log_path: Path, config_path: Path, conf: dict[str, object], sf_batch_size: int = 200,
                  lock_grace: float | None = None, die_after: str | None = None,
                  dag_id: str = "heymarket_sync") -> ChildRun:
        """Fork a child that runs the DAG once with the current ``os.environ`` (the test's connections)."""
        assert self.proc.stdin is not None
        command = {"log_path": str(log_path), "config_path": str(config_path), "conf": conf, "env": dict(os.environ),
                   "sf_batch_size": sf_batch_size, "lock_grace": lock_grace, "die_after": die_after,
                   "dag_id": dag_id}
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        pid = int(self._expect(r"forked (\d+)", 30).group(1))
        return ChildRun(self, pid, log_path)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class ChildRun:
    """One forked child running ``dag.test()``: read its log as it grows, signal it, wait for its end."""

    def __init__(self, zygote: Zygote, pid: int, log_path: Path) -> None:
        self.zygote = zygote
        self.pid = pid
        self.log_path = log_path
        self._offset = 0
        self._pending = ""
        self.exit_code: int | None = None

    def _new_lines(self) -> list[str]:
        if not self.log_path.exists():
            return []
        with self.log_path.open() as handle:
            handle.seek(self._offset)
            chunk = handle.read()
            self._offset = handle.tell()
        text = self._pending + chunk
        lines = text.split("\n")
        self._pending = lines.pop()
        return lines

    def wait_for(self, pattern: str, timeout: float = 120.0) -> re.Match[str]:
        """Block until a line of the child's log matches ``pattern`` (polled every 20 ms)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self._new_lines():
                match = regex.search(line)
                if match:
                    return match
            if not _alive(self.pid):
                for line in self._new_lines() + [self._pending]:
                    if match := regex.search(line):
                        return match
                raise AssertionError(f"the child exited before logging {pattern!r}; see {self.log_path}")
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout} s; see {self.log_path}")

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait(self, timeout: float = 180.0) -> int:
        """The child's exit code as the zygote saw it (negative: killed by that signal)."""
        if self.exit_code is None:
            match = self.zygote._expect(rf"exited {self.pid} (-?\d+)", timeout)
            self.exit_code = int(match.group(1))
        return self.exit_code

    def wait_until(self, condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> float:
        """Seconds until ``condition()`` held (polled); fails after ``timeout``."""
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"condition not met within {timeout} s; see {self.log_path}")
            time.sleep(interval)
        return time.monotonic() - start

    def exit_code_now(self) -> int | None:
        """The exit code if the child has ended (without waiting), else ``None``."""
        if self.exit_code is None and not _alive(self.pid):
            self.wait(timeout=10)
        return self.exit_code

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def _alive(pid: int) -> bool:
    """Whether the child still runs (a zombie waiting for the zygote's waitpid counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] not in {"Z", "X"}
    except (FileNotFoundError, IndexError):
        return False


if __name__ == "__main__":
    sys.exit(zygote_main())
