"""Admission: every answer the fleet can get, with the provider-style headers and bodies."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.fleet.reservations import LocalReservations
from tests.fleet.conftest import Fleet
from tests.support import GraphQL, World

ERROR_KEYS = {"message", "type", "param", "code"}


async def test_the_service_token_is_required(client: httpx.AsyncClient) -> None:
    body = {"api_key": "csk-x", "model": "gpt-oss-120b", "input_tokens": 1, "max_output_tokens": 1}
    assert (await client.post("/fleet/v1/admissions", json=body)).status_code == 401
    wrong = await client.post("/fleet/v1/admissions", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


async def test_unknown_key_is_401(fleet: Fleet) -> None:
    answer = await fleet.admit("csk-" + "x" * 48)
    assert answer.status_code == 401
    assert set(answer.json()) == ERROR_KEYS and answer.json()["code"] == "invalid_api_key"


async def test_a_revoked_key_is_refused_on_the_very_next_request(
    fleet: Fleet, gql: GraphQL, world: World, acme_key: str
) -> None:
    assert (await fleet.admit(acme_key)).status_code == 200
    keys = await gql(
        "query($id: ID!) { node(id: $id) { ... on Project { apiKeys { edges { node { id name } } } } } }",
        {"id": world.gid("Project", world.project_a_id)}, token=world.token("admin"),
    )  # fmt: skip
    key_id = [e["node"]["id"] for e in keys["node"]["apiKeys"]["edges"] if e["node"]["name"] == "k"][0]
    revoked = await gql(
        "mutation($k: ID!) { revokeApiKey(input: {apiKeyId: $k}) { __typename } }",
        {"k": key_id},
        token=world.token("admin"),
    )
    assert revoked["revokeApiKey"]["__typename"] == "RevokeApiKeyPayload"
    assert (await fleet.admit(acme_key)).status_code == 401


async def test_an_archived_project_stops_its_keys(
    fleet: Fleet, gql: GraphQL, world: World, acme_key: str
) -> None:
    assert (await fleet.admit(acme_key)).status_code == 200
    await gql(
        "mutation($p: ID!) { archiveProject(input: {projectId: $p}) { __typename } }",
        {"p": world.gid("Project", world.project_a_id)}, token=world.token("admin"),
    )  # fmt: skip
    assert (await fleet.admit(acme_key)).status_code == 401


@pytest.mark.parametrize(
    ("model", "reason"), [("no-such-model", "does not exist"), ("llama3.1-8b", "deprecated on 2026-05-27")]
)
async def test_unknown_or_deprecated_model_is_404(
    fleet: Fleet, personal_key: str, model: str, reason: str
) -> None:
    answer = await fleet.admit(personal_key, model)
    assert answer.status_code == 404
    assert answer.json()["code"] == "model_not_found" and reason in answer.json()["message"]
    assert answer.json()["param"] == "model"


async def test_refusals_before_any_limit_carry_limits_of_zero(fleet: Fleet, personal_key: str) -> None:
    refusals = [
        await fleet.admit("csk-" + "x" * 48),
        await fleet.admit(personal_key, "no-such-model"),
        await fleet.admit(personal_key, input_tokens=-1),
    ]
    assert [answer.status_code for answer in refusals] == [401, 404, 400]
    for answer in refusals:
        for part in ("limit", "remaining", "reset"):
            for kind in ("requests", "tokens"):
                assert answer.headers[f"x-ratelimit-{part}-{kind}-minute"] == "0"


async def test_free_tier_headers(fleet: Fleet, personal_key: str) -> None:
    answer = await fleet.admit(personal_key, input_tokens=1000, max_output_tokens=1000)
    assert answer.status_code == 200
    assert answer.json()["plan"] == "free" and answer.json()["admission_id"].startswith("adm_")
    headers = answer.headers
    assert headers["x-ratelimit-limit-requests-minute"] == "30"
    assert headers["x-ratelimit-remaining-requests-minute"] == "29"
    assert headers["x-ratelimit-limit-tokens-minute"] == "60000"
    assert headers["x-ratelimit-remaining-tokens-minute"] == "58000"
    assert headers["x-ratelimit-limit-tokens-day"] == "1000000"
    assert headers["x-ratelimit-remaining-tokens-day"] == "998000"
    assert 0 < int(headers["x-ratelimit-reset-tokens-minute"]) <= 60


async def test_requests_per_minute_429(fleet: Fleet, personal_key: str) -> None:
    for _ in range(30):
        assert (await fleet.admit(personal_key, input_tokens=1, max_output_tokens=1)).status_code == 200
    refused = await fleet.admit(personal_key, input_tokens=1, max_output_tokens=1)
    assert refused.status_code == 429
    body = refused.json()
    assert set(body) == ERROR_KEYS
    assert (body["type"], body["code"]) == ("too_many_requests_error", "request_quota_exceeded")
    assert "RPM" in body["message"] and "organization" in body["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert refused.headers["x-ratelimit-remaining-requests-minute"] == "0"
    assert "free tier" in body["message"] and "Subscribe" not in body["message"]


async def test_tokens_are_reserved_and_the_unused_part_given_back(fleet: Fleet, personal_key: str) -> None:
    first = await fleet.admit(personal_key, input_tokens=10_000, max_output_tokens=40_000)
    assert first.headers["x-ratelimit-remaining-tokens-minute"] == "10000"
    refused = await fleet.admit(personal_key, input_tokens=10_000, max_output_tokens=10_000)
    assert refused.status_code == 429 and refused.json()["code"] == "token_quota_exceeded"
    assert "TPM" in refused.json()["message"]
    record = {"request_id": "r1", "admission_id": first.json()["admission_id"], "model": "gpt-oss-120b",
              "input_tokens": 10_000, "output_tokens": 500}  # fmt: skip
    assert (await fleet.report([record])).json()["results"] == [{"request_id": "r1", "status": "accepted"}]
    # 39,500 unused tokens came back: the same request now fits
    assert (await fleet.admit(personal_key, input_tokens=10_000, max_output_tokens=10_000)).status_code == 200


async def test_a_batch_gives_back_each_unused_reservation_once(fleet: Fleet, personal_key: str) -> None:
    admitted = [
        await fleet.admit(personal_key, input_tokens=1_000, max_output_tokens=9_000) for _ in range(5)
    ]
    records = [{"request_id": f"b{n}", "admission_id": answer.json()["admission_id"], "model": "gpt-oss-120b",
                "input_tokens": 1_000, "output_tokens": 1_000} for n, answer in enumerate(admitted)]  # fmt: skip
    assert [r["status"] for r in (await fleet.report(records)).json()["results"]] == ["accepted"] * 5
    assert [r["status"] for r in (await fleet.report(records)).json()["results"]] == ["duplicate"] * 5
    probe = await fleet.admit(personal_key, input_tokens=1, max_output_tokens=0)
    # 60,000 TPM - 5 x 10,000 reserved + 5 x 8,000 unused = 50,000, once (and a little refill meanwhile)
    assert 49_999 <= int(probe.headers["x-ratelimit-remaining-tokens-minute"]) <= 55_000


async def test_a_reservation_whose_usage_never_comes_is_given_back(
    fleet: Fleet, client: httpx.AsyncClient, personal_key: str
) -> None:
    admissions = client.app.state.fleet.admissions  # type: ignore[attr-defined]
    now = [0.0]
    admissions.reservations = LocalReservations(clock=lambda: now[0])
    for _ in range(2):  # 2 x 25,000 of the 60,000 TPM
        assert (
            await fleet.admit(personal_key, input_tokens=5_000, max_output_tokens=20_000)
        ).status_code == 200
    assert (await fleet.admit(personal_key, input_tokens=10_000, max_output_tokens=10_000)).status_code == 429
    assert await admissions.release_lapsed() == 0  # not yet: the requests may still be running
    now[0] += admissions.ttl_seconds
    assert await admissions.release_lapsed(batch=1) == 2  # batch after batch, until none is left
    assert await admissions.release_lapsed() == 0  # once
    assert (await fleet.admit(personal_key, input_tokens=10_000, max_output_tokens=10_000)).status_code == 200


async def test_a_request_larger_than_the_limit_says_so(fleet: Fleet, personal_key: str) -> None:
    refused = await fleet.admit(personal_key, input_tokens=50_000, max_output_tokens=50_000)
    assert refused.status_code == 429 and "alone" in refused.json()["message"]


async def test_project_limits_refuse_at_the_project_level(
    fleet: Fleet, gql: GraphQL, world: World, acme_key: str
) -> None:
    limited = await gql(
        'mutation($p: ID!) { setProjectRateLimit(input: {projectId: $p, model: "gpt-oss-120b", requestsPerMinute: 2}) '
        "{ __typename } }",
        {"p": world.gid("Project", world.project_a_id)}, token=world.token("admin"),
    )  # fmt: skip
    assert limited["setProjectRateLimit"]["__typename"] == "ProjectRateLimitPayload"
    assert (await fleet.admit(acme_key)).status_code == 200
    second = await fleet.admit(acme_key)
    assert second.headers["x-ratelimit-limit-requests-minute"] == "2"  # the tighter of org and project
    refused = await fleet.admit(acme_key)
    assert refused.status_code == 429 and "project" in refused.json()["message"]
    assert "Organization Admin can raise the project's limit" in refused.json()["message"]


async def test_concurrent_admissions_never_exceed_the_token_limit(fleet: Fleet, personal_key: str) -> None:
    answers = await asyncio.gather(
        *(fleet.admit(personal_key, input_tokens=500, max_output_tokens=1000) for _ in range(200))
    )
    admitted = sum(a.status_code == 200 for a in answers)
    # 60,000 TPM, 1,500 reserved each: at most the limit plus one reservation (refill during the test)
    assert 30 <= admitted * 1500 <= 60_000 + 1500
    assert {a.status_code for a in answers} <= {200, 429}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"api_key": "k", "model": "m", "input_tokens": -1, "max_output_tokens": 1}, "input_tokens"),
        ({"api_key": "k", "model": "m", "input_tokens": "many", "max_output_tokens": 1}, "input_tokens"),
        ({"api_key": "k", "model": "m", "input_tokens": 1}, None),
        ({"api_key": "k", "model": "m", "input_tokens": 1, "max_output_tokens": 1, "extra": 1}, None),
    ],
)
async def test_bad_admission_requests_are_400(
    client: httpx.AsyncClient, body: dict, param: str | None
) -> None:
    from tests.conftest import FLEET_TOKEN

    answer = await client.post(
        "/fleet/v1/admissions", json=body, headers={"Authorization": f"Bearer {FLEET_TOKEN}"}
    )
    assert answer.status_code == 400
    assert set(answer.json()) == ERROR_KEYS and answer.json()["type"] == "invalid_request_error"
    if param:
        assert answer.json()["param"] == param


async def test_the_console_sees_what_is_used_of_the_limits_now(
    fleet: Fleet, gql: GraphQL, world: World, acme_key: str
) -> None:
    await fleet.admit(acme_key, input_tokens=100_000, max_output_tokens=31_000)  # within the model's context
    data = await gql(
        "query($id: ID!) { node(id: $id) { ... on Organization { plans { modelId kind "
        "usageNow { kind window limit remaining used } } } } }",
        {"id": world.gid("Organization", world.acme_id)}, token=world.token("admin"),
    )  # fmt: skip
    plan = next(p for p in data["node"]["plans"] if p["modelId"] == "gpt-oss-120b")
    assert plan["kind"] == "PAYGO"
    usage = {(u["kind"], u["window"]): u for u in plan["usageNow"]}
    assert usage[("requests", "minute")]["limit"] == 1000 and usage[("requests", "minute")]["used"] in (1, 0)
    tokens = usage[("tokens", "minute")]
    # 131,000 reserved, refilling at 1,000,000 a minute: a few seconds of slack for a slow machine
    assert tokens["limit"] == 1_000_000 and 31_000 <= tokens["used"] <= 131_000


async def test_a_request_over_the_models_context_is_refused_at_admission(
    fleet: Fleet, personal_key: str
) -> None:
    # gpt-oss-120b holds 131,072 tokens: prompt plus the most it may generate must fit
    refused = await fleet.admit(personal_key, input_tokens=131_000, max_output_tokens=73)
    assert refused.status_code == 400
    assert (refused.json()["code"], refused.json()["param"]) == (
        "context_length_exceeded",
        "max_output_tokens",
    )
    assert "131,072" in refused.json()["message"]
    assert refused.headers["x-ratelimit-remaining-requests-minute"] == "0"  # no limit was consulted
    assert (await fleet.admit(personal_key, input_tokens=131_000, max_output_tokens=72)).status_code != 400
