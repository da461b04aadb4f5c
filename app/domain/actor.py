"""Who is asking: the signed-in user as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    is_staff: bool = False
