"""Subscribing, changing tier, cancelling and resuming."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.subscriptions import service as subscriptions
from app.graphql.context import Info
from app.graphql.errors import INPUT, PaymentAuthenticationRequired, PaymentError, mutation, result_union
from app.graphql.ids import node_id, org_id
from app.graphql.orgs.types import InOrganization
from app.graphql.subscriptions.types import ModelSubscription, present


@strawberry.input(
    description="Subscribe an organization to a model's tier; the first month is charged at once."
)
class SubscribeInput:
    organization_id: relay.GlobalID = strawberry.field(description="The Team organization.")
    model: str = strawberry.field(description="The model's catalog id, e.g. `gpt-oss-120b`.")
    tier: str = strawberry.field(description="The tier's id, e.g. `starter`.")


@strawberry.input(
    description="Move a subscription to another tier: a dearer one at once (the rest of the period is charged "
    "pro rata), a cheaper one at the period end. Choosing the current tier undoes a planned downgrade."
)
class ChangeSubscriptionTierInput:
    subscription_id: relay.GlobalID = strawberry.field(description="The subscription.")
    tier: str = strawberry.field(description="The new tier's id.")


@strawberry.input(description="A subscription to act on.")
class SubscriptionIdInput:
    subscription_id: relay.GlobalID = strawberry.field(description="The subscription.")


@strawberry.type(description="The subscription as it is now, and its organization (whose list it is in).")
class SubscriptionPayload(InOrganization):
    subscription: ModelSubscription = strawberry.field(description="The subscription.")


SubscribeResult = result_union(
    "SubscribeResult", SubscriptionPayload, PaymentError, PaymentAuthenticationRequired
)
ChangeSubscriptionTierResult = result_union(
    "ChangeSubscriptionTierResult", SubscriptionPayload, PaymentError, PaymentAuthenticationRequired
)
CancelSubscriptionResult = result_union("CancelSubscriptionResult", SubscriptionPayload)
ResumeSubscriptionResult = result_union("ResumeSubscriptionResult", SubscriptionPayload)


def _subscription_id(gid: relay.GlobalID) -> str:
    return node_id(gid, "ModelSubscription", "subscriptionId")


@strawberry.type
class SubscriptionMutations:
    @mutation(
        "Subscribe a Team organization to a model's tier (Organization Admins, with a payment method on file). "
        "Only a successful charge of the first month activates it; a sold-out tier is refused (SOLD_OUT). A card "
        "that needs the cardholder's authentication answers PaymentAuthenticationRequired: the subscription "
        "stays INCOMPLETE, holding its place, until the payment completes (`completePayment`)."
    )
    async def subscribe(self, info: Info, input: Annotated[SubscribeInput, INPUT]) -> SubscribeResult:
        context = info.context
        row = await subscriptions.subscribe(
            context.db,
            context.actor(),
            org_id(input.organization_id),
            payments=context.services.payments,
            catalog=context.services.catalog,
            model_id=input.model,
            tier_id=input.tier,
            retries=context.settings.subscription_renewal_retries,
        )
        return SubscriptionPayload(organization_id=row.organization_id, subscription=await present(info, row))

    @mutation(
        "Change a subscription's tier (Organization Admins): upgrades now, pro rata; downgrades at the period end. "
        "An upgrade whose card needs authentication answers PaymentAuthenticationRequired and applies once "
        "the payment completes (`completePayment`)."
    )
    async def change_subscription_tier(
        self, info: Info, input: Annotated[ChangeSubscriptionTierInput, INPUT]
    ) -> ChangeSubscriptionTierResult:
        context = info.context
        row = await subscriptions.change_tier(
            context.db,
            context.actor(),
            _subscription_id(input.subscription_id),
            payments=context.services.payments,
            catalog=context.services.catalog,
            tier_id=input.tier,
            retries=context.settings.subscription_renewal_retries,
        )
        return SubscriptionPayload(organization_id=row.organization_id, subscription=await present(info, row))

    @mutation(
        "Cancel a subscription (Organization Admins): it runs to the end of the paid period, and resuming before "
        "then undoes it. A past-due subscription ends at once."
    )
    async def cancel_subscription(
        self, info: Info, input: Annotated[SubscriptionIdInput, INPUT]
    ) -> CancelSubscriptionResult:
        context = info.context
        row = await subscriptions.cancel(context.db, context.actor(), _subscription_id(input.subscription_id))
        return SubscriptionPayload(organization_id=row.organization_id, subscription=await present(info, row))

    @mutation(
        "Undo a cancellation before the paid period ends (Organization Admins): the subscription renews again."
    )
    async def resume_subscription(
        self, info: Info, input: Annotated[SubscriptionIdInput, INPUT]
    ) -> ResumeSubscriptionResult:
        context = info.context
        row = await subscriptions.resume(context.db, context.actor(), _subscription_id(input.subscription_id))
        return SubscriptionPayload(organization_id=row.organization_id, subscription=await present(info, row))
