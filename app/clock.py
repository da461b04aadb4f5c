"""The one source of "now", swappable in tests so that time-based rules run without sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


_current: Clock = Clock()


def now() -> datetime:
    """The current time (UTC, timezone-aware) from the installed clock."""
    return _current.now()


def install(clock: Clock) -> Clock:
    """Install a clock and return the previous one."""
    global _current
    previous, _current = _current, clock
    return previous
