"""Changing an organization's notification settings (Organization Admins)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.credits.amounts import parse_nanos
from app.domain.notifications import preferences, spend_alerts
from app.graphql.context import Info
from app.graphql.errors import INPUT, mutation, result_union
from app.graphql.ids import org_id
from app.graphql.notifications.queries import load_settings
from app.graphql.notifications.types import NoticeEnum, NotificationSettings


@strawberry.input(description="A spend alert to add.")
class AddSpendAlertInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    amount: str = strawberry.field(description="USD per calendar month, whole cents, e.g. `500`.")


@strawberry.input(description="The spend alert to remove.")
class RemoveSpendAlertInput:
    alert_id: strawberry.ID = strawberry.field(description="A `SpendAlert.id`.")


@strawberry.input(description="The organization's low-balance level.")
class SetLowBalanceAlertInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    amount: str | None = strawberry.field(
        description="USD, whole cents, e.g. `20`; null: back to the service's default."
    )


@strawberry.input(description="A billing contact to add.")
class AddBillingContactInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    email: str = strawberry.field(description="An address that is not a member's.")
    notices: list[NoticeEnum] = strawberry.field(description="The notices it gets.")  # type: ignore[valid-type]


@strawberry.input(description="Which notices a billing contact gets.")
class UpdateBillingContactInput:
    contact_id: strawberry.ID = strawberry.field(description="A `BillingContact.id`.")
    notices: list[NoticeEnum] = strawberry.field(description="The notices it gets from now on.")  # type: ignore[valid-type]


@strawberry.input(description="The billing contact to remove.")
class RemoveBillingContactInput:
    contact_id: strawberry.ID = strawberry.field(description="A `BillingContact.id`.")


@strawberry.input(description="The notices the signed-in Organization Admin gets from this organization.")
class SetMyNoticesInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    notices: list[NoticeEnum] = strawberry.field(description="The notices to get; the others stop.")  # type: ignore[valid-type]


@strawberry.type(description="The organization's notification settings after the change.")
class NotificationSettingsPayload:
    settings: NotificationSettings = strawberry.field(description="The settings as they are now.")


NotificationSettingsChangeResult = result_union(
    "NotificationSettingsChangeResult", NotificationSettingsPayload
)
MAX_ALERT_CENTS = 100_000_000  # $1,000,000 a month


async def _after(info: Info, organization_id: str) -> NotificationSettingsPayload:
    return NotificationSettingsPayload(settings=await load_settings(info, organization_id))


@strawberry.type
class NotificationMutations:
    @mutation("Add a spend alert: the billing recipients hear once a month when spend passes it.")
    async def add_spend_alert(
        self, info: Info, input: Annotated[AddSpendAlertInput, INPUT]
    ) -> NotificationSettingsChangeResult:
        organization_id = org_id(input.organization_id)
        amount = parse_nanos(input.amount, field="amount", minimum_cents=1, maximum_cents=MAX_ALERT_CENTS)
        async with info.context.transaction() as session:
            await spend_alerts.add_spend_alert(
                session, info.context.actor(), organization_id, amount_nanos=amount
            )
        return await _after(info, organization_id)

    @mutation("Remove a spend alert.")
    async def remove_spend_alert(
        self, info: Info, input: Annotated[RemoveSpendAlertInput, INPUT]
    ) -> NotificationSettingsChangeResult:
        async with info.context.transaction() as session:
            alert = await spend_alerts.remove_spend_alert(session, info.context.actor(), str(input.alert_id))
        return await _after(info, alert.organization_id)

    @mutation("Set the organization's low-balance level (or go back to the service's default).")
    async def set_low_balance_alert(
        self, info: Info, input: Annotated[SetLowBalanceAlertInput, INPUT]
    ) -> NotificationSettingsChangeResult:
        organization_id = org_id(input.organization_id)
        amount = (
            None
            if input.amount is None
            else parse_nanos(input.amount, field="amount", maximum_cents=MAX_ALERT_CENTS)
        )
        async with info.context.transaction() as session:
            await preferences.set_low_balance_alert(
                session, info.context.actor(), organization_id, amount_nanos=amount
            )
        return await _after(info, organization_id)

    @mutation("Add a billing contact: an address that is not a member gets the chosen notices.")
    async def add_billing_contact(
        self, info: Info, input: Annotated[AddBillingContactInput, INPUT]
    ) -> NotificationSettingsChangeResult:
        organization_id = org_id(input.organization_id)
        async with info.context.transaction() as session:
            await preferences.add_billing_contact(
                session, info.context.actor(), organization_id, email=input.email, notices=list(input.notices)
            )
        return await _after(info, organization_id)

    @mutation("Change which notices a billing contact gets.")
    async def update_billing_contact(
        self, info: Info, input: Annotated[UpdateBillingContactInput, INPUT]
    ) -> NotificationSettingsChangeResult:
        async with info.context.transaction() as session:
            contact = await preferences.update_billing_contact(
                session, info.context.actor(), str(input.contact_id), notices=list(input.notices)
            )
            organization_id = contact.organization_id
        return await _after(info, organization_id)

    @mutation("Remove a billing contact.")
    async def remove_billing_contact(
        self, info: Info, input: Annotated[RemoveBillingContactInput, INPUT]
    ) -> NotificationSettingsChangeResult:
        async with info.context.transaction() as session:
            contact = await preferences.remove_billing_contact(
                session, info.context.actor(), str(input.contact_id)
            )
            organization_id = contact.organization_id
        return await _after(info, organization_id)

    @mutation("Choose the notices the signed-in Organization Admin gets from this organization.")
    async def set_my_notices(
        self, info: Info, input: Annotated[SetMyNoticesInput, INPUT]
    ) -> NotificationSettingsChangeResult:
        organization_id = org_id(input.organization_id)
        async with info.context.transaction() as session:
            await preferences.set_my_notices(
                session, info.context.actor(), organization_id, notices=list(input.notices)
            )
        return await _after(info, organization_id)
