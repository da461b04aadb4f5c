"""Notification settings of an organization: billing contacts, the admin's own notices, alert levels."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app import clock
from app.domain.credits.amounts import parse_nanos
from app.domain.credits.periods import period_of
from app.domain.money import NANOS_PER_CENT
from app.domain.notifications import preferences, spend_alerts
from app.domain.notifications.models import BillingContact as ContactModel
from app.domain.notifications.models import Notice
from app.graphql.billing import org_id
from app.graphql.context import Info
from app.graphql.errors import (
    INPUT,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
    describe_enum,
    field_with_errors,
    mutation,
    result_union,
)
from app.graphql.money import Money

NoticeEnum = describe_enum(
    Notice,
    "A kind of billing notice; each recipient chooses which they get.",
    name="Notice",
    RECEIPTS="A receipt for every succeeded payment.",
    LOW_BALANCE="The PayGo balance fell below the organization's low-balance level.",
    CREDITS_EXPIRING="Credits expire within 30 (then 7) days.",
    SPEND_ALERTS="This month's spend passed one of the spend alerts.",
    FAILED_CHARGES="A charge failed (auto-recharge, settlement, subscription renewal). Admins always get "
    "failed auto-recharges: they are security notices.",
    SUBSCRIPTION_CHANGES="A subscription renewed, ended or changed.",
)


@strawberry.type(
    description="An address that gets billing notices without being a member (e.g. accounts payable)."
)
class BillingContact:
    id: strawberry.ID = strawberry.field(description="The contact's ID.")
    email: str = strawberry.field(description="Where the notices go.")
    notices: list[NoticeEnum] = strawberry.field(description="The notices it gets.")  # type: ignore[valid-type]
    created_at: datetime = strawberry.field(description="When it was added (UTC).")

    @classmethod
    def from_model(cls, contact: ContactModel) -> BillingContact:
        return cls(
            id=strawberry.ID(contact.id),
            email=contact.email,
            notices=[Notice(n) for n in contact.notices],
            created_at=contact.created_at,
        )


@strawberry.type(
    description="An amount of spend per calendar month (UTC); the billing recipients hear once when it is passed."
)
class SpendAlert:
    id: strawberry.ID = strawberry.field(description="The alert's ID.")
    amount: Money = strawberry.field(description="The monthly amount.")
    fired_at: datetime | None = strawberry.field(
        description="When it fired this month (UTC); null: this month's spend has not passed it yet."
    )

    @classmethod
    def from_state(cls, state: spend_alerts.SpendAlertState) -> SpendAlert:
        return cls(
            id=strawberry.ID(state.alert.id),
            amount=Money.from_nanos(state.alert.amount_nanos),
            fired_at=state.fired_at,
        )


@strawberry.type(description="Who hears of what in the organization's billing. Organization Admins only.")
class NotificationSettings:
    billing_contacts: list[BillingContact] = strawberry.field(description="Addresses that are not members.")
    my_notices: list[NoticeEnum] = strawberry.field(  # type: ignore[valid-type]
        description="The notices the asking admin gets; security notices reach every admin regardless."
    )
    low_balance_alert: Money = strawberry.field(description="The balance below which LOW_BALANCE is sent.")
    low_balance_alert_is_default: bool = strawberry.field(
        description="Whether that level is the service's default (the organization set none)."
    )
    spend_alerts: list[SpendAlert] = strawberry.field(description="The spend alerts, smallest first.")
    month: str = strawberry.field(description="The current calendar month (UTC), `YYYY-MM`.")
    month_to_date_spend: Money = strawberry.field(
        description="Spend this month so far: PayGo usage billed to credits plus subscription charges."
    )


NotificationSettingsResult = Annotated[
    NotificationSettings | ForbiddenError | NotFoundError | UnauthenticatedError,
    strawberry.union(
        "NotificationSettingsResult",
        description="The settings, or FORBIDDEN for anyone but an Organization Admin.",
    ),
]


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
ORGANIZATION = Annotated[relay.GlobalID, strawberry.argument(description="The organization.")]
MAX_ALERT_CENTS = 100_000_000  # $1,000,000 a month


async def load_settings(info: Info, organization_id: str) -> NotificationSettings:
    """The settings as the asking admin sees them (checks the role)."""
    session = await info.context.session()
    actor = info.context.actor()
    default = info.context.settings.credits_low_balance_alert_cents * NANOS_PER_CENT
    found = await preferences.notification_settings(
        session, actor, organization_id, default_low_balance_nanos=default
    )
    now = clock.now()
    alerts = await spend_alerts.list_spend_alerts(session, organization_id, now)
    return NotificationSettings(
        billing_contacts=[BillingContact.from_model(c) for c in found.contacts],
        my_notices=found.my_notices,
        low_balance_alert=Money.from_nanos(found.low_balance_alert_nanos),
        low_balance_alert_is_default=found.low_balance_alert_is_default,
        spend_alerts=[SpendAlert.from_state(a) for a in alerts],
        month=period_of(now),
        month_to_date_spend=Money.from_nanos(
            await spend_alerts.month_to_date_spend(session, organization_id, now)
        ),
    )


async def _after(info: Info, organization_id: str) -> NotificationSettingsPayload:
    return NotificationSettingsPayload(settings=await load_settings(info, organization_id))


@strawberry.type
class NotificationQueries:
    @field_with_errors(
        "An organization's notification settings, spend alerts and this month's spend (Org Admins)."
    )
    async def notification_settings(
        self, info: Info, organization_id: ORGANIZATION
    ) -> NotificationSettingsResult:
        return await load_settings(info, org_id(organization_id))


@strawberry.type
class NotificationMutations:
    @mutation("Add a spend alert: the billing recipients hear once a month when spend passes it.")
    async def add_spend_alert(
        self, info: Info, input: Annotated[AddSpendAlertInput, INPUT]
    ) -> NotificationSettingsChangeResult:
        organization_id = org_id(input.organization_id)
        amount = parse_nanos(input.amount, field="amount", minimum_cents=1, maximum_cents=MAX_ALERT_CENTS)
        async with info.context.transaction() as session:
            await spend_alerts.add_spend_alert(session, info.context.actor(), organization_id, amount)
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
            await preferences.set_low_balance_alert(session, info.context.actor(), organization_id, amount)
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
                session, info.context.actor(), organization_id, list(input.notices)
            )
        return await _after(info, organization_id)
