"""Usage reports: stored once, priced exactly, summed into the graphs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app import clock
from app.db import Database
from app.domain.api_keys.models import ApiKey
from app.domain.usage.models import UsageMinute, UsageRecord
from tests.fleet.conftest import Fleet
from tests.support import GraphQL, World

# gpt-oss-120b: $0.35 / $0.75 per million tokens = 350 / 750 nano-dollars per token
PRICE_IN, PRICE_OUT = 350, 750


async def test_a_repeated_record_counts_once(fleet: Fleet, personal_key: str, database: Database) -> None:
    ran = await fleet.run(personal_key, input_tokens=1000, output_tokens=10, request_id="same")
    assert ran["result"] == {"request_id": "same", "status": "accepted"}
    again = await fleet.report([ran["record"], ran["record"]])
    assert again.json()["results"] == [
        {"request_id": "same", "status": "duplicate"},
        {"request_id": "same", "status": "duplicate"},
    ]
    await fleet.fold()
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 1
        assert await session.scalar(select(func.sum(UsageMinute.requests))) == 1


async def test_prices_are_exact_integers(
    fleet: Fleet, personal_key: str, acme_key: str, database: Database
) -> None:
    await fleet.run(
        acme_key, input_tokens=123_457, output_tokens=89, max_output_tokens=100, request_id="paygo"
    )
    await fleet.run(personal_key, input_tokens=3, output_tokens=1, request_id="free")
    async with database.transaction() as session:
        paygo = await session.scalar(select(UsageRecord).where(UsageRecord.request_id == "paygo"))
        free = await session.scalar(select(UsageRecord).where(UsageRecord.request_id == "free"))
    assert paygo is not None and free is not None
    assert paygo.cost_nanos == paygo.billed_nanos == 123_457 * PRICE_IN + 89 * PRICE_OUT == 43_276_700
    assert isinstance(paygo.cost_nanos, int) and paygo.plan == "paygo"
    assert (free.plan, free.cost_nanos, free.billed_nanos) == ("free", 3 * PRICE_IN + PRICE_OUT, 0)


async def test_usage_updates_the_keys_last_use(fleet: Fleet, personal_key: str, database: Database) -> None:
    await fleet.run(personal_key)
    async with database.transaction() as session:
        last_used = await session.scalar(select(ApiKey.last_used_at))
    assert last_used is not None and abs(last_used - clock.now()) < timedelta(seconds=5)


async def test_bad_records_are_refused_one_by_one(fleet: Fleet, personal_key: str) -> None:
    admitted = (await fleet.admit(personal_key)).json()["admission_id"]
    good = {
        "request_id": "ok-1",
        "admission_id": admitted,
        "model": "gpt-oss-120b",
        "input_tokens": 1,
        "output_tokens": 1,
    }
    answer = await fleet.report([
        good,
        {**good, "request_id": "forged", "admission_id": admitted[:-2] + "xx"},
        {**good, "request_id": "other-model", "model": "zai-glm-4.7"},
    ])  # fmt: skip
    results = answer.json()["results"]
    assert results[0] == {"request_id": "ok-1", "status": "accepted"}
    assert results[1]["code"] == "invalid_admission" and results[2]["code"] == "model_mismatch"
    malformed = await fleet.report([{**good, "input_tokens": -5}])
    assert malformed.status_code == 400 and malformed.json()["param"] == "input_tokens"


async def test_concurrent_reports_are_all_counted(fleet: Fleet, acme_key: str, database: Database) -> None:
    admitted = [(await fleet.admit(acme_key)).json()["admission_id"] for _ in range(300)]  # one per request

    async def report(n: int) -> Any:
        return await fleet.report([{"request_id": f"c{n}", "admission_id": admitted[n], "model": "gpt-oss-120b",
                                    "input_tokens": 10, "output_tokens": n % 7}])  # fmt: skip

    answers = await asyncio.gather(*(report(n) for n in range(300)))
    assert all(a.json()["results"][0]["status"] == "accepted" for a in answers)
    await fleet.fold()
    async with database.transaction() as session:
        records = await session.scalar(select(func.count()).select_from(UsageRecord))
        summed = (
            await session.execute(select(func.sum(UsageMinute.requests), func.sum(UsageMinute.output_tokens)))
        ).one()
    assert records == 300
    assert tuple(summed) == (300, sum(n % 7 for n in range(300)))


USAGE = """
query($o: ID!, $from: DateTime!, $to: DateTime!, $g: UsageGranularity!, $by: UsageGroupBy!) {
  usage(input: {organizationId: $o, from: $from, to: $to, granularity: $g, groupBy: $by}) {
    __typename
    ... on UsageSeries { points { start group requests inputTokens outputTokens spend { amount currency } } }
    ... on Error { code field }
  }
}
"""


async def test_graphs_match_the_raw_records(
    fleet: Fleet, gql: GraphQL, world: World, acme_key: str, clock: Any
) -> None:
    # three minutes of Acme usage, two of them in the same hour
    for minute, tokens in ((0, 100), (1, 200), (61, 300)):
        clock.at = clock.at.replace(minute=0, second=30) + timedelta(minutes=minute)
        await fleet.run(acme_key, input_tokens=tokens, output_tokens=tokens // 10)
    await fleet.fold()
    start = clock.at.replace(minute=0, second=0) - timedelta(hours=1)
    variables = {"o": world.gid("Organization", world.acme_id), "from": start.isoformat(),
                 "to": (start + timedelta(hours=4)).isoformat(), "g": "HOUR", "by": "MODEL"}  # fmt: skip
    points = (await gql(USAGE, variables, token=world.token("admin")))["usage"]["points"]
    assert [(p["requests"], p["inputTokens"], p["outputTokens"], p["group"]) for p in points] == [
        (2, 300, 30, "gpt-oss-120b"),
        (1, 300, 30, "gpt-oss-120b"),
    ]
    assert (100 + 200) * PRICE_IN + 30 * PRICE_OUT == 127_500  # nano-dollars
    assert points[0]["spend"] == {"amount": "0.0001275", "currency": "USD"}
    minutes = (await gql(USAGE, {**variables, "g": "MINUTE", "by": "NONE"}, token=world.token("admin")))[
        "usage"
    ]["points"]
    assert [p["inputTokens"] for p in minutes] == [100, 200, 300]
    # a Project Admin of another project sees none of it; the outsider sees nothing at all
    other = (await gql(USAGE, variables, token=world.token("other_project_admin")))["usage"]
    assert other == {"__typename": "UsageSeries", "points": []}
    outsider = (await gql(USAGE, variables, token=world.token("outsider")))["usage"]
    assert outsider["code"] == "NOT_FOUND"
    backwards = (await gql(USAGE, {**variables, "to": start.isoformat()}, token=world.token("admin")))[
        "usage"
    ]
    assert (backwards["code"], backwards["field"]) == ("INVALID", "to")


async def test_one_hung_usage_group_does_not_hold_back_the_others(
    fleet: Fleet, personal_key: str, database: Database
) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite has one writer at a time: a group waits for the write lock whatever we do")
    writer = fleet.http.app.state.fleet.writer  # type: ignore[attr-defined]
    write, stuck = writer._write, asyncio.Event()

    async def hanging_write(group: list[Any]) -> Any:  # one connection stops answering for a while
        if any(item.request_id == "stuck" for item in group):
            await stuck.wait()
        return await write(group)

    writer._write = hanging_write

    async def record() -> dict[str, Any]:  # one admission per request
        admitted = (await fleet.admit(personal_key)).json()["admission_id"]
        return {"admission_id": admitted, "model": "gpt-oss-120b", "input_tokens": 10, "output_tokens": 1}

    hung = asyncio.create_task(fleet.report([{**await record(), "request_id": "stuck"}]))
    await asyncio.sleep(0.1)
    async with asyncio.timeout(5):
        answer = await fleet.report([{**await record(), "request_id": "flowing"}])
    assert answer.json()["results"] == [{"request_id": "flowing", "status": "accepted"}]
    assert not hung.done()
    stuck.set()
    assert (await hung).json()["results"] == [{"request_id": "stuck", "status": "accepted"}]
