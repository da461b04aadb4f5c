"""Usage graphs: requests, tokens and cost over time, grouped by project, key or model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.money import CURRENCY, format_amount
from app.domain.usage import buckets
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


@strawberry.type(description="Sums over a whole range.")
class UsageTotals:
    requests: BigInt = strawberry.field(description="Requests counted.")
    input_tokens: BigInt = strawberry.field(description="Input (prompt) tokens.")
    output_tokens: BigInt = strawberry.field(description="Output (generated) tokens.")
    spend: Money = strawberry.field(description="What the usage cost in credits (PayGo).")

    @classmethod
    def of(cls, points: list[usage.UsagePoint]) -> UsageTotals:
        return cls(
            requests=BigInt(sum(p.requests for p in points)),
            input_tokens=BigInt(sum(p.input_tokens for p in points)),
            output_tokens=BigInt(sum(p.output_tokens for p in points)),
            spend=Money.from_nanos(sum(p.spend_nanos for p in points)),
        )


@strawberry.type(
    description="One group's usage as columns, index by index: what chart libraries take, and much "
    "lighter than points for long ranges."
)
class UsageGroupSeries:
    group_kind: strawberry.Private[usage.GroupBy]
    group_id: strawberry.Private[str | None]
    found: strawberry.Private[list[usage.UsagePoint]]
    group: str | None = strawberry.field(
        description="The model id, or the global ID of the project or API key; null when not grouped."
    )
    starts: list[datetime] = strawberry.field(
        description="Start of each bucket (UTC), oldest first: the non-empty ones, or all with `zeroFilled`."
    )
    requests: list[BigInt] = strawberry.field(description="Requests per bucket.")
    input_tokens: list[BigInt] = strawberry.field(description="Input tokens per bucket.")
    output_tokens: list[BigInt] = strawberry.field(description="Output tokens per bucket.")
    spend: list[str] = strawberry.field(
        description="What each bucket cost in credits, as exact decimal strings in `currency`."
    )
    currency: str = strawberry.field(description="ISO 4217 currency of `spend`, e.g. `USD`.")

    @strawberry.field(description="The group's sums over the whole range.")
    def total(self) -> UsageTotals:
        return UsageTotals.of(self.found)

    @strawberry.field(
        description="What people call the group: the model's display name, the project's or the key's name; "
        "null when not grouped (or the project or key is gone)."
    )
    async def name(self, info: Info) -> str | None:
        if self.group_id is None:
            return None
        if self.group_kind is usage.GroupBy.MODEL:
            model = info.context.services.catalog.model(self.group_id)
            return model.display_name if model else self.group_id
        assert info.context.loaders
        loader = (
            info.context.loaders.project
            if self.group_kind is usage.GroupBy.PROJECT
            else info.context.loaders.api_key
        )
        found = await loader.load(self.group_id)
        return found.name if found else None


@strawberry.type(
    description="Usage over time, bucket by bucket: as points, or as one column series per group."
)
class UsageSeries:
    found: strawberry.Private[list[usage.UsagePoint]]
    group_by: strawberry.Private[usage.GroupBy]
    window: strawberry.Private[tuple[datetime, datetime, usage.Granularity]]  # from, to, granularity

    @property
    def group_type(self) -> str | None:
        return _GROUP_TYPE.get(self.group_by)

    @strawberry.field(description="Sums over the whole range and every group.")
    def total(self) -> UsageTotals:
        return UsageTotals.of(self.found)

    def _group(self, group: str | None) -> str | None:
        return relay.to_base64(self.group_type, group) if self.group_type and group else group

    @strawberry.field(
        description="The non-empty buckets, oldest first (for several groups: by group within a bucket)."
    )
    def points(self) -> list[UsagePoint]:
        return [
            UsagePoint(
                start=p.start,
                group=self._group(p.group),
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
    def series(
        self,
        zero_filled: Annotated[
            bool,
            strawberry.argument(
                description="Every bucket of the range in each series, zeros where nothing was used."
            ),
        ] = False,
    ) -> list[UsageGroupSeries]:
        by_group: dict[str | None, list[usage.UsagePoint]] = {}
        if zero_filled and self.group_by is usage.GroupBy.NONE:
            by_group[None] = []  # nothing used is still a line at zero
        for p in self.found:
            by_group.setdefault(p.group, []).append(p)
        starts = buckets.bucket_starts(*self.window) if zero_filled else None
        return [self._column(group, points, starts) for group, points in by_group.items()]

    def _column(
        self, group: str | None, points: list[usage.UsagePoint], starts: list[datetime] | None
    ) -> UsageGroupSeries:
        shown = points if starts is None else buckets.zero_filled(points, starts, group)
        return UsageGroupSeries(
            group_kind=self.group_by,
            group_id=group,
            found=points,
            group=self._group(group),
            starts=[p.start for p in shown],
            requests=[BigInt(p.requests) for p in shown],
            input_tokens=[BigInt(p.input_tokens) for p in shown],
            output_tokens=[BigInt(p.output_tokens) for p in shown],
            spend=[format_amount(p.spend_nanos) for p in shown],
            currency=CURRENCY,
        )


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
        return UsageSeries(
            found=points,
            group_by=input.group_by,
            window=(input.start, input.end, input.granularity),
        )
