"""Who pays for a model: one rule, over every case, in its single and bulk forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.db import Database
from app.domain.accounts.models import User
from app.domain.catalog import load_catalog
from app.domain.catalog.models import RateLimits
from app.domain.orgs.models import Organization, OrganizationType
from app.domain.orgs.service import create_organization
from app.domain.plans import LimitsSource, PlanKind, plans_of, who_pays
from app.domain.plans.overrides import remove_limit_override, set_limit_override
from app.domain.plans.service import decide
from app.domain.subscriptions.models import Subscription, SubscriptionState
from app.services import Services
from tests.graphql.test_query_count import count_statements
from tests.subscriptions.support import actor, subscribe, use_card
from tests.support import World

CATALOG = load_catalog()
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
GPT = CATALOG.model("gpt-oss-120b")
TEAM = Organization(id="org_team", name="Team", type=OrganizationType.TEAM)
PERSONAL = Organization(id="org_me", name="Personal", type=OrganizationType.PERSONAL)


def subscription(state: SubscriptionState, *, canceling: bool = False, tier: str = "growth") -> Subscription:
    return Subscription(
        id="sub_x",
        organization_id="org_team",
        model_id="gpt-oss-120b",
        tier_id=tier,
        state=state,
        cancel_at_period_end=canceling,
        billing_anchor=NOW - timedelta(days=10),
        current_period_start=NOW - timedelta(days=10),
        current_period_end=NOW + timedelta(days=20),
    )


@pytest.mark.parametrize(
    ("organization", "model_id", "sub", "balance", "at", "kind", "source"),
    [
        # a Personal organization uses the free tier; a subscription (after a type change) still wins
        (PERSONAL, "gpt-oss-120b", None, None, NOW, PlanKind.FREE, LimitsSource.FREE_TIER),
        (
            PERSONAL,
            "gpt-oss-120b",
            subscription(SubscriptionState.ACTIVE),
            None,
            NOW,
            PlanKind.SUBSCRIPTION,
            LimitsSource.TIER,
        ),
        # a Team organization: its subscription, else credit, else nothing
        (
            TEAM,
            "gpt-oss-120b",
            subscription(SubscriptionState.ACTIVE),
            10**9,
            NOW,
            PlanKind.SUBSCRIPTION,
            LimitsSource.TIER,
        ),
        (
            TEAM,
            "gpt-oss-120b",
            subscription(SubscriptionState.ACTIVE),
            0,
            NOW,
            PlanKind.SUBSCRIPTION,
            LimitsSource.TIER,
        ),
        (
            TEAM,
            "gpt-oss-120b",
            subscription(SubscriptionState.PAST_DUE),
            0,
            NOW,
            PlanKind.SUBSCRIPTION,
            LimitsSource.TIER,
        ),
        (
            TEAM,
            "gpt-oss-120b",
            subscription(SubscriptionState.INCOMPLETE),
            0,
            NOW,
            PlanKind.NONE,
            LimitsSource.NONE,
        ),
        (
            TEAM,
            "gpt-oss-120b",
            subscription(SubscriptionState.INCOMPLETE),
            5,
            NOW,
            PlanKind.PAYGO,
            LimitsSource.PAYGO,
        ),
        (
            TEAM,
            "gpt-oss-120b",
            subscription(SubscriptionState.CANCELED),
            5,
            NOW,
            PlanKind.PAYGO,
            LimitsSource.PAYGO,
        ),
        (TEAM, "gpt-oss-120b", None, 1, NOW, PlanKind.PAYGO, LimitsSource.PAYGO),
        (TEAM, "gpt-oss-120b", None, 0, NOW, PlanKind.NONE, LimitsSource.NONE),
        (TEAM, "gpt-oss-120b", None, -500, NOW, PlanKind.NONE, LimitsSource.NONE),  # a debt is no credit
        # a canceled subscription covers until the end of its paid period
        (
            TEAM,
            "gpt-oss-120b",
            subscription(SubscriptionState.ACTIVE, canceling=True),
            0,
            NOW,
            PlanKind.SUBSCRIPTION,
            LimitsSource.TIER,
        ),
        (
            TEAM,
            "gpt-oss-120b",
            subscription(SubscriptionState.ACTIVE, canceling=True),
            9,
            NOW + timedelta(days=20),
            PlanKind.PAYGO,
            LimitsSource.PAYGO,
        ),
        # a deprecated or unknown model is nobody's to pay for
        (TEAM, "llama3.1-8b", None, 10**9, NOW, PlanKind.NONE, LimitsSource.NONE),
        (PERSONAL, "qwen-3-235b-a22b-instruct-2507", None, None, NOW, PlanKind.NONE, LimitsSource.NONE),
        (
            TEAM,
            "llama3.1-8b",
            None,
            10**9,
            datetime(2026, 5, 26, 23, 59, tzinfo=UTC),
            PlanKind.PAYGO,
            LimitsSource.PAYGO,
        ),
        (TEAM, "no-such-model", None, 10**9, NOW, PlanKind.NONE, LimitsSource.NONE),
    ],
)
def test_the_rule(
    organization: Organization,
    model_id: str,
    sub: Subscription | None,
    balance: int | None,
    at: datetime,
    kind: PlanKind,
    source: LimitsSource,
) -> None:
    model = CATALOG.model(model_id)
    plan = decide(model_id, model, organization, at=at, subscription=sub, override=None, balance=balance)
    assert (plan.kind, plan.limits_source) == (kind, source)
    assert plan.burns_credits is (kind is PlanKind.PAYGO)
    expected = {
        LimitsSource.TIER: lambda: CATALOG.tier(model_id, "growth").limits,  # type: ignore[union-attr]
        LimitsSource.PAYGO: lambda: model.paygo_limits,  # type: ignore[union-attr]
        LimitsSource.FREE_TIER: lambda: model.free_tier_limits,  # type: ignore[union-attr]
        LimitsSource.NONE: lambda: None,
    }[source]()
    assert plan.limits == expected
    if kind is PlanKind.SUBSCRIPTION:
        assert (plan.subscription_id, plan.tier_id) == ("sub_x", "growth")


def test_no_credit_names_the_organization() -> None:
    plan = decide("gpt-oss-120b", GPT, TEAM, at=NOW, subscription=None, override=None, balance=0)
    assert "'Team' (org_team)" in plan.reason and "Add credits or subscribe" in plan.reason


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


async def _organization(database: Database, organization_id: str) -> Organization:
    async with database.reader() as session:
        organization = await session.get(Organization, organization_id)
    assert organization is not None
    return organization


async def test_a_subscribed_model_is_paid_by_the_subscription_and_the_others_by_credit(
    database: Database, services: Services, world: World, clock: Any, balances: dict[str, int]
) -> None:
    balances[world.acme_id] = 25 * 10**9
    await use_card(database, services, world.acme_id)
    subscribed = await subscribe(database, services, world, tier="scale")
    acme = await _organization(database, world.acme_id)
    async with database.reader() as session:
        with count_statements(database) as statements:
            plans = await plans_of(session, services.catalog, organization=acme, at=clock.at)
        # subscriptions and overrides; the third, the balance, is the credits ledger's (faked here)
        assert len(selects(statements)) == 2
        single = await who_pays(
            session, services.catalog, organization=acme, model_id="gpt-oss-120b", at=clock.at
        )
    assert plans["gpt-oss-120b"] == single
    assert (single.kind, single.subscription_id, single.tier_id) == (
        PlanKind.SUBSCRIPTION,
        subscribed.id,
        "scale",
    )
    assert single.limits == services.catalog.tier("gpt-oss-120b", "scale").limits  # type: ignore[union-attr]
    assert not single.burns_credits
    assert plans["zai-glm-4.7"].kind is PlanKind.PAYGO
    assert plans["llama3.1-8b"].kind is plans["qwen-3-235b-a22b-instruct-2507"].kind is PlanKind.NONE
    assert list(plans) == [model.id for model in services.catalog.models]


async def test_a_personal_organization_reads_no_balance(
    database: Database, services: Services, world: World, clock: Any, balances: dict[str, int]
) -> None:
    async with database.transaction() as session:
        owner = await session.get(User, world.people["admin"].user_id)
        assert owner is not None
        personal = await create_organization(
            session, owner=owner, name="Personal", type=OrganizationType.PERSONAL
        )
    async with database.reader() as session:
        with count_statements(database) as statements:
            plans = await plans_of(session, services.catalog, organization=personal, at=clock.at)
    assert len(selects(statements)) == 1  # its subscriptions only
    assert plans["gpt-oss-120b"].kind is PlanKind.FREE
    assert plans["gpt-oss-120b"].limits == services.catalog.model("gpt-oss-120b").free_tier_limits  # type: ignore[union-attr]


async def test_staff_override_replaces_the_paygo_limits(
    database: Database, services: Services, world: World, clock: Any, balances: dict[str, int]
) -> None:
    balances[world.acme_id] = 1
    custom = RateLimits(requests_per_minute=5_000, tokens_per_minute=5_000_000, tokens_per_day=10**9)
    async with database.transaction() as session:
        row = await set_limit_override(
            session,
            actor(world, "staff"),
            world.acme_id,
            catalog=services.catalog,
            model_id="gpt-oss-120b",
            limits=custom,
        )
    assert (row.set_by, row.set_at) == (world.people["staff"].user_id, clock.at)
    acme = await _organization(database, world.acme_id)
    async with database.reader() as session:
        plan = await who_pays(
            session, services.catalog, organization=acme, model_id="gpt-oss-120b", at=clock.at
        )
        other = await who_pays(
            session, services.catalog, organization=acme, model_id="zai-glm-4.7", at=clock.at
        )
    assert (plan.kind, plan.limits_source, plan.limits) == (PlanKind.PAYGO, LimitsSource.OVERRIDE, custom)
    assert other.limits_source is LimitsSource.PAYGO
    balances[world.acme_id] = 0  # no credit: the override does not make usage free
    async with database.reader() as session:
        assert (
            await who_pays(session, services.catalog, organization=acme, model_id="gpt-oss-120b", at=clock.at)
        ).kind is PlanKind.NONE
    async with database.transaction() as session:
        assert await remove_limit_override(
            session, actor(world, "staff"), world.acme_id, model_id="gpt-oss-120b"
        )


async def test_only_staff_set_overrides(database: Database, services: Services, world: World) -> None:
    from app.domain.errors import Forbidden

    with pytest.raises(Forbidden):
        async with database.transaction() as session:
            await set_limit_override(
                session,
                actor(world),
                world.acme_id,
                catalog=services.catalog,
                model_id="gpt-oss-120b",
                limits=RateLimits(requests_per_minute=1, tokens_per_minute=1),
            )


async def test_a_team_without_credits_reads_its_real_balance(
    database: Database, services: Services, world: World, clock: Any
) -> None:
    acme = await _organization(database, world.acme_id)
    async with database.reader() as session:
        plan = await who_pays(
            session, services.catalog, organization=acme, model_id="zai-glm-4.7", at=clock.at
        )
    assert (plan.kind, plan.limits) == (PlanKind.NONE, None)
    assert f"'Acme' ({world.acme_id})" in plan.reason
