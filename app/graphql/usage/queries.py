"""Usage graphs: requests, tokens and cost over time, grouped by project, key or model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.money import CURRENCY, format_amount
from app.domain.usage import service as usage
from app.graphql.context import Info
from app.graphql.errors import INPUT, describe_enum, field_with_errors, result_union
from app.graphql.ids import node_id, org_id
from app.graphql.money import Money
from app.graphql.scalars import BigInt

GranularityEnum = describe_enum(
    usage.Granularity,
    "The width of a graph's buckets, aligned on UTC.",
    name="UsageGranularity",
    MINUTE="One minute.",
    HOUR="One hour.",
    DAY="One day (UTC midnight to midnight).",
)
GroupByEnum = describe_enum(
    usage.GroupBy,
    "How a graph's figures are split.",
    name="UsageGroupBy",
    NONE="One series for everything selected.",
    MODEL="One series per model.",
    PROJECT="One series per project.",
    API_KEY="One series per API key.",
)


@strawberry.input(description="Which usage to graph: a time range, bucket width, grouping and filters.")
class UsageInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    start: datetime = strawberry.field(name="from", description="Start of the range (inclusive, UTC).")
    end: datetime = strawberry.field(name="to", description="End of the range (exclusive, UTC).")
    granularity: GranularityEnum = strawberry.field(description="Bucket width.")
    group_by: GroupByEnum = strawberry.field(
        default=usage.GroupBy.NONE, description="How to split the series."
    )
    models: list[str] | None = strawberry.field(default=None, description="Only these models (catalog ids).")
    project_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="Only these projects."
    )
    api_key_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="Only these API keys."
    )


@strawberry.type(description="The usage of one bucket (and group).")
class UsagePoint:
    start: datetime = strawberry.field(description="Start of the bucket (UTC).")
    group: str | None = strawberry.field(
        description="The model id, or the global ID of the project or API key; null when not grouped."
    )
    requests: BigInt = strawberry.field(description="Requests counted.")
    input_tokens: BigInt = strawberry.field(description="Input (prompt) tokens.")
    output_tokens: BigInt = strawberry.field(description="Output (generated) tokens.")
    spend: Money = strawberry.field(
        description="What the usage cost in credits (PayGo); subscriptions cost nothing here."
    )


@strawberry.type(
    description="One group's usage as columns, index by index: what chart libraries take, and much "
    "lighter than points for long ranges."
)
class UsageGroupSeries:
    group: str | None = strawberry.field(
        description="The model id, or the global ID of the project or API key; null when not grouped."
    )
    starts: list[datetime] = strawberry.field(
        description="Start of each non-empty bucket (UTC), oldest first."
    )
    requests: list[BigInt] = strawberry.field(description="Requests per bucket.")
    input_tokens: list[BigInt] = strawberry.field(description="Input tokens per bucket.")
    output_tokens: list[BigInt] = strawberry.field(description="Output tokens per bucket.")
    spend: list[str] = strawberry.field(
        description="What each bucket cost in credits, as exact decimal strings in `currency`."
    )
    currency: str = strawberry.field(description="ISO 4217 currency of `spend`, e.g. `USD`.")


@strawberry.type(
    description="Usage over time, bucket by bucket: as points, or as one column series per group."
)
class UsageSeries:
    found: strawberry.Private[list[usage.UsagePoint]]
    group_type: strawberry.Private[str | None]

    def _group(self, point: usage.UsagePoint) -> str | None:
        return (
            relay.to_base64(self.group_type, point.group) if self.group_type and point.group else point.group
        )

    @strawberry.field(
        description="The non-empty buckets, oldest first (for several groups: by group within a bucket)."
    )
    def points(self) -> list[UsagePoint]:
        return [
            UsagePoint(
                start=p.start,
                group=self._group(p),
                requests=BigInt(p.requests),
                input_tokens=BigInt(p.input_tokens),
                output_tokens=BigInt(p.output_tokens),
                spend=Money.from_nanos(p.spend_nanos),
            )
            for p in self.found
        ]

    @strawberry.field(
        description="The same figures as columns, one series per group, in the order groups first appear."
    )
    def series(self) -> list[UsageGroupSeries]:
        by_group: dict[str | None, UsageGroupSeries] = {}
        for p in self.found:
            column = by_group.get(p.group)
            if column is None:
                column = by_group[p.group] = UsageGroupSeries(
                    group=self._group(p), starts=[], requests=[], input_tokens=[], output_tokens=[], spend=[],
                    currency=CURRENCY,
                )  # fmt: skip
            column.starts.append(p.start)
            column.requests.append(BigInt(p.requests))
            column.input_tokens.append(BigInt(p.input_tokens))
            column.output_tokens.append(BigInt(p.output_tokens))
            column.spend.append(format_amount(p.spend_nanos))
        return list(by_group.values())


UsageResult = result_union(
    "UsageResult", UsageSeries, description="Usage over time, or why it cannot be shown."
)

_GROUP_TYPE = {usage.GroupBy.PROJECT: "Project", usage.GroupBy.API_KEY: "ApiKey"}


@strawberry.type
class UsageQueries:
    @field_with_errors(
        "Tokens, requests and spend over time for the graphs: Org Admins see the organization, others their projects."
    )
    async def usage(self, info: Info, input: Annotated[UsageInput, INPUT]) -> UsageResult:
        actor = info.context.actor()
        filters = usage.UsageFilter(
            models=tuple(input.models or ()),
            project_ids=tuple(node_id(g, "Project", "projectIds") for g in input.project_ids or ()),
            api_key_ids=tuple(node_id(g, "ApiKey", "apiKeyIds") for g in input.api_key_ids or ()),
        )
        points = await usage.usage_series(
            await info.context.session(),
            actor,
            org_id(input.organization_id),
            start=input.start,
            end=input.end,
            granularity=input.granularity,
            group_by=input.group_by,
            filters=filters,
        )
        return UsageSeries(found=points, group_type=_GROUP_TYPE.get(input.group_by))
