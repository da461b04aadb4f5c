"""Who pays for a model's usage in an organization at a time, and under which limits.

The rule, in order:
1. the model is unknown or past its deprecation date: NONE (nobody may use it);
2. a subscription covers the model: SUBSCRIPTION, with its tier's limits. ACTIVE covers, and so does
   PAST_DUE: the renewal is retried daily (SUBSCRIPTION_RENEWAL_RETRIES times) and the subscription
   keeps working meanwhile, then it is canceled. A cancellation covers until the end of the paid
   period. A subscription still being paid (INCOMPLETE) covers nothing yet;
3. a Personal organization: FREE, with the free-tier limits;
4. a Team organization with credit (balance > 0): PAYGO, with staff's override of the model's
   limits for the organization if there is one, else the model's PayGo limits;
5. otherwise NONE: the admission API answers 402.
Only PAYGO burns credits; usage of a subscribed model never does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.catalog.models import Catalog, CatalogModel, RateLimits
from app.domain.credits.ledger import ACCOUNT
from app.domain.orgs.models import Organization, OrganizationType
from app.domain.plans.models import ModelLimitOverride
from app.domain.subscriptions.models import COVERING_STATES, Subscription


class PlanKind(Enum):
    """Who pays; the values are the fleet's plan names."""

    SUBSCRIPTION = "subscription"
    PAYGO = "paygo"
    FREE = "free"
    NONE = "none"


class LimitsSource(Enum):
    """Where a plan's limits come from."""

    TIER = "TIER"
    PAYGO = "PAYGO"
    OVERRIDE = "OVERRIDE"
    FREE_TIER = "FREE_TIER"
    NONE = "NONE"


@dataclass(frozen=True, slots=True)
class Plan:
    """Who pays for one model in one organization, the organization-level limits, and why."""

    model_id: str
    kind: PlanKind
    limits: RateLimits | None  # None: nothing may run (NONE)
    limits_source: LimitsSource
    reason: str
    subscription_id: str | None = None
    tier_id: str | None = None
    # when time alone ends this decision (a canceled subscription's paid period, the model's
    # deprecation); None: only a change of the organization's data can
    until: datetime | None = None

    @property
    def burns_credits(self) -> bool:
        """Whether usage under this plan is priced per token and debited from credits."""
        return self.kind is PlanKind.PAYGO


class OrganizationFacts(Protocol):
    """What the rule reads of an organization (an `Organization`, or a row of these columns)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> OrganizationType: ...


def covers(subscription: Subscription, at: datetime) -> bool:
    """Whether the subscription pays for the model's usage at `at`."""
    if subscription.state not in COVERING_STATES:
        return False
    return not subscription.cancel_at_period_end or at < subscription.current_period_end


def decide(
    model_id: str,
    model: CatalogModel | None,
    organization: OrganizationFacts,
    *,
    at: datetime,
    subscription: Subscription | None,
    override: ModelLimitOverride | None,
    balance: int | None,
) -> Plan:
    """The rule itself, on what has been read (`balance` may be None where it is not needed)."""
    if model is None:
        return Plan(
            model_id, PlanKind.NONE, None, LimitsSource.NONE, f"No model '{model_id}' in the catalog."
        )
    if model.is_deprecated(at):
        reason = f"{model.display_name} was deprecated on {model.deprecation_date}."
        return Plan(model_id, PlanKind.NONE, None, LimitsSource.NONE, reason)
    until = model.deprecated_at
    if subscription is not None and covers(subscription, at):
        tier = model.tier(subscription.tier_id)
        # a tier taken out of the catalog keeps serving its subscribers until their period ends
        limits = tier.limits if tier is not None else model.paygo_limits
        if subscription.cancel_at_period_end:
            until = min(filter(None, (until, subscription.current_period_end)))
        return Plan(
            model_id,
            PlanKind.SUBSCRIPTION,
            limits,
            LimitsSource.TIER,
            f"Subscription to the {tier.display_name if tier else subscription.tier_id} tier.",
            subscription_id=subscription.id,
            tier_id=subscription.tier_id,
            until=until,
        )
    if organization.type is OrganizationType.PERSONAL:
        return Plan(
            model_id, PlanKind.FREE, model.free_tier_limits, LimitsSource.FREE_TIER, "Free tier.", until=until
        )
    if balance is not None and balance > 0:
        if override is not None:
            return Plan(
                model_id,
                PlanKind.PAYGO,
                override.limits(),
                LimitsSource.OVERRIDE,
                "PayGo credits, custom limits.",
                until=until,
            )
        return Plan(
            model_id, PlanKind.PAYGO, model.paygo_limits, LimitsSource.PAYGO, "PayGo credits.", until=until
        )
    reason = payment_required_message(organization.name, organization.id, model_id)
    return Plan(model_id, PlanKind.NONE, None, LimitsSource.NONE, reason, until=until)


