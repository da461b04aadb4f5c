"""The buckets a graph's range covers, so a chart gets a zero where nothing was used."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from app.domain.usage.service import Granularity, UsagePoint


def bucket_starts(start: datetime, end: datetime, granularity: Granularity) -> list[datetime]:
    """Every bucket's start from the one holding `start` to the one holding the last minute before `end`."""
    size = granularity.value * 60
    first = int(start.timestamp()) // size * size
    last = (int(end.timestamp()) - 1) // size * size
    return [datetime.fromtimestamp(at, UTC) for at in range(first, last + 1, size)]


def zero_filled(points: Iterable[UsagePoint], starts: list[datetime], group: str | None) -> list[UsagePoint]:
    """One group's points at every bucket start, zeros where it has none."""
    found = {point.start: point for point in points}
    return [found.get(at) or UsagePoint(at, group, 0, 0, 0, 0) for at in starts]
