"""Who pays for each model (subscription, PayGo, free or none) and the limits that apply."""

from __future__ import annotations

import strawberry

from app import clock
from app.domain.catalog.models import RateLimits as RateLimitsData
from app.domain.orgs.models import Organization as OrganizationRow
from app.domain.plans import LimitsSource, Plan, PlanKind, plans_of
from app.graphql.catalog.types import RateLimits
from app.graphql.context import Info
from app.graphql.errors import describe_enum

PlanKindEnum = describe_enum(
    PlanKind,
    "Who pays for a model's usage.",
    SUBSCRIPTION="A subscription to the model: usage never burns credits.",
    PAYGO="Credits, per input and output token (a Team organization with a positive balance).",
    FREE="The free tier of a Personal organization.",
    NONE="Nobody: the model cannot be used (no credit and no subscription, or the model is deprecated).",
)

LimitsSourceEnum = describe_enum(
    LimitsSource,
    "Where a plan's rate limits come from.",
    TIER="The subscription tier's limits.",
    PAYGO="The model's PayGo limits.",
    OVERRIDE="Custom limits that platform staff set for the organization.",
    FREE_TIER="The free tier's limits.",
    NONE="No limits: nothing may run.",
)


@strawberry.type(
    description="One rate limit of the organization for a model, and how much of it is left now."
)
class LimitUsage:
    kind: str = strawberry.field(description="`requests` or `tokens`.")
    window: str = strawberry.field(description="`minute`, `hour` or `day`.")
    limit: int = strawberry.field(description="The limit per window.")
    remaining: int = strawberry.field(description="What is left now (buckets refill continuously).")
    used: int = strawberry.field(description="What is used now: the limit minus what is left.")


@strawberry.type(
    description="Who pays for one model in the organization right now, and the organization's limits."
)
class ModelPlan:
    model_id: str = strawberry.field(description="The model's catalog id.")
    kind: PlanKindEnum = strawberry.field(description="Who pays.")
    limits: RateLimits | None = strawberry.field(
        description="The organization-level rate limits (projects may set lower ones); null when nothing may run."
    )
    limits_source: LimitsSourceEnum = strawberry.field(description="Where the limits come from.")
    reason: str = strawberry.field(description="Why this plan applies, in plain words (and what changes it).")
    tier_id: str | None = strawberry.field(description="The subscribed tier's id, for a SUBSCRIPTION plan.")
    burns_credits: bool = strawberry.field(
        description="Whether usage is priced per token and paid with credits."
    )
    organization_id: strawberry.Private[str] = ""
    limits_data: strawberry.Private[RateLimitsData | None] = None

    @strawberry.field(
        description="The organization-level limits with what is used of them now (reserved tokens count)."
    )
    async def usage_now(self, info: Info) -> list[LimitUsage]:
        if self.limits_data is None or info.context.fleet is None:
            return []
        levels = await info.context.fleet.admissions.usage_now(
            self.organization_id, self.model_id, self.limits_data
        )
        return [
            LimitUsage(
                kind=limit.kind,
                window=limit.window,
                limit=limit.bucket.capacity,
                remaining=int(level),
                used=limit.bucket.capacity - int(level),
            )
            for limit, level in levels
        ]

    @classmethod
    def of(cls, plan: Plan, organization_id: str = "") -> ModelPlan:
        return cls(
            organization_id=organization_id,
            limits_data=plan.limits,
            model_id=plan.model_id,
            kind=plan.kind,
            limits=RateLimits.of(plan.limits) if plan.limits is not None else None,
            limits_source=plan.limits_source,
            reason=plan.reason,
            tier_id=plan.tier_id,
            burns_credits=plan.burns_credits,
        )


async def plans_of_organization(info: Info, organization_id: str) -> list[ModelPlan]:
    """Every catalog model's plan for an organization the viewer may see."""
    session = await info.context.session()
    organization = await session.get(OrganizationRow, organization_id)
    assert organization is not None
    plans = await plans_of(session, info.context.services.catalog, organization=organization, at=clock.now())
    return [ModelPlan.of(plan, organization_id) for plan in plans.values()]
