"""What is wrong with a sync config, said for an admin: where (file, line, key path), what, and the fix.

Shared by the loader (load-time problems) and the describe checks (run-time problems); it imports nothing
else of the config package, so both can use it without a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

ProblemSeverity = Literal["error", "warning"]
#: A key path inside the config, as pydantic reports it: ``("objects", "Lead", "fields", 0)``.
Loc = tuple[str | int, ...]

@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the config, for an admin: where, what, and how to fix it.

    :param path: key path in the config file, e.g. ``objects.Lead.phone_field``; empty for the whole file
    :param problem: what is wrong
    :param fix: what to do about it
    :param severity: ``error`` stops the run; ``warning`` is reported and the run goes on
    :param line: line in the config file, when known (load-time problems)
    """

    path: str
    problem: str
    fix: str
    severity: ProblemSeverity = "error"
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.problem} — {self.fix}"

    def as_dict(self) -> dict[str, str | int | None]:
        """JSON-able form for XCom, ``validation.json`` and the run history."""
        return {"path": self.path, "problem": self.problem, "fix": self.fix, "severity": self.severity,
                "line": self.line}


def format_path(loc: Sequence[str | int]) -> str:
    """``("objects", "Lead", "fields", 0, "salesforce")`` -> ``objects.Lead.fields[0].salesforce``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class ConfigValueError(ValueError):
    """A rule broken inside a model validator, with the sub-path (relative to the model) it is about.

    Pydantic reports a model validator's error at the model's own path; ``at`` lets the message point
    at the key itself (``objects.Lead.list_view`` rather than ``objects.Lead``). A validator that finds
    several problems raises one error carrying the others in ``also``, so the admin sees all of them.
    The message is ``"<problem> — <fix>"``.
    """

    def __init__(self, message: str, *, at: Loc = (), also: Sequence[ConfigValueError] = ()) -> None:
        super().__init__(message)
        self.at = at
        self.also = tuple(also)

    @classmethod
    def raise_all(cls, errors: Sequence[ConfigValueError]) -> None:
        """Raise the first of ``errors`` carrying the rest; do nothing when there are none."""
        if errors:
            first = errors[0]
            raise cls(str(first), at=first.at, also=errors[1:])


class ConfigError(Exception):
    """The config file can't be used; ``problems`` lists each reason, ``str()`` gives all of them."""

    def __init__(self, source: str, problems: Sequence[ConfigProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        header = f"Sync config {source} has {count} problem{'s' if count != 1 else ''}:"
        lines = [f"  {_locate(source, p)}{p}" for p in self.problems]
        super().__init__("\n".join([header, *lines]))


def _locate(source: str, problem: ConfigProblem) -> str:
    return f"{source}:{problem.line}: " if problem.line else f"{source}: "
