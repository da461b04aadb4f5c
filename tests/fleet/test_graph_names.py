"""Graphs as a chart takes them: group names, every bucket (zeros included) and totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.domain.usage.buckets import zero_filled
from app.domain.usage.service import UsageColumns
from tests.fleet.test_graphs import three_days_of_usage  # noqa: F401  (the fixture)
from tests.support import GraphQL, World

GRAPH = """
query($o: ID!, $from: DateTime!, $to: DateTime!, $by: UsageGroupBy!) {
  usage(input: {organizationId: $o, from: $from, to: $to, granularity: HOUR, groupBy: $by}) {
    ... on UsageSeries {
      total { requests inputTokens spend { amount } }
      series(zeroFilled: true) { name starts requests inputTokens spend total { requests inputTokens spend { amount } } }
    }
  }
}
"""


async def test_series_carry_names_every_bucket_and_totals(
    three_days_of_usage: datetime,  # noqa: F811
    gql: GraphQL,
    world: World,
) -> None:
    start = three_days_of_usage - timedelta(hours=2)  # two empty hours before the first request
    hours = 4 * 24
    variables = {"o": world.gid("Organization", world.acme_id), "from": start.isoformat(),
                 "to": (start + timedelta(hours=hours)).isoformat()}  # fmt: skip
    by_model = (await gql(GRAPH, {**variables, "by": "MODEL"}, token=world.token("admin")))["usage"]
    assert {s["name"] for s in by_model["series"]} == {"GPT OSS 120B", "Z.ai GLM 4.7"}  # display names
    for series in by_model["series"]:
        starts = [datetime.fromisoformat(at) for at in series["starts"]]
        assert starts == [start + timedelta(hours=n) for n in range(hours)]  # every hour, empty ones at zero
        assert series["requests"][:2] == [0, 0]
        assert series["total"]["requests"] == sum(series["requests"])
        assert series["total"]["inputTokens"] == sum(series["inputTokens"])
        assert Decimal(series["total"]["spend"]["amount"]) == sum(Decimal(x) for x in series["spend"])
    assert by_model["total"]["requests"] == 40 == sum(s["total"]["requests"] for s in by_model["series"])

    by_project = (await gql(GRAPH, {**variables, "by": "PROJECT"}, token=world.token("admin")))["usage"]
    assert sorted(s["name"] for s in by_project["series"]) == ["A", "B"]
    nothing = await gql(
        GRAPH,
        {
            **variables,
            "from": (start - timedelta(days=30)).isoformat(),
            "to": start.isoformat(),
            "by": "NONE",
        },
        token=world.token("admin"),
    )
    [empty] = nothing["usage"]["series"]  # nothing used: still a line at zero
    assert (empty["name"], set(empty["requests"]), empty["total"]["requests"]) == (None, {0}, 0)


def test_zero_filling_puts_each_figure_at_its_bucket() -> None:
    hour = [datetime(2026, 11, 2, h, tzinfo=UTC) for h in range(5)]
    found = UsageColumns("m", [hour[1], hour[3]], [7, 9], [70, 90], [1, 2], [700, 900])
    filled = zero_filled(found, hour)
    assert filled == UsageColumns(
        "m", hour, [0, 7, 0, 9, 0], [0, 70, 0, 90, 0], [0, 1, 0, 2, 0], [0, 700, 0, 900, 0]
    )
    assert zero_filled(found, hour[3:4]) == UsageColumns("m", hour[3:4], [9], [90], [2], [900])
    assert zero_filled(UsageColumns(None), hour[:2]) == UsageColumns(
        None, hour[:2], [0, 0], [0, 0], [0, 0], [0, 0]
    )
    assert zero_filled(filled, hour) is filled  # every bucket there already
