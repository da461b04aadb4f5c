"""Billing periods: calendar months in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def month_start(moment: datetime) -> datetime:
    """The first instant of the moment's calendar month (UTC)."""
    moment = moment.astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(moment: datetime) -> datetime:
    """The first instant of the following calendar month (UTC)."""
    start = month_start(moment)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def period_of(moment: datetime) -> str:
    """The billing period a moment falls in, as ``YYYY-MM``."""
    return f"{moment.astimezone(UTC):%Y-%m}"


def previous_period(moment: datetime) -> str:
    """The billing period that ended last before the moment's own."""
    start = month_start(moment)
    return period_of(
        start.replace(year=start.year - 1, month=12)
        if start.month == 1
        else start.replace(month=start.month - 1)
    )
