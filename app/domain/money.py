"""Money is an integer count of nano-units (1e-9) of its currency: exact, never a float.

One token of the cheapest model costs 100 nano-dollars, so every price is a whole number.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from itertools import repeat
from operator import floordiv, mod

NANOS_PER_UNIT = 1_000_000_000
NANOS_PER_CENT = 10_000_000
CURRENCY = "USD"


def format_amount(nanos: int) -> str:
    """The decimal string of an amount: at least two decimals, no trailing zeros past them."""
    sign = "-" if nanos < 0 else ""
    units, frac = divmod(abs(nanos), NANOS_PER_UNIT)
    digits = f"{frac:09d}".rstrip("0").ljust(2, "0")
    return f"{sign}{units}.{digits}"


def format_amounts(amounts: Sequence[int]) -> list[str]:
    """format_amount of each amount, in a few passes over the whole list that run in C.

    A 100-key hourly graph shows 72,000 amounts: formatted one by one, they were half of its CPU.
    """
    # each amount as "units.nanos," with all nine decimals, in one formatting of the whole list
    parts = [0, 0] * len(amounts)
    parts[::2] = map(floordiv, amounts, repeat(NANOS_PER_UNIT))
    parts[1::2] = map(mod, amounts, repeat(NANOS_PER_UNIT))
    text = ("%d.%09d," * len(amounts)) % tuple(parts)
    if "-" in text:  # a negative amount (usage never costs less than nothing), whose floor division misleads
        return list(map(format_amount, amounts))
    # then the trailing zeros past two decimals (0 to 7 of the nine): 4, then 2, then 1 at a time make
    # every count, and each pattern ends at its amount's comma, so it never reaches into the next amount
    texts = text.replace("0000,", ",").replace("00,", ",").replace("0,", ",").split(",")
    texts.pop()  # what follows the last comma
    return texts


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
