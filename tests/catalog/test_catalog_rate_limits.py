"""RateLimits: comparing one set of limits with a ceiling, window by window."""

from __future__ import annotations

from app.domain.catalog import RateLimits

PAYGO = RateLimits(requests_per_minute=1_000, tokens_per_minute=1_000_000)


def test_limits_at_or_below_every_window_of_the_ceiling_are_within_it() -> None:
    assert RateLimits(requests_per_minute=1_000, tokens_per_minute=1_000_000).is_within(PAYGO)
    assert RateLimits(requests_per_minute=10, tokens_per_minute=5_000, tokens_per_day=1_000).is_within(PAYGO)


def test_a_window_above_the_ceiling_is_named() -> None:
    limits = RateLimits(requests_per_minute=1_001, tokens_per_minute=2_000_000)
    assert limits.exceeding(PAYGO) == ("requests_per_minute", "tokens_per_minute")
    assert not limits.is_within(PAYGO)


def test_no_limit_where_the_ceiling_has_one_exceeds_it() -> None:
    ceiling = RateLimits(requests_per_minute=100, tokens_per_minute=100, tokens_per_day=10_000)
    limits = RateLimits(requests_per_minute=10, tokens_per_minute=10)
    assert limits.exceeding(ceiling) == ("tokens_per_day",)


def test_no_limits_at_all_are_within_no_ceiling_at_all() -> None:
    assert RateLimits().is_within(RateLimits())
    assert not RateLimits().is_within(PAYGO)
