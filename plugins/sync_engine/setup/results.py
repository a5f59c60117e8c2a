"""What a setup step found and concluded: :class:`Finding` and :class:`StepResult`, JSON-able both ways.

Personal data: names and e-mails of users appear only as a finding's ``subject``, which the report
artifact shows and the task log replaces with the record ids in ``subject_ref``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from .registry import STEP_TITLES

LiteralT = TypeVar("LiteralT", bound=str)
Status = Literal["ok", "failed", "skipped"]
Severity = Literal["ok", "info", "warning", "error"]
#: JSON-able values (counts, ids, names of fields) that go into the JSON artifact as they are.
Facts = dict[str, object]

_MARKS: dict[str, str] = {"ok": "✔", "info": "•", "warning": "⚠", "error": "✘"}
_SEVERITIES: tuple[Severity, ...] = ("ok", "info", "warning", "error")
_STATUSES: tuple[Status, ...] = ("ok", "failed", "skipped")


@dataclass(frozen=True)
class Finding:
    """One line of a step: something checked, counted, changed or wrong.

    :param severity: ``error`` makes the step ✘; ``warning`` is worth a look but does not fail the step.
    :param message: what was found, without personal data.
    :param fix: what the admin should do (required for errors and warnings).
    :param path: the config key it is about, if any (``objects.Lead.required_defaults.Company``).
    :param subject: who or what it is about when that is personal data (a user's name and e-mail);
        shown in the report artifact only.
    :param subject_ref: the stand-in for *subject* in task logs (e.g. ``Salesforce user 005...``).
    """

    severity: Severity
    message: str
    fix: str = ""
    path: str = ""
    subject: str | None = None
    subject_ref: str | None = None

    def as_dict(self) -> Facts:
        return {
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
            "path": self.path,
            "subject": self.subject,
            "subject_ref": self.subject_ref,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Finding:
        return cls(
            severity=_one_of(raw["severity"], _SEVERITIES),
            message=str(raw["message"]),
            fix=str(raw.get("fix") or ""),
            path=str(raw.get("path") or ""),
            subject=_opt_str(raw.get("subject")),
            subject_ref=_opt_str(raw.get("subject_ref")),
        )

    def render(self, personal: bool) -> list[str]:
        """Markdown list item(s); *personal* selects ``subject`` over ``subject_ref``."""
        who = self.subject if personal and self.subject else self.subject_ref
        text = f"{who}: {self.message}" if who else self.message
        if self.path and self.path not in text:
            text += f" (`{self.path}`)"
        lines = [f"- {_MARKS[self.severity]} {text}"]
        if self.fix and self.severity in ("error", "warning"):
            lines.append(f"  - **Fix:** {self.fix}")
        return lines


@dataclass(frozen=True)
class StepResult:
    """The outcome of one setup step.

    :param step: the step id (see :data:`STEPS`).
    :param status: ``failed`` when a finding is an error; ``skipped`` when the step could not run
        because an earlier one failed (also a ✘: nothing was verified).
    :param summary: one line, no personal data.
    :param facts: counts and ids for the JSON artifact.
    """

    step: str
    status: Status
    summary: str
    findings: tuple[Finding, ...] = ()
    facts: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def build(
        cls, step: str, summary: str, findings: Iterable[Finding], facts: Mapping[str, object] | None = None
    ) -> StepResult:
        """A step that ran: ✘ as soon as one finding is an error."""
        found = tuple(findings)
        status: Status = "failed" if any(f.severity == "error" for f in found) else "ok"
        return cls(step, status, summary, found, dict(facts or {}))

    @classmethod
    def skipped(cls, step: str, reason: str, fix: str) -> StepResult:
        """A step that could not run; *fix* says which earlier problem to solve first."""
        return cls(
            step, "skipped", f"not checked: {reason}", (Finding("error", f"not checked: {reason}", fix),)
        )

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def title(self) -> str:
        return STEP_TITLES.get(self.step, self.step)

    def as_dict(self) -> Facts:
        return {
            "step": self.step,
            "title": self.title,
            "status": self.status,
            "summary": self.summary,
            "findings": [f.as_dict() for f in self.findings],
            "facts": dict(self.facts),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> StepResult:
        findings = raw.get("findings")
        facts = raw.get("facts")
        return cls(
            step=str(raw["step"]),
            status=_one_of(raw["status"], _STATUSES),
            summary=str(raw.get("summary") or ""),
            findings=tuple(Finding.from_dict(f) for f in (findings if isinstance(findings, list) else [])),
            facts=dict(facts) if isinstance(facts, Mapping) else {},
        )


def _one_of(value: object, allowed: tuple[LiteralT, ...]) -> LiteralT:
    """*value* as a member of a closed set (results read back from JSON are checked, not trusted)."""
    for member in allowed:
        if value == member:
            return member
    raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")


def _opt_str(value: object) -> str | None:
    return None if value in (None, "") else str(value)
