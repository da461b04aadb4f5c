"""Subscriptions through the console's GraphQL API: typed results, the org's list, its plans."""

from __future__ import annotations

from typing import Any

from app.db import Database
from app.services import Services
from tests.subscriptions.support import use_card
from tests.support import GraphQL, World

FIELDS = """
  id modelId tierId state cancelAtPeriodEnd currentPeriodStart currentPeriodEnd nextChargeAt
  monthlyPrice { amount currency } tier { displayName capacityLeft } model { displayName }
  scheduledTier { tierId } pendingTier { tierId } endReason
"""
RESULT = f"""__typename ... on SubscriptionPayload {{ subscription {{ {FIELDS} }} }}
  ... on Error {{ code message field }}"""
PAID = RESULT + " ... on PaymentError { declineCode }"
SUBSCRIBE = f"mutation($input: SubscribeInput!) {{ subscribe(input: $input) {{ {PAID} }} }}"
CHANGE = (
    f"mutation($input: ChangeSubscriptionTierInput!) {{ changeSubscriptionTier(input: $input) {{ {PAID} }} }}"
)
CANCEL = f"mutation($input: SubscriptionIdInput!) {{ cancelSubscription(input: $input) {{ {RESULT} }} }}"
RESUME = f"mutation($input: SubscriptionIdInput!) {{ resumeSubscription(input: $input) {{ {RESULT} }} }}"
ORGANIZATION = """
query($id: ID!) { node(id: $id) { ... on Organization {
  subscriptions(includeEnded: true) { __typename ... on SubscriptionList { subscriptions { edges { node { id state tierId } } } } }
  plans { modelId kind limitsSource tierId burnsCredits reason limits { requestsPerMinute tokensPerMinute } }
} } }
"""


async def subscribe(gql: GraphQL, world: World, tier: str = "starter") -> dict[str, Any]:
    variables = {
        "input": {
            "organizationId": world.gid("Organization", world.acme_id),
            "model": "gpt-oss-120b",
            "tier": tier,
        }
    }
    return (await gql(SUBSCRIBE, variables, token=world.token("admin")))["subscribe"]  # type: ignore[no-any-return]


async def test_subscribe_and_see_it_in_the_list_and_the_plans(
    gql: GraphQL, world: World, database: Database, services: Services, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    result = await subscribe(gql, world)
    assert result["__typename"] == "SubscriptionPayload"
    subscription = result["subscription"]
    assert subscription["state"] == "ACTIVE" and subscription["tierId"] == "starter"
    assert subscription["currentPeriodStart"] == "2026-11-23T12:00:00+00:00"
    assert subscription["nextChargeAt"] == subscription["currentPeriodEnd"] == "2026-12-23T12:00:00+00:00"
    assert subscription["monthlyPrice"] == {"amount": "50.00", "currency": "USD"}
    assert subscription["tier"] == {"displayName": "Starter", "capacityLeft": 99}
    data = await gql(
        ORGANIZATION, {"id": world.gid("Organization", world.acme_id)}, token=world.token("admin")
    )
    listed = data["node"]["subscriptions"]["subscriptions"]["edges"]
    assert [edge["node"]["id"] for edge in listed] == [subscription["id"]]
    plans = {plan["modelId"]: plan for plan in data["node"]["plans"]}
    assert plans["gpt-oss-120b"] == {
        "modelId": "gpt-oss-120b",
        "kind": "SUBSCRIPTION",
        "limitsSource": "TIER",
        "tierId": "starter",
        "burnsCredits": False,
        "reason": "Subscription to the Starter tier.",
        "limits": {"requestsPerMinute": 60, "tokensPerMinute": 100_000},
    }
    assert plans["zai-glm-4.7"]["kind"] == "NONE" and plans["zai-glm-4.7"]["limits"] is None
    node = await gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": subscription["id"]}, token=world.token("admin")
    )
    assert node["node"] == {"id": subscription["id"]}


async def test_a_declined_card_is_a_payment_error(
    gql: GraphQL, world: World, database: Database, services: Services, clock: Any
) -> None:
    await use_card(database, services, world.acme_id, "pm_card_chargeDeclinedInsufficientFunds")
    result = await subscribe(gql, world)
    assert (result["__typename"], result["code"], result["declineCode"]) == (
        "PaymentError",
        "PAYMENT_DECLINED",
        "insufficient_funds",
    )
    data = await gql(
        ORGANIZATION, {"id": world.gid("Organization", world.acme_id)}, token=world.token("admin")
    )
    [failed] = data["node"]["subscriptions"]["subscriptions"]["edges"]
    assert failed["node"]["state"] == "CANCELED"


