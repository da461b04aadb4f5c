"""Who pays for an organization's use of a model, and under which limits: the one rule, used everywhere."""

from __future__ import annotations

from app.domain.plans.service import LimitsSource, Plan, PlanKind, plans_of, who_pays

__all__ = ["LimitsSource", "Plan", "PlanKind", "plans_of", "who_pays"]
