"""The catalog as the console reads it: prices as exact decimal strings, limits, tiers and sold-out tiers."""

from __future__ import annotations

from typing import Any

from tests.support import GraphQL, World

CATALOG = """
{ catalog { __typename ... on Catalog { models {
    modelId displayName isDeprecated deprecationDate
    inputPricePerMillion { amount currency } outputPricePerMillion { amount currency }
    paygoLimits { requestsPerMinute tokensPerMinute tokensPerDay }
    freeTierLimits { requestsPerMinute tokensPerMinute tokensPerDay }
    tiers { tierId displayName monthlyPrice { amount } limits { requestsPerMinute tokensPerMinute tokensPerDay }
            capacity capacityLeft soldOut }
} } ... on Error { code } } }
"""
SET_CAPACITY = """
mutation($input: SetTierCapacityInput!) { setTierCapacity(input: $input) {
  __typename ... on TierPayload { tier { tierId capacity capacityLeft soldOut } } ... on Error { code field } } }
"""


async def models(gql: GraphQL, token: str | None) -> dict[str, Any]:
    data = await gql(CATALOG, token=token)
    return {model["modelId"]: model for model in data["catalog"]["models"]}


async def test_the_seed_catalog(gql: GraphQL, world: World, clock: Any) -> None:
    found = await models(gql, world.token("project_member"))
    assert list(found) == ["gpt-oss-120b", "zai-glm-4.7", "qwen-3-235b-a22b-instruct-2507", "llama3.1-8b"]
    gpt = found["gpt-oss-120b"]
    assert gpt["inputPricePerMillion"] == {"amount": "0.35", "currency": "USD"}
    assert gpt["outputPricePerMillion"]["amount"] == "0.75"
    assert gpt["paygoLimits"] == {
        "requestsPerMinute": 1000,
        "tokensPerMinute": 1_000_000,
        "tokensPerDay": None,
    }
    assert gpt["freeTierLimits"] == {
        "requestsPerMinute": 30,
        "tokensPerMinute": 60_000,
        "tokensPerDay": 1_000_000,
    }
    assert (gpt["isDeprecated"], gpt["deprecationDate"]) == (False, None)
    assert [t["tierId"] for t in gpt["tiers"]] == ["starter", "growth", "scale"]
    assert gpt["tiers"][0] == {
        "tierId": "starter",
        "displayName": "Starter",
        "monthlyPrice": {"amount": "50.00"},
        "limits": {"requestsPerMinute": 60, "tokensPerMinute": 100_000, "tokensPerDay": 5_000_000},
        "capacity": 100,
        "capacityLeft": 100,
        "soldOut": False,
    }
    llama = found["llama3.1-8b"]
    assert (llama["isDeprecated"], llama["deprecationDate"]) == (True, "2026-05-27")
    assert llama["inputPricePerMillion"]["amount"] == "0.10"


async def test_a_tier_without_capacity_shows_temporarily_sold_out(
    gql: GraphQL, world: World, clock: Any
) -> None:
    done = await gql(
        SET_CAPACITY,
        {"input": {"model": "zai-glm-4.7", "tier": "scale", "capacity": 0}},
        token=world.token("staff"),
    )
    assert done["setTierCapacity"]["tier"] == {
        "tierId": "scale",
        "capacity": 0,
        "capacityLeft": 0,
        "soldOut": True,
    }
    scale = (await models(gql, world.token("admin")))["zai-glm-4.7"]["tiers"][2]
    assert (scale["capacity"], scale["soldOut"]) == (0, True)
    back = await gql(
        SET_CAPACITY,
        {"input": {"model": "zai-glm-4.7", "tier": "scale", "capacity": None}},
        token=world.token("staff"),
    )
    assert back["setTierCapacity"]["tier"]["capacity"] == 5  # the catalog's figure again


async def test_capacity_input_is_checked(gql: GraphQL, world: World) -> None:
    for model, tier, capacity, code, field in (
        ("nope", "scale", 1, "UNKNOWN_MODEL", "model"),
        ("zai-glm-4.7", "nope", 1, "UNKNOWN_TIER", "tier"),
        ("zai-glm-4.7", "scale", -1, "INVALID", "capacity"),
    ):
        data = await gql(
            SET_CAPACITY,
            {"input": {"model": model, "tier": tier, "capacity": capacity}},
            token=world.token("staff"),
        )
        assert data["setTierCapacity"] == {
            "__typename": data["setTierCapacity"]["__typename"],
            "code": code,
            "field": field,
        }


async def test_signed_out_visitors_see_no_catalog(gql: GraphQL, world: World) -> None:
    data = await gql(CATALOG)
    assert data["catalog"] == {"__typename": "UnauthenticatedError", "code": "UNAUTHENTICATED"}
