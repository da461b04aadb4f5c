"""Staff overrides of an organization's per-model limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.catalog.models import RateLimits as RateLimitsData
from app.domain.plans import overrides as limit_overrides
from app.domain.plans.models import ModelLimitOverride as OverrideRow
from app.graphql.accounts.types import User, load_user
from app.graphql.catalog.types import RateLimits
from app.graphql.context import Info
from app.graphql.errors import INPUT, mutation, result_union
from app.graphql.ids import org_id


@strawberry.type(description="Custom limits of a model for one organization, replacing the PayGo defaults.")
class ModelLimitOverride:
    model_id: str = strawberry.field(description="The model's catalog id.")
    limits: RateLimits = strawberry.field(description="The organization's limits for the model under PayGo.")
    set_at: datetime = strawberry.field(description="When they were set (UTC).")
    set_by_id: strawberry.Private[str]

    @strawberry.field(description="The staff member who set them; null if that account is gone.")
    async def set_by(self, info: Info) -> User | None:
        return await load_user(info, self.set_by_id)

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
                org_id(input.organization_id),
                catalog=info.context.services.catalog,
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
                session, actor, org_id(input.organization_id), model_id=input.model
            )
        return ModelLimitOverridePayload(override=None)
