"""Amounts as text: a whole list formatted at once reads exactly as each amount formatted alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.domain.money import NANOS_PER_UNIT, format_amount, format_amounts

# every count of trailing zeros in the nanos (0 to 9), after whole units of many widths, and one nano
# either side of each (across a whole cent, a whole unit)
EDGES = sorted(
    {
        units * NANOS_PER_UNIT + nanos + step
        for units in (0, 1, 9, 10, 99, 100, 10**6, 10**9, 10**18, 10**30)
        for nanos in (
            0,
            *(d * 10**zeros for zeros in range(9) for d in (1, 5, 9, 10, 99, 123456789 // 10**zeros)),
        )
        for step in (-1, 0, 1)
        if units * NANOS_PER_UNIT + nanos + step >= 0
    }
)


def test_every_edge_reads_as_alone() -> None:
    assert format_amounts(EDGES) == [format_amount(nanos) for nanos in EDGES]
    assert format_amounts([0, 1, 10**9, 1_230_000_000, 1_234_567_890, 10**27]) == [
        "0.00", "0.000000001", "1.00", "1.23", "1.23456789", "1000000000000000000.00"
    ]  # fmt: skip


def test_an_empty_list_and_lists_with_negatives() -> None:
    assert format_amounts([]) == []
    mixed = [-nanos for nanos in EDGES] + EDGES
    assert format_amounts(mixed) == [format_amount(nanos) for nanos in mixed]
    assert format_amounts([-1_500_000_000, 0, 20_000_000]) == ["-1.50", "0.00", "0.02"]


@given(st.lists(st.integers(min_value=-(2**70), max_value=2**70) | st.integers(0, 10**12)))
def test_any_amounts_read_as_alone(amounts: list[int]) -> None:
    assert format_amounts(amounts) == [format_amount(nanos) for nanos in amounts]
