"""The three-way plan: Salesforce records x Heymarket contacts x the link table -> actions.

See :mod:`sync_engine.plan.planner` for the rules; this package exports what callers use.
"""

from sync_engine.plan.model import ObjectSettings, Plan, PlanSettings
from sync_engine.plan.planner import plan
from sync_engine.values import normalise_value

__all__ = ["ObjectSettings", "Plan", "PlanSettings", "normalise_value", "plan"]
