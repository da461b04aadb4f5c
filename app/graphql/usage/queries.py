"""Usage graphs: requests, tokens and cost over time, grouped by project, key or model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

import strawberry
from strawberry import relay
from strawberry.types.nodes import SelectedField, Selection

from app.domain.money import CURRENCY, format_amounts
from app.domain.usage import buckets
from app.domain.usage import service as usage
from app.graphql.context import Info
from app.graphql.errors import INPUT, describe_enum, field_with_errors, result_union
from app.graphql.execution import SerializedList
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
    def of(cls, columns: list[usage.UsageColumns]) -> UsageTotals:
        return cls(
            requests=BigInt(sum(sum(c.figure("requests")) for c in columns)),
            input_tokens=BigInt(sum(sum(c.figure("input_tokens")) for c in columns)),
            output_tokens=BigInt(sum(sum(c.figure("output_tokens")) for c in columns)),
            spend=Money.from_nanos(sum(sum(c.figure("spend_nanos")) for c in columns)),
        )


class _IsoTimes(dict[datetime, str]):
    """Each time's ISO 8601 text, as the DateTime scalar serializes it, made once per time."""

    def __missing__(self, at: datetime) -> str:
        text = self[at] = at.isoformat()
        return text


@strawberry.type(
    description="One group's usage as columns, index by index: what chart libraries take, and much "
    "lighter than points for long ranges."
)
class UsageGroupSeries:
    group_kind: strawberry.Private[usage.GroupBy]
    group_id: strawberry.Private[str | None]
    found: strawberry.Private[usage.UsageColumns]
    iso_times: strawberry.Private[_IsoTimes]
    group: str | None = strawberry.field(
        description="The model id, or the global ID of the project or API key; null when not grouped."
    )

    # Each column is made only when asked for, in its JSON form, which the response takes as it is
    # (app/graphql/execution.py): BigInts are ints already, and a bucket's start is written once.
    @strawberry.field(
        description="Start of each bucket (UTC), oldest first: the non-empty ones, or all with `zeroFilled`."
    )
    def starts(self) -> list[datetime]:
        return cast(list[datetime], SerializedList(map(self.iso_times.__getitem__, self.found.starts)))

    @strawberry.field(description="Requests per bucket.")
    def requests(self) -> list[BigInt]:
        return cast(list[BigInt], SerializedList(self.found.figure("requests")))

    @strawberry.field(description="Input tokens per bucket.")
    def input_tokens(self) -> list[BigInt]:
        return cast(list[BigInt], SerializedList(self.found.figure("input_tokens")))

    @strawberry.field(description="Output tokens per bucket.")
    def output_tokens(self) -> list[BigInt]:
        return cast(list[BigInt], SerializedList(self.found.figure("output_tokens")))

    @strawberry.field(description="What each bucket cost in credits, as exact decimal strings in `currency`.")
    def spend(self) -> list[str]:
        return SerializedList(format_amounts(self.found.figure("spend_nanos")))

    @strawberry.field(description="ISO 4217 currency of `spend`, e.g. `USD`.")
    def currency(self) -> str:
        return CURRENCY

    @strawberry.field(description="The group's sums over the whole range.")
    def total(self) -> UsageTotals:
        return UsageTotals.of([self.found])

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
    found: strawberry.Private[list[usage.UsageColumns]]
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
        # by bucket, then by the group's own id (as the database orders it)
        order = sorted(
            ((c, n) for c in self.found for n in range(len(c.starts))),
            key=lambda at: (at[0].starts[at[1]], at[0].group or ""),
        )
        return [
            UsagePoint(
                start=c.starts[n],
                group=self._group(c.group),
                requests=BigInt(c.figure("requests")[n]),
                input_tokens=BigInt(c.figure("input_tokens")[n]),
                output_tokens=BigInt(c.figure("output_tokens")[n]),
                spend=Money.from_nanos(c.figure("spend_nanos")[n]),
            )
            for c, n in order
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
        found = self.found
        if zero_filled:
            starts = buckets.bucket_starts(*self.window)
            if not found and self.group_by is usage.GroupBy.NONE:
                found = [usage.UsageColumns(None)]  # nothing used is still a line at zero
            found = [buckets.zero_filled(c, starts) for c in found]
        iso_times = _IsoTimes()  # shared by the groups: their buckets are the same times
        return [
            UsageGroupSeries(
                group_kind=self.group_by,
                group_id=c.group,
                found=c,
                iso_times=iso_times,
                group=self._group(c.group),
            )
            for c in found
        ]


UsageResult = result_union(
    "UsageResult", UsageSeries, description="Usage over time, or why it cannot be shown."
)

_GROUP_TYPE = {usage.GroupBy.PROJECT: "Project", usage.GroupBy.API_KEY: "ApiKey"}
# the fields that show one figure; `points` and `total` show them all
_FIELD_FIGURE = {"requests": "requests", "inputTokens": "input_tokens", "outputTokens": "output_tokens",
                 "spend": "spend_nanos"}  # fmt: skip


def _field_names(selections: list[Selection]) -> set[str]:
    """Every field's name in these selections and below, through fragments (aliases do not matter).

    Fragments are walked at every spread, as Strawberry expands them: the document's cost counted that
    way is bounded before anything runs (app/graphql/limits.py).
    """
    names = set()
    for selection in selections:
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        names |= _field_names(selection.selections)
    return names


def _figures_asked(selections: list[Selection]) -> set[str]:
    """The figures the query shows (usage.FIGURES): only they are read, a column of every point each.

    By name anywhere below the field, whatever the type: a figure too many is read for nothing, never one
    too few (a column not read fails loudly: UsageColumns.figure).
    """
    names = _field_names(selections)
    if names & {"points", "total"}:
        return set(usage.FIGURES)
    return {figure for name, figure in _FIELD_FIGURE.items() if name in names}


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
        columns = await usage.usage_series(
            await info.context.session(),
            actor,
            org_id(input.organization_id),
            start=input.start,
            end=input.end,
            granularity=input.granularity,
            group_by=input.group_by,
            filters=filters,
            figures=_figures_asked(info.selected_fields),
        )
        return UsageSeries(
            found=columns,
            group_by=input.group_by,
            window=(input.start, input.end, input.granularity),
        )
