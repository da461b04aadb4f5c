"""Scalars beyond GraphQL's own, mapped in the schema's config (StrawberryConfig.scalar_map)."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

BigInt = NewType("BigInt", int)

SCALARS: dict[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        serialize=int,
        parse_value=int,
        description="A whole number that may exceed 32 bits (token counts), sent as a JSON number.",
    )
}
