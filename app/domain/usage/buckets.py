"""The buckets a graph's range covers, so a chart gets a zero where nothing was used."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import repeat
from operator import itemgetter

from app.domain.usage.service import Granularity, UsageColumns


def bucket_starts(start: datetime, end: datetime, granularity: Granularity) -> list[datetime]:
    """Every bucket's start from the one holding `start` to the one holding the last minute before `end`."""
    size = granularity.value * 60
    first = int(start.timestamp()) // size * size
    last = (int(end.timestamp()) - 1) // size * size
    return [datetime.fromtimestamp(at, UTC) for at in range(first, last + 1, size)]


def zero_filled(columns: UsageColumns, starts: list[datetime]) -> UsageColumns:
    """One group's columns at every bucket start, zeros where it has none (columns not read stay so)."""
    if columns.starts == starts:
        return columns
    # each start's index in the group's columns, or one past them, where a zero is appended: C-level
    # maps and item lookups, no Python code per point (100 series of 720 hours in a console graph)
    found = dict(zip(columns.starts, range(len(columns.starts)), strict=True))
    positions = list(map(found.get, starts, repeat(len(columns.starts))))
    pick = (
        itemgetter(*positions) if len(positions) > 1 else lambda values: tuple(values[p] for p in positions)
    )

    def at_every_start(values: list[int] | None) -> list[int] | None:
        return None if values is None else list(pick([*values, 0]))

    return UsageColumns(
        columns.group,
        list(starts),
        at_every_start(columns.requests),
        at_every_start(columns.input_tokens),
        at_every_start(columns.output_tokens),
        at_every_start(columns.spend_nanos),
    )
