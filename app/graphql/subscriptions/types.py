"""Model subscriptions as the console shows them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from app.domain.catalog.models import Catalog
from app.domain.subscriptions import capacity
from app.domain.subscriptions import service as subscriptions
from app.domain.subscriptions.models import EndReason, SubscriptionState
from app.domain.subscriptions.models import Subscription as SubscriptionRow
from app.graphql.catalog.types import Availability, Model, SubscriptionTier
from app.graphql.context import Info
from app.graphql.errors import ForbiddenError, describe_enum
from app.graphql.money import Money
from app.graphql.paging import KeysetConnection, QueryPage
from app.graphql.visibility import visible_nodes

SubscriptionStateEnum = describe_enum(
    SubscriptionState,
    "Where a subscription stands.",
    INCOMPLETE="The first month's charge is being processed or waits for the cardholder's authentication; it "
    "covers nothing until it succeeds.",
    ACTIVE="Paid: usage of the model is covered by the subscription, never by credits.",
    PAST_DUE="The renewal is unpaid (its charge failed, or waits for the cardholder's authentication): it keeps "
    "working meanwhile; a failed charge is retried daily, then it is canceled.",
    CANCELED="Ended (see `endReason`): usage of the model is paid with credits again.",
)

SubscriptionEndReasonEnum = describe_enum(
    EndReason,
    "Why a subscription ended.",
    CANCELED="An Organization Admin canceled it; it ran to the end of the paid period.",
    PAYMENT_FAILED="The first charge, or every retry of a renewal, failed.",
    MODEL_DEPRECATED="The model reached its deprecation date.",
    TIER_WITHDRAWN="The tier was withdrawn from the catalog; it ended at the period end.",
)


def _tier(
    catalog: Catalog, model_id: str, tier_id: str | None, places: Availability
) -> SubscriptionTier | None:
    tier = catalog.tier(model_id, tier_id) if tier_id is not None else None
    return SubscriptionTier.of(model_id, tier, places) if tier is not None else None


@strawberry.type(description="An organization's monthly subscription to one model at one tier.")
class ModelSubscription(relay.Node):
    subscription_id: relay.NodeID[str]
    organization_id: strawberry.Private[str]
    model_id: str = strawberry.field(description="The model's catalog id.")
    tier_id: str = strawberry.field(description="The id of the tier it is in now.")
    model: Model | None = strawberry.field(description="The model; null if it left the catalog.")
    tier: SubscriptionTier | None = strawberry.field(
        description="The tier it is in now; null if it left the catalog."
    )
    monthly_price: Money | None = strawberry.field(description="The current tier's monthly price.")
    state: SubscriptionStateEnum = strawberry.field(description="Where the subscription stands.")
    cancel_at_period_end: bool = strawberry.field(
        description="Canceled by an admin: it runs to `currentPeriodEnd` and ends then (resume undoes it)."
    )
    current_period_start: datetime = strawberry.field(description="Start of the paid period (UTC).")
    current_period_end: datetime = strawberry.field(
        description="End of the paid period (UTC): monthly, cut short at the model's deprecation."
    )
    next_charge_at: datetime | None = strawberry.field(
        description="When it is charged next: the renewal at the period end, or the next retry while past due; "
        "null when it will not renew."
    )
    failed_renewal_attempts: int = strawberry.field(description="Failed charges of the renewal now due.")
    scheduled_tier: SubscriptionTier | None = strawberry.field(
        description="A cheaper tier it moves to at the period end (a downgrade); its place is held already."
    )
    pending_tier: SubscriptionTier | None = strawberry.field(
        description="A dearer tier waiting for its pro-rata charge to succeed (an upgrade)."
    )
    created_at: datetime = strawberry.field(description="When it was subscribed (UTC).")
    canceled_at: datetime | None = strawberry.field(description="When an admin canceled it (UTC).")
    ended_at: datetime | None = strawberry.field(description="When it ended (UTC); null while it runs.")
    end_reason: SubscriptionEndReasonEnum | None = strawberry.field(
        description="Why it ended; null while it runs."
    )

    @classmethod
    def from_row(cls, row: SubscriptionRow, catalog: Catalog, places: Availability) -> ModelSubscription:
        model = catalog.model(row.model_id)
        tier = catalog.tier(row.model_id, row.tier_id)
        renews = row.is_live and not row.cancel_at_period_end
        return cls(
            subscription_id=row.id,
            organization_id=row.organization_id,
            model_id=row.model_id,
            tier_id=row.tier_id,
            model=Model.of(model, places) if model is not None else None,
            tier=_tier(catalog, row.model_id, row.tier_id, places),
            monthly_price=Money.from_nanos(tier.monthly_price) if tier is not None else None,
            state=row.state,
            cancel_at_period_end=row.cancel_at_period_end,
            current_period_start=row.current_period_start,
            current_period_end=row.current_period_end,
            next_charge_at=row.next_charge_at if renews else None,
            failed_renewal_attempts=row.failed_renewals,
            scheduled_tier=_tier(catalog, row.model_id, row.scheduled_tier_id, places),
            pending_tier=_tier(catalog, row.model_id, row.pending_tier_id, places),
            created_at=row.created_at,
            canceled_at=row.canceled_at,
            ended_at=row.ended_at,
            end_reason=row.end_reason,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        catalog = info.context.services.catalog
        places = (
            await capacity.availability(await info.context.session(), catalog) if info.context.user else {}
        )

        async def lookup(session: Any, actor: Any, subscription_id: str) -> ModelSubscription:
            row = await subscriptions.get_subscription(session, actor, subscription_id)
            return cls.from_row(row, catalog, places)

        return await visible_nodes(info, lookup, node_ids, required)


async def present(info: Info, row: SubscriptionRow) -> ModelSubscription:
    """A subscription as a mutation returns it, read after its change."""
    catalog = info.context.services.catalog
    return ModelSubscription.from_row(
        row, catalog, await capacity.availability(await info.context.session(), catalog)
    )


@strawberry.type(description="The organization's subscriptions; Organization Admins only.")
class SubscriptionList:
    organization_id: strawberry.Private[str]
    include_ended: strawberry.Private[bool]

    @relay.connection(KeysetConnection[ModelSubscription], description="The subscriptions, newest first.")
    def subscriptions(self, info: Info) -> Iterable[ModelSubscription]:
        async def with_places(rows: list[SubscriptionRow]) -> list[ModelSubscription]:
            catalog = info.context.services.catalog
            places = await capacity.availability(await info.context.session(), catalog)
            return [ModelSubscription.from_row(row, catalog, places) for row in rows]

        query = subscriptions.subscription_list(self.organization_id, include_ended=self.include_ended)
        return QueryPage(info, query, to_nodes=with_places)  # type: ignore[return-value]


SubscriptionsResult = Annotated[
    SubscriptionList | ForbiddenError,
    strawberry.union(
        "SubscriptionsResult",
        description="The subscription list, or FORBIDDEN for anyone but an Organization Admin.",
    ),
]