async def test_change_cancel_and_resume(
    gql: GraphQL, world: World, database: Database, services: Services, clock: Any
) -> None:
    await use_card(database, services, world.acme_id)
    subscription_id = (await subscribe(gql, world, tier="growth"))["subscription"]["id"]
    token = world.token("admin")
    changed = await gql(
        CHANGE, {"input": {"subscriptionId": subscription_id, "tier": "starter"}}, token=token
    )
    assert changed["changeSubscriptionTier"]["subscription"]["scheduledTier"] == {"tierId": "starter"}
    canceled = (await gql(CANCEL, {"input": {"subscriptionId": subscription_id}}, token=token))[
        "cancelSubscription"
    ]
    assert canceled["subscription"]["cancelAtPeriodEnd"] is True
    assert canceled["subscription"]["nextChargeAt"] is None
    resumed = (await gql(RESUME, {"input": {"subscriptionId": subscription_id}}, token=token))[
        "resumeSubscription"
    ]
    assert resumed["subscription"]["cancelAtPeriodEnd"] is False
    again = await gql(CHANGE, {"input": {"subscriptionId": subscription_id, "tier": "platinum"}}, token=token)
    assert (again["changeSubscriptionTier"]["code"], again["changeSubscriptionTier"]["field"]) == (
        "UNKNOWN_TIER",
        "tier",
    )


async def test_typed_refusals(
    gql: GraphQL, world: World, database: Database, services: Services, clock: Any
) -> None:
    assert (await subscribe(gql, world))["code"] == "NO_PAYMENT_METHOD"
    await use_card(database, services, world.acme_id)
    await gql(
        "mutation($input: SetTierCapacityInput!) { setTierCapacity(input: $input) { __typename } }",
        {"input": {"model": "gpt-oss-120b", "tier": "scale", "capacity": 0}},
        token=world.token("staff"),
    )
    sold_out = await subscribe(gql, world, tier="scale")
    assert (sold_out["__typename"], sold_out["code"]) == ("ConflictError", "SOLD_OUT")
    await subscribe(gql, world)
    twice = await subscribe(gql, world, tier="growth")
    assert twice["code"] == "ALREADY_SUBSCRIBED"
    wrong = await gql(
        CANCEL,
        {"input": {"subscriptionId": world.gid("Project", world.project_a_id)}},
        token=world.token("admin"),
    )
    assert wrong["cancelSubscription"]["code"] == "NOT_FOUND"


async def test_staff_limit_override_shows_in_the_plans(
    gql: GraphQL, world: World, clock: Any, balances: dict[str, int]
) -> None:
    balances[world.acme_id] = 10**9
    organization = world.gid("Organization", world.acme_id)
    data = await gql(
        """mutation($input: SetModelLimitOverrideInput!) { setModelLimitOverride(input: $input) {
             __typename ... on ModelLimitOverridePayload { override { modelId setAt setBy { email }
               limits { requestsPerMinute tokensPerMinute requestsPerDay } } } } }""",
        {
            "input": {
                "organizationId": organization,
                "model": "zai-glm-4.7",
                "requestsPerMinute": 2000,
                "tokensPerMinute": 4_000_000,
            }
        },
        token=world.token("staff"),
    )
    assert data["setModelLimitOverride"]["override"] == {
        "modelId": "zai-glm-4.7",
        "setAt": "2026-11-23T12:00:00+00:00",
        "setBy": {"email": "staff@example.com"},
        "limits": {"requestsPerMinute": 2000, "tokensPerMinute": 4_000_000, "requestsPerDay": None},
    }
    plans = await gql(ORGANIZATION, {"id": organization}, token=world.token("project_member"))
    glm = next(p for p in plans["node"]["plans"] if p["modelId"] == "zai-glm-4.7")
    assert (glm["kind"], glm["limitsSource"], glm["burnsCredits"]) == ("PAYGO", "OVERRIDE", True)
    assert glm["limits"] == {"requestsPerMinute": 2000, "tokensPerMinute": 4_000_000}
