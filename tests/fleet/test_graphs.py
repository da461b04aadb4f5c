"""The console's usage graphs against the raw usage records, at every granularity, grouping and viewer."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.db import Database
from app.domain.money import format_amount
from app.domain.usage.models import UsageHour, UsageMinute, UsageRecord
from tests.fleet.conftest import Fleet, new_key
from tests.support import GraphQL, World

GRAPH = """
query($o: ID!, $from: DateTime!, $to: DateTime!, $g: UsageGranularity!, $by: UsageGroupBy!) {
  usage(input: {organizationId: $o, from: $from, to: $to, granularity: $g, groupBy: $by}) {
    ... on UsageSeries {
      points { start group requests inputTokens outputTokens spend { amount currency } }
      series { group starts requests inputTokens outputTokens spend currency }
    }
  }
}
"""
WIDTH = {"MINUTE": 1, "HOUR": 60, "DAY": 1440}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture
async def three_days_of_usage(
    fleet: Fleet, gql: GraphQL, world: World, acme_key: str, clock: Any
) -> datetime:
    """Forty requests of Acme, spread over three days, two projects and two models; returns the first hour."""
    key_b = await new_key(gql, world.token("admin") or "", world.gid("Project", world.project_b_id))
    rng = random.Random(3)
    start = clock.at.replace(minute=0, second=0)
    for n, offset in enumerate(sorted(rng.randrange(3 * 24 * 60) for _ in range(40))):
        clock.at = start + timedelta(minutes=offset, seconds=rng.randrange(60))
        await fleet.run(
            (acme_key, key_b)[n % 2], model=("gpt-oss-120b", "zai-glm-4.7")[n % 3 == 0],
            input_tokens=rng.randrange(1, 5000), output_tokens=rng.randrange(2000), max_output_tokens=2000,
        )  # fmt: skip
    return start


async def expected_points(
    database: Database, world: World, width: int, group_by: str, lowest: datetime, projects: set[str]
) -> list[tuple[str, str | None, int, int, int, str]]:
    """The graph's points, summed here from the raw records: whole buckets from the one holding `lowest`."""
    async with database.reader() as session:
        records = (await session.scalars(select(UsageRecord))).all()
    floor = int((lowest - EPOCH).total_seconds()) // 60 // width * width
    sums: dict[tuple[int, str | None], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for record in records:
        bucket = int((record.recorded_at - EPOCH).total_seconds()) // 60 // width * width
        if bucket < floor or record.project_id not in projects:
            continue
        group = {
            "NONE": None,
            "MODEL": record.model_id,
            "PROJECT": record.project_id,
            "API_KEY": record.api_key_id,
        }
        figures = sums[(bucket, group[group_by])]
        for index, value in enumerate((1, record.input_tokens, record.output_tokens, record.billed_nanos)):
            figures[index] += value
    node_type = {"PROJECT": "Project", "API_KEY": "ApiKey"}.get(group_by)
    return [
        (
            (EPOCH + timedelta(minutes=bucket)).isoformat(),
            world.gid(node_type, group) if node_type else group,
            r,
            i,
            o,
            format_amount(s),
        )  # fmt: skip
        for (bucket, group), (r, i, o, s) in sorted(
            sums.items(), key=lambda item: (item[0][0], item[0][1] or "")
        )
    ]


def by_start_and_group(point: tuple[Any, ...]) -> tuple[str, str]:
    return point[0], point[1] or ""


def shown(points: list[dict[str, Any]]) -> list[tuple[str, str | None, int, int, int, str]]:
    return [
        (
            datetime.fromisoformat(p["start"]).isoformat(),
            p["group"],
            p["requests"],
            p["inputTokens"],
            p["outputTokens"],
            p["spend"]["amount"],
        )  # fmt: skip
        for p in points
    ]


async def test_every_graph_sums_the_raw_records(
    three_days_of_usage: datetime, gql: GraphQL, world: World, database: Database
) -> None:
    # the range starts 30 minutes into the first hour and ends inside the last day: buckets are whole
    lowest = three_days_of_usage + timedelta(minutes=30)
    base = {"o": world.gid("Organization", world.acme_id), "from": lowest.isoformat(),
            "to": (lowest + timedelta(days=3)).isoformat()}  # fmt: skip
    viewers = {"admin": {world.project_a_id, world.project_b_id}, "project_admin": {world.project_a_id}}
    for granularity, group_by, (viewer, projects) in itertools.product(
        ("MINUTE", "HOUR", "DAY"), ("NONE", "MODEL", "PROJECT", "API_KEY"), viewers.items()
    ):
        variables = {**base, "g": granularity, "by": group_by}
        graph = (await gql(GRAPH, variables, token=world.token(viewer)))["usage"]
        expected = await expected_points(database, world, WIDTH[granularity], group_by, lowest, projects)
        assert shown(graph["points"]) == expected, (granularity, group_by, viewer)
        assert len(expected) > 2 and all(p["spend"]["currency"] == "USD" for p in graph["points"])
        # the columns hold the same figures, one series per group
        columns = [
            (datetime.fromisoformat(start).isoformat(), series["group"], *figures)
            for series in graph["series"]
            for start, *figures in zip(
                series["starts"],
                series["requests"],
                series["inputTokens"],
                series["outputTokens"],
                series["spend"],
                strict=True,
            )  # fmt: skip
        ]
        assert sorted(columns, key=by_start_and_group) == sorted(expected, key=by_start_and_group)
        assert len({series["group"] for series in graph["series"]}) == len(graph["series"])
        assert {series["currency"] for series in graph["series"]} == {"USD"}


async def test_a_range_ending_inside_a_bucket_includes_it_whole(
    three_days_of_usage: datetime, gql: GraphQL, world: World, database: Database
) -> None:
    async with database.reader() as session:
        last = max((await session.scalars(select(UsageRecord.recorded_at))).all())
    for granularity, inside in (("MINUTE", timedelta(seconds=1)), ("HOUR", timedelta(minutes=1))):
        start = last.replace(second=0) if granularity == "MINUTE" else last.replace(minute=0, second=0)
        variables = {"o": world.gid("Organization", world.acme_id), "from": (start - timedelta(days=4)).isoformat(),
                     "to": (start + inside).isoformat(), "g": granularity, "by": "NONE"}  # fmt: skip
        points = (await gql(GRAPH, variables, token=world.token("admin")))["usage"]["points"]
        assert datetime.fromisoformat(points[-1]["start"]) == start, granularity
        exact = {**variables, "to": start.isoformat()}  # `to` at the very start of a bucket leaves it out
        points = (await gql(GRAPH, exact, token=world.token("admin")))["usage"]["points"]
        assert datetime.fromisoformat(points[-1]["start"]) < start, granularity


async def test_hourly_roll_ups_sum_the_minute_ones(three_days_of_usage: datetime, database: Database) -> None:
    async with database.reader() as session:
        minutes = (await session.scalars(select(UsageMinute))).all()
        hours = (await session.scalars(select(UsageHour))).all()
    summed: dict[tuple[str, int, str, str, str], list[int]] = defaultdict(lambda: [0] * 5)
    for row in minutes:
        figures = summed[
            (row.organization_id, row.minute // 60, row.project_id, row.api_key_id, row.model_id)
        ]
        for index, name in enumerate(
            ("requests", "input_tokens", "output_tokens", "billed_nanos", "cost_nanos")
        ):
            figures[index] += getattr(row, name)
    assert {
        (h.organization_id, h.hour, h.project_id, h.api_key_id, h.model_id): [
            h.requests, h.input_tokens, h.output_tokens, h.billed_nanos, h.cost_nanos,
        ]
        for h in hours
    } == summed  # fmt: skip
