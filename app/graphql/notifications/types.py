"""Notification settings as the console shows them: billing contacts, notices, alert levels, spend alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.domain.notifications import spend_alerts
from app.domain.notifications.models import BillingContact as ContactModel
from app.domain.notifications.models import Notice
from app.graphql.errors import ForbiddenError, NotFoundError, UnauthenticatedError, describe_enum
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
