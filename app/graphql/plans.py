"""Who pays for each model in an organization, and staff's custom limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app import clock
from app.domain.catalog.models import RateLimits as RateLimitsData
from app.domain.orgs.models import Organization as OrganizationRow
from app.domain.plans import LimitsSource, Plan, PlanKind, plans_of
from app.domain.plans import overrides as limit_overrides
from app.domain.plans.models import ModelLimitOverride as OverrideRow
from app.graphql.catalog import RateLimits
from app.graphql.context import Info
from app.graphql.errors import INPUT, describe_enum, mutation, result_union
from app.graphql.ids import node_id
from app.graphql.types import User, _user

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
    kind: PlanKindEnum = strawberry.field(description="Who pays.")  # type: ignore[valid-type]
    limits: RateLimits | None = strawberry.field(
        description="The organization-level rate limits (projects may set lower ones); null when nothing may run."
    )
    limits_source: LimitsSourceEnum = strawberry.field(description="Where the limits come from.")  # type: ignore[valid-type]
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


@strawberry.type(description="Custom limits of a model for one organization, replacing the PayGo defaults.")
class ModelLimitOverride:
    model_id: str = strawberry.field(description="The model's catalog id.")
    limits: RateLimits = strawberry.field(description="The organization's limits for the model under PayGo.")
    set_at: datetime = strawberry.field(description="When they were set (UTC).")
    set_by_id: strawberry.Private[str]

    @strawberry.field(description="The staff member who set them; null if that account is gone.")
    async def set_by(self, info: Info) -> User | None:
        return await _user(info, self.set_by_id)

    @classmethod
    def of(cls, row: OverrideRow) -> ModelLimitOverride:
        return cls(
            model_id=row.model_id, limits=RateLimits.of(row.limits()), set_at=row.set_at, set_by_id=row.set_by
        )


@strawberry.input(description="Staff only: an organization's own limits for a model (custom terms).")
class SetModelLimitOverrideInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    model: str = strawberry.field(description="The model's catalog id.")
    requests_per_minute: int = strawberry.field(description="Requests per minute.")
    tokens_per_minute: int = strawberry.field(description="Tokens per minute.")
    requests_per_hour: int | None = strawberry.field(
        default=None, description="Requests per hour; null: none."
    )
    tokens_per_hour: int | None = strawberry.field(default=None, description="Tokens per hour; null: none.")
    requests_per_day: int | None = strawberry.field(default=None, description="Requests per day; null: none.")
    tokens_per_day: int | None = strawberry.field(default=None, description="Tokens per day; null: none.")


@strawberry.input(description="Staff only: back to the model's PayGo limits for an organization.")
class RemoveModelLimitOverrideInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    model: str = strawberry.field(description="The model's catalog id.")


@strawberry.type(description="The custom limits as they are now.")
class ModelLimitOverridePayload:
    override: ModelLimitOverride | None = strawberry.field(
        description="The custom limits; null once removed."
    )


SetModelLimitOverrideResult = result_union("SetModelLimitOverrideResult", ModelLimitOverridePayload)
RemoveModelLimitOverrideResult = result_union("RemoveModelLimitOverrideResult", ModelLimitOverridePayload)


def _org_id(gid: relay.GlobalID) -> str:
    return node_id(gid, "Organization", "organizationId")


@strawberry.type
class PlanMutations:
    @mutation("Set an organization's own PayGo limits for a model, recorded with who and when (staff only).")
    async def set_model_limit_override(
        self, info: Info, input: Annotated[SetModelLimitOverrideInput, INPUT]
    ) -> SetModelLimitOverrideResult:
        actor = info.context.actor()
        limits = RateLimitsData(
            requests_per_minute=input.requests_per_minute,
            tokens_per_minute=input.tokens_per_minute,
            requests_per_hour=input.requests_per_hour,
            tokens_per_hour=input.tokens_per_hour,
            requests_per_day=input.requests_per_day,
            tokens_per_day=input.tokens_per_day,
        )
        async with info.context.transaction() as session:
            row = await limit_overrides.set_limit_override(
                session,
                actor,
                info.context.services.catalog,
                _org_id(input.organization_id),
                model_id=input.model,
                limits=limits,
            )
        return ModelLimitOverridePayload(override=ModelLimitOverride.of(row))

    @mutation("Remove an organization's own limits for a model: the PayGo limits apply again (staff only).")
    async def remove_model_limit_override(
        self, info: Info, input: Annotated[RemoveModelLimitOverrideInput, INPUT]
    ) -> RemoveModelLimitOverrideResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            await limit_overrides.remove_limit_override(
                session, actor, _org_id(input.organization_id), model_id=input.model
            )
        return ModelLimitOverridePayload(override=None)
