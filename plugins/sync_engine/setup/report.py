"""The setup report: every step's result rendered as Markdown (for the admin) and JSON (for tools)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .results import StepResult


@dataclass(frozen=True)
class SetupReport:
    """Every step of one setup run, renderable as Markdown (for people) and JSON (for tools)."""

    steps: tuple[StepResult, ...]
    apply: bool
    run_id: str
    config_path: str
    generated_at: str

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def failed_steps(self) -> list[StepResult]:
        return [step for step in self.steps if not step.ok]

    def headline(self) -> str:
        """One line: ✔ or ✘, which steps failed, and whether warnings are worth reading."""
        warnings = sum(f.severity == "warning" for step in self.steps for f in step.findings)
        note = f" ({warnings} warning(s) worth a look)" if warnings else ""
        failed = self.failed_steps
        if not failed:
            return f"✔ all {len(self.steps)} steps passed{note}"
        names = ", ".join(step.title for step in failed)
        return f"✘ {len(failed)} of {len(self.steps)} steps need attention: {names}{note}"

    def to_markdown(self, personal: bool = True) -> str:
        """The admin's report.

        :param personal: show users' names and e-mails (the artifact); ``False`` shows record ids only
            (the task log).
        """
        mode = (
            "apply (apply=true): changes were made where a step says so"
            if self.apply
            else "report only (apply=false): nothing was changed"
        )
        lines = [
            "# Heymarket setup report",
            "",
            f"- **Result:** {self.headline()}",
            f"- **Mode:** {mode}",
            f"- **Config:** `{self.config_path}`",
            f"- **Run:** `{self.run_id}` at {self.generated_at}",
        ]
        for number, step in enumerate(self.steps):
            mark = "✔" if step.ok else "✘"
            lines += ["", f"## {mark} {number}. {step.title}", "", step.summary, ""]
            for finding in step.findings:
                lines += finding.render(personal)
        return "\n".join(lines).rstrip() + "\n"

    def to_json(self) -> str:
        return json.dumps(
            {
                "ok": self.ok,
                "apply": self.apply,
                "run_id": self.run_id,
                "config_path": self.config_path,
                "generated_at": self.generated_at,
                "headline": self.headline(),
                "steps": [step.as_dict() for step in self.steps],
            },
            indent=2,
            ensure_ascii=False,
        )
