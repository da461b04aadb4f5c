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
from app.domain.usage.models import UsageMinute, UsageRecord
from app.domain.usage.rollups import ROLLUPS, SUMMED, add_to_rollups, rebuild_from_hours, rollup_for
from app.domain.usage.service import FIGURES, UsageColumns, _as_columns
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
    await fleet.fold()
    return start


async def expected_points(
    database: Database,
    world: World,
    width: int,
    group_by: str,
    lowest: datetime,
    projects: set[str],
    models: set[str] | None = None,
    keys: set[str] | None = None,
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
        if (models and record.model_id not in models) or (keys and record.api_key_id not in keys):
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
        # the columns are written as the scalars write each point (app/graphql/execution.py), oldest first
        assert {start for series in graph["series"] for start in series["starts"]} == {
            p["start"] for p in graph["points"]
        }
        assert all(series["starts"] == sorted(series["starts"]) for series in graph["series"])


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


FILTERED = """
query($o: ID!, $from: DateTime!, $to: DateTime!, $g: UsageGranularity!, $by: UsageGroupBy!,
      $models: [String!], $keys: [ID!], $projects: [ID!]) {
  usage(input: {organizationId: $o, from: $from, to: $to, granularity: $g, groupBy: $by, models: $models,
                apiKeyIds: $keys, projectIds: $projects}) {
    ... on UsageSeries { points { start group requests inputTokens outputTokens spend { amount currency } } }
  }
}
"""


async def test_filtered_graphs_sum_the_raw_records(
    three_days_of_usage: datetime, gql: GraphQL, world: World, database: Database
) -> None:
    # each filter with each grouping makes the graph read another roll-up (by model, by key, or all apart)
    async with database.reader() as session:
        key_ids = sorted(set((await session.scalars(select(UsageRecord.api_key_id))).all()))
    lowest = three_days_of_usage
    base = {"o": world.gid("Organization", world.acme_id), "from": lowest.isoformat(),
            "to": (lowest + timedelta(days=3)).isoformat()}  # fmt: skip
    filters: list[dict[str, Any]] = [
        {"models": ["zai-glm-4.7"]},
        {"keys": [key_ids[0]]},
        {"projects": [world.project_b_id]},
        {"models": ["gpt-oss-120b"], "keys": [key_ids[1]]},
    ]
    for granularity, group_by, chosen in itertools.product(
        ("HOUR", "DAY"), ("NONE", "MODEL", "PROJECT", "API_KEY"), filters
    ):
        variables = {**base, "g": granularity, "by": group_by, "models": chosen.get("models"),
                     "keys": [world.gid("ApiKey", k) for k in chosen.get("keys", [])] or None,
                     "projects": [world.gid("Project", p) for p in chosen.get("projects", [])] or None}  # fmt: skip
        graph = (await gql(FILTERED, variables, token=world.token("admin")))["usage"]
        projects = set(chosen.get("projects", [world.project_a_id, world.project_b_id]))
        expected = await expected_points(
            database, world, WIDTH[granularity], group_by, lowest, projects,
            set(chosen.get("models", ())), set(chosen.get("keys", ())),
        )  # fmt: skip
        assert shown(graph["points"]) == expected, (granularity, group_by, chosen)
        assert expected, (granularity, group_by, chosen)


async def test_every_roll_up_sums_the_minute_ones(three_days_of_usage: datetime, database: Database) -> None:
    async with database.reader() as session:
        minutes = (await session.scalars(select(UsageMinute))).all()
        for rollup in ROLLUPS[1:]:
            summed: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(SUMMED))
            for row in minutes:
                key = (
                    row.organization_id,
                    row.minute // rollup.minutes,
                    *(getattr(row, d) for d in rollup.dimensions),
                )
                for index, name in enumerate(SUMMED):
                    summed[key][index] += getattr(row, name)
            stored = {
                (r.organization_id, getattr(r, rollup.bucket), *(getattr(r, d) for d in rollup.dimensions)): [
                    getattr(r, name) for name in SUMMED
                ]
                for r in (await session.scalars(select(rollup.model))).all()
            }
            assert stored == summed, rollup.model.__tablename__
            assert len(stored) > 2


@pytest.mark.parametrize(
    ("minutes", "dimensions", "table"),
    [
        (60, {"model_id"}, "usage_hour_by_model"),
        (60, {"project_id", "api_key_id"}, "usage_hour_by_key"),
        (60, {"api_key_id", "model_id"}, "usage_hour"),
        (1440, set(), "usage_day_by_model"),
        (1440, {"api_key_id"}, "usage_day_by_key"),
        (1, {"model_id"}, "usage_minute"),
    ],
)
def test_a_graph_reads_the_smallest_roll_up_that_answers_it(
    minutes: int, dimensions: set[str], table: str
) -> None:
    assert rollup_for(minutes, dimensions).table.name == table


async def test_rebuilding_from_the_hours_gives_what_the_writer_wrote(
    three_days_of_usage: datetime, database: Database
) -> None:
    async def derived() -> dict[str, list[Any]]:
        async with database.reader() as session:
            return {
                r.table.name: sorted(tuple(row) for row in await session.execute(select(r.table)))
                for r in ROLLUPS
                if r.minutes >= 60
            }

    written = await derived()
    async with database.transaction() as session:
        await rebuild_from_hours(session)
    assert await derived() == written


