"""The buckets a graph's range covers, so a chart gets a zero where nothing was used."""

from __future__ import annotations

from datetime import UTC, datetime

from app.domain.usage.service import Granularity, UsageColumns


def bucket_starts(start: datetime, end: datetime, granularity: Granularity) -> list[datetime]:
    """Every bucket's start from the one holding `start` to the one holding the last minute before `end`."""
    size = granularity.value * 60
    first = int(start.timestamp()) // size * size
    last = (int(end.timestamp()) - 1) // size * size
    return [datetime.fromtimestamp(at, UTC) for at in range(first, last + 1, size)]


def zero_filled(columns: UsageColumns, starts: list[datetime]) -> UsageColumns:
    """One group's columns at every bucket start, zeros where it has none."""
    index = {start: n for n, start in enumerate(columns.starts)}

    def at_every_start(values: list[int]) -> list[int]:
        return [values[index[start]] if start in index else 0 for start in starts]

    return UsageColumns(
        columns.group,
        list(starts),
        at_every_start(columns.requests),
        at_every_start(columns.input_tokens),
        at_every_start(columns.output_tokens),
        at_every_start(columns.spend_nanos),
    )
