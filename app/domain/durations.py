"""Waits said the way people say them: "23 hours 59 minutes", not "86399 seconds"."""

from __future__ import annotations

_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def in_words(seconds: int) -> str:
    """The two largest units of a duration, e.g. "2 days 3 hours", "14 minutes 59 seconds", "1 second"."""
    parts: list[str] = []
    remaining = max(0, seconds)
    for name, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count or parts:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    shown = [part for part in parts[:2] if not part.startswith("0 ")]
    return " ".join(shown) or "0 seconds"
