"""The setup steps, in report order: the one list the engine, the operators and the DAG read.

Step 0 is the config file itself, checked by the report task (no task of its own); every other step is one
task of the ``heymarket_setup`` DAG, whose id is here too, so the report finds each step's result by it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SetupStep:
    """One setup step.

    :param id: the step id, as in results, file names (``setup/<id>.json``) and XCom.
    :param title: the heading of its section in the report.
    :param task_id: its task in the ``heymarket_setup`` DAG; ``None`` for the config file (checked by the report).
    """

    id: str
    title: str
    task_id: str | None


#: The steps in report order. Step 0 is the config file itself.
STEPS: tuple[SetupStep, ...] = (
    SetupStep("config", "Configuration file", None),
    SetupStep("credentials", "Credentials", "check_credentials"),
    SetupStep("default_inbox", "Default inbox", "check_default_inbox"),
    SetupStep("user_mapping", "User mapping", "map_users"),
    SetupStep("phone_fields", "Phone fields", "check_phone_fields"),
    SetupStep("field_mapping", "Field mapping", "check_field_mapping"),
    SetupStep("task_external_id", "Task external id (messages)", "check_task_external_id"),
)
STEP_TITLES: dict[str, str] = {step.id: step.title for step in STEPS}
#: The steps that run as tasks, in report order.
TASK_STEPS: tuple[SetupStep, ...] = tuple(step for step in STEPS if step.task_id is not None)


def task_id_of(step_id: str) -> str:
    """The DAG task that runs *step_id*.

    :raises KeyError: the step is unknown or has no task (the config file)
    """
    for step in TASK_STEPS:
        if step.id == step_id:
            return str(step.task_id)
    raise KeyError(f"setup step {step_id!r} has no task; the steps with a task are "
                   + ", ".join(step.id for step in TASK_STEPS))