def payment_required_message(organization_name: str, organization_id: str, model_id: str) -> str:
    """Why nobody pays for a model: the plan's reason, and the text of the fleet's 402 answer."""
    return (
        f"The organization '{organization_name}' ({organization_id}) has no active subscription for "
        f"'{model_id}' and no available credits. Add credits or subscribe to a plan for this model in the "
        "console; an API key uses the credits of its own organization only."
    )


async def who_pays(
    session: AsyncSession, catalog: Catalog, *, organization: Organization, model_id: str, at: datetime
) -> Plan:
    """Who pays for `model_id` in the organization at `at`."""
    return (await _plans(session, catalog, [organization], [model_id], at))[organization.id].plans[model_id]


async def plans_of(
    session: AsyncSession, catalog: Catalog, *, organization: Organization, at: datetime
) -> dict[str, Plan]:
    """Every catalog model's plan for the organization, by model id.

    Three indexed reads at most: its covering subscriptions, staff's overrides, and the credit balance
    (read only for a Team organization that has a model left to pay for with credits).
    """
    return (await plans_of_many(session, catalog, organizations=[organization], at=at))[organization.id].plans


@dataclass(frozen=True, slots=True)
class OrganizationPlans:
    """Every catalog model's plan for one organization, and its balance (nanos) when it was read."""

    plans: dict[str, Plan]
    balance_nanos: int | None


async def plans_of_many(
    session: AsyncSession, catalog: Catalog, *, organizations: Sequence[OrganizationFacts], at: datetime
) -> dict[str, OrganizationPlans]:
    """`plans_of` for many organizations at once, by organization id (for the fleet's cache).

    The same three reads for all of them together, `PLANS_BATCH` organizations per statement.
    """
    models = [model.id for model in catalog.models]
    found: dict[str, OrganizationPlans] = {}
    for start in range(0, len(organizations), PLANS_BATCH):
        found.update(await _plans(session, catalog, organizations[start : start + PLANS_BATCH], models, at))
    return found


PLANS_BATCH = 2000  # organizations per statement: far below every driver's parameter limit


async def balances_of(session: AsyncSession, organization_ids: list[str]) -> dict[str, int]:
    """The balances (nanos) of the organizations that have a credit account (the others have none: 0)."""
    rows = await session.execute(
        select(ACCOUNT.c.organization_id, ACCOUNT.c.balance_nanos).where(
            ACCOUNT.c.organization_id.in_(organization_ids)
        )
    )
    return {organization_id: balance for organization_id, balance in rows}


async def _plans(
    session: AsyncSession,
    catalog: Catalog,
    organizations: Sequence[OrganizationFacts],
    model_ids: Iterable[str],
    at: datetime,
) -> dict[str, OrganizationPlans]:
    wanted = list(model_ids)
    ids = [organization.id for organization in organizations]
    subscriptions: dict[tuple[str, str], Subscription] = {
        (row.organization_id, row.model_id): row
        for row in await session.scalars(
            select(Subscription)
            .where(col(Subscription.organization_id).in_(ids))
            .where(col(Subscription.model_id).in_(wanted))
            .where(col(Subscription.state).in_(COVERING_STATES))
        )
        if covers(row, at)
    }
    # Team organizations with a model left to pay for with credits: their overrides and balances matter
    paying = {
        organization.id: [
            model_id
            for model_id in wanted
            if (organization.id, model_id) not in subscriptions
            and (model := catalog.model(model_id)) is not None
            and not model.is_deprecated(at)
        ]
        for organization in organizations
        if organization.type is OrganizationType.TEAM
    }
    paying = {organization_id: models for organization_id, models in paying.items() if models}
    overrides: dict[tuple[str, str], ModelLimitOverride] = {}
    balances: dict[str, int] = {}
    if paying:
        overrides = {
            (row.organization_id, row.model_id): row
            for row in await session.scalars(
                select(ModelLimitOverride)
                .where(col(ModelLimitOverride.organization_id).in_(list(paying)))
                .where(col(ModelLimitOverride.model_id).in_(wanted))
            )
        }
        balances = await balances_of(session, list(paying))
    found = {}
    for organization in organizations:
        balance = balances.get(organization.id, 0) if organization.id in paying else None
        plans = {
            model_id: decide(
                model_id,
                catalog.model(model_id),
                organization,
                at=at,
                subscription=subscriptions.get((organization.id, model_id)),
                override=overrides.get((organization.id, model_id)),
                balance=balance,
            )
            for model_id in wanted
        }
        found[organization.id] = OrganizationPlans(plans, balance)
    return found
