"""Money is an integer count of nano-units (1e-9) of its currency: exact, never a float.

One token of the cheapest model costs 100 nano-dollars, so every price is a whole number.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

NANOS_PER_UNIT = 1_000_000_000
NANOS_PER_CENT = 10_000_000
CURRENCY = "USD"


def format_amount(nanos: int) -> str:
    """The decimal string of an amount: at least two decimals, no trailing zeros past them."""
    sign = "-" if nanos < 0 else ""
    units, frac = divmod(abs(nanos), NANOS_PER_UNIT)
    digits = f"{frac:09d}".rstrip("0").ljust(2, "0")
    return f"{sign}{units}.{digits}"


def parse_amount(text: str) -> int:
    """Nanos from a decimal string; raises ValueError if it is not an exact decimal of nanos."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"'{text}' is not a decimal amount") from None
    if not value.is_finite():
        raise ValueError(f"'{text}' is not a decimal amount")
    nanos = value * NANOS_PER_UNIT
    if nanos != nanos.to_integral_value():
        raise ValueError(f"'{text}' has more than 9 decimals")
    return int(nanos)


def format_cents(cents: int, currency: str) -> str:
    """An amount of minor units as people read it, e.g. ``12.34 USD``."""
    return f"{cents // 100}.{cents % 100:02d} {currency.upper()}"


def cents_to_nanos(cents: int) -> int:
    return cents * NANOS_PER_CENT


def nanos_to_cents_up(nanos: int) -> int:
    """Whole cents to charge for an amount, rounding a fraction of a cent up."""
    return -(-nanos // NANOS_PER_CENT)
