"""Amounts of money as customers type them: decimal strings of whole cents, checked against limits."""

from __future__ import annotations

import re

from app.domain.errors import ErrorCode, InvalidInput
from app.domain.money import NANOS_PER_CENT, format_amount, parse_amount

# plain decimals only: no sign, exponent or thousands separator to misread
_DOLLARS = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")
_FRACTION = re.compile(r"[0-9]{1,12}\.[0-9]{3,9}")


def parse_cents(text: str, *, field: str) -> int:
    """Whole cents from a decimal string such as ``"25"`` or ``"25.50"``; InvalidInput otherwise."""
    if not text or not text.strip():
        raise InvalidInput("An amount is required.", code=ErrorCode.REQUIRED, field=field)
    if _FRACTION.fullmatch(text.strip()):
        raise InvalidInput("The amount must be in whole cents (at most two decimals).", field=field)
    if not _DOLLARS.fullmatch(text.strip()):
        raise InvalidInput(f"'{text[:40]}' is not an amount in dollars such as 25 or 25.50.", field=field)
    return parse_amount(text) // NANOS_PER_CENT


def parse_nanos(text: str, *, field: str, minimum_cents: int = 0, maximum_cents: int | None = None) -> int:
    """Nanos of a whole-cents amount within [minimum, maximum]; InvalidInput naming the field otherwise."""
    cents = parse_cents(text, field=field)
    if cents < minimum_cents:
        raise InvalidInput(
            f"The amount must be at least ${format_amount(minimum_cents * NANOS_PER_CENT)}.", field=field
        )
    if maximum_cents is not None and cents > maximum_cents:
        raise InvalidInput(
            f"The amount must be at most ${format_amount(maximum_cents * NANOS_PER_CENT)}.", field=field
        )
    return cents * NANOS_PER_CENT
