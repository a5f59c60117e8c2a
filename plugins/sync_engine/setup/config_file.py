"""Step 0, the config file itself; config problems (load-time or against describe) as findings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .results import Finding, StepResult

if TYPE_CHECKING:
    from ..config import ConfigProblem


def problem_findings(problems: Iterable[ConfigProblem]) -> list[Finding]:
    """Config problems (load-time or against describe) as findings, errors first."""
    return [
        Finding(
            "error" if p.severity == "error" else "warning",
            p.problem,
            p.fix,
            path=p.path + (f" (line {p.line})" if p.line else ""),
        )
        for p in sorted(problems, key=lambda p: p.severity != "error")
    ]


def config_step(path: str, problems: Sequence[ConfigProblem]) -> StepResult:
    """Step 0: the YAML file loads and follows the model's rules."""
    if not problems:
        return StepResult.build("config", f"`{path}` loads and follows every rule.", [])
    return StepResult.build(
        "config", f"`{path}` can't be used: {len(problems)} problem(s).", problem_findings(problems)
    )


def split_problems(problems: Iterable[ConfigProblem]) -> tuple[list[ConfigProblem], list[ConfigProblem]]:
    """Describe problems for step 4 (``objects.<Object>.phone_field``) and for step 5 (everything else)."""
    phone: list[ConfigProblem] = []
    other: list[ConfigProblem] = []
    for problem in problems:
        (phone if problem.path.endswith(".phone_field") else other).append(problem)
    return phone, other
