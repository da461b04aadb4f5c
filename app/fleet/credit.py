"""Reservations count against credit: a PayGo admission holds its worst-case price until its usage is settled.

Admission of a PayGo request holds the most the request can cost (its input tokens and its
maximum output at the model's prices) against the organization's available credit:

    available = floor - billed - held
    floor     = the balance read when the organization's entry was loaded + `billed` read just before
    billed    = the price of the usage settled since (a counter shared by the replicas, in Redis)
    held      = the worst cases held by admissions whose usage has not been settled yet

and refuses it (402) when `available` does not cover the hold. Settling a usage group releases
its holds and adds its prices to `billed` in one step, so the balance a replica believes follows
every burn of every replica without reloading. Figures are micro-dollars, rounded against the
customer's credit (holds up, the balance down).

The bound: with usage reported within what was admitted, the balance never goes below zero
through admission. It goes below by at most (a) the price of output reported beyond a request's
`max_output_tokens`, and (b) the price of a usage group committed by a replica that died before
settling it (its `billed` increment is lost, so replicas over-estimate the balance by that group's
price until the organization's entry is reloaded: a change of the organization, its balance at or
below zero, or FLEET_CACHE_MAX_AGE_SECONDS). So about one usage group's worst case per replica
killed, never more.
"""

from __future__ import annotations

from app.domain.catalog.models import CatalogModel

NANOS_PER_MICRO = 1_000


def credit_key(organization_id: str) -> str:
    """The shared counters of an organization's credit (its id as the Redis Cluster hash tag)."""
    return f"cr:{{{organization_id}}}"


def worst_case_micros(model: CatalogModel, input_tokens: int, max_output_tokens: int) -> int:
    """The most a request may cost, rounded up to a micro-dollar."""
    return -(-model.price_of(input_tokens, max_output_tokens) // NANOS_PER_MICRO)


def micros_of(nanos: int) -> int:
    """A price in micro-dollars, rounded up (what is billed weighs at least its price)."""
    return -(-nanos // NANOS_PER_MICRO)


def balance_micros(balance_nanos: int) -> int:
    """A balance in micro-dollars, rounded down (never more credit than there is)."""
    return balance_nanos // NANOS_PER_MICRO