SERIES = """
query($o: ID!, $from: DateTime!, $to: DateTime!, $g: UsageGranularity!, $by: UsageGroupBy!) {
  usage(input: {organizationId: $o, from: $from, to: $to, granularity: $g, groupBy: $by}) {
    ... on UsageSeries { series { group starts requests inputTokens outputTokens spend } }
  }
}
"""


async def test_series_carry_figures_past_a_floats_precision(
    gql: GraphQL, world: World, database: Database
) -> None:
    # the database builds each series (SQLite as JSON, PostgreSQL as arrays): integers above 2**53, which
    # a float would round, come back exact; the hours are stored newest first, the series oldest first
    hour = datetime(2026, 3, 1, 10, tzinfo=UTC)
    big = 2**58 + 1  # sums up to 8 * big stay within a BIGINT
    async with database.transaction() as session:
        for n in (2, 0):
            record = {"organization_id": world.acme_id, "project_id": world.project_a_id,
                      "api_key_id": "key_big", "model_id": "gpt-oss-120b", "input_tokens": big,
                      "output_tokens": big + n, "billed_nanos": big * (n + 1), "cost_nanos": big}  # fmt: skip
            minute = int((hour - EPOCH).total_seconds()) // 60 + n * 60
            await add_to_rollups(session, [record, record], minute)
    # a range given in another time zone: 09:30 UTC, in the hour before the first
    variables = {"o": world.gid("Organization", world.acme_id), "from": "2026-03-01T10:30:00+01:00",
                 "to": "2026-03-02T00:00:00Z"}  # fmt: skip
    for granularity, group_by in itertools.product(("HOUR", "DAY"), ("NONE", "MODEL", "PROJECT", "API_KEY")):
        graph = await gql(SERIES, {**variables, "g": granularity, "by": group_by}, token=world.token("admin"))
        [series] = graph["usage"]["series"]
        if granularity == "HOUR":
            assert series["starts"] == ["2026-03-01T10:00:00+00:00", "2026-03-01T12:00:00+00:00"]
            assert series["requests"] == [2, 2], group_by
            assert series["inputTokens"] == [2 * big, 2 * big], group_by
            assert series["outputTokens"] == [2 * big, 2 * (big + 2)], group_by
            assert series["spend"] == [format_amount(2 * big), format_amount(6 * big)], group_by
        else:
            assert series["starts"] == ["2026-03-01T00:00:00+00:00"]
            assert (series["requests"], series["inputTokens"]) == ([4], [4 * big]), group_by
            assert (series["outputTokens"], series["spend"]) == ([4 * big + 4], [format_amount(8 * big)]), (
                group_by
            )


def test_columns_are_put_in_order_whatever_order_the_database_gives() -> None:
    # SQLite before 3.44 does not promise the order of an aggregate's items
    rows = [("b", [3, 1, 2], [30, 10, 20], [3, 1, 2], [0, 0, 0], [300, 100, 200]),
            ("a", [2], [5], [6], [7], [8])]  # fmt: skip
    hour = [datetime.fromtimestamp(n * 3600, UTC) for n in range(4)]
    assert _as_columns(rows, list(FIGURES), 60, None) == [
        UsageColumns("b", hour[1:4], [10, 20, 30], [1, 2, 3], [0, 0, 0], [100, 200, 300]),
        UsageColumns("a", hour[2:3], [5], [6], [7], [8]),
    ]


ONLY = """
query($o: ID!, $from: DateTime!, $to: DateTime!) {
  usage(input: {organizationId: $o, from: $from, to: $to, granularity: HOUR, groupBy: API_KEY}) {
    ...Shown
  }
}
fragment Shown on UsageResult { ... on UsageSeries { series { group starts spending: spend %s } } }
"""


async def test_a_graph_reads_the_figures_it_shows(
    three_days_of_usage: datetime, gql: GraphQL, world: World, database: Database
) -> None:
    # the figures not asked for are not read; those asked for (through a fragment and an alias) are
    lowest = three_days_of_usage
    variables = {"o": world.gid("Organization", world.acme_id), "from": lowest.isoformat(),
                 "to": (lowest + timedelta(days=3)).isoformat()}  # fmt: skip
    expected = await expected_points(
        database, world, 60, "API_KEY", lowest, {world.project_a_id, world.project_b_id}
    )
    for more in ("", "requests", "total { requests }"):
        graph = (await gql(ONLY % more, variables, token=world.token("admin")))["usage"]
        spent = sorted(
            (datetime.fromisoformat(start).isoformat(), series["group"], amount)
            for series in graph["series"]
            for start, amount in zip(series["starts"], series["spending"], strict=True)
        )
        assert spent == sorted((start, group, amount) for start, group, *_, amount in expected), more
        if more == "requests":
            assert sum(sum(series["requests"]) for series in graph["series"]) == 40


def test_a_figure_not_read_is_not_taken_for_nothing_used() -> None:
    with pytest.raises(LookupError):
        UsageColumns("m", [EPOCH], requests=None).figure("requests")
