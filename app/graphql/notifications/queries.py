"""An organization's notification settings, for its Organization Admins."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app import clock
from app.domain.credits.periods import period_of
from app.domain.money import NANOS_PER_CENT
from app.domain.notifications import preferences, spend_alerts
from app.graphql.context import Info
from app.graphql.errors import field_with_errors
from app.graphql.ids import org_id
from app.graphql.money import Money
from app.graphql.notifications.types import (
    BillingContact,
    NotificationSettings,
    NotificationSettingsResult,
    SpendAlert,
)

ORGANIZATION = Annotated[relay.GlobalID, strawberry.argument(description="The organization.")]


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


@strawberry.type
class NotificationQueries:
    @field_with_errors(
        "An organization's notification settings, spend alerts and this month's spend (Org Admins)."
    )
    async def notification_settings(
        self, info: Info, organization_id: ORGANIZATION
    ) -> NotificationSettingsResult:
        return await load_settings(info, org_id(organization_id))
