"""Switches that make the fake provider slow or failing, for tests of timeouts and retries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

FaultKind = Literal["timeout", "error", "lost_response"]


@dataclass
class Faults:
    """Latency for every call, and failures queued for the next calls.

    Kinds: ``timeout`` (nothing happened, PaymentProviderTimeout), ``error`` (nothing happened,
    PaymentProviderError) and ``lost_response`` (the call happened and was recorded, but the answer was
    lost: PaymentProviderTimeout; a retry with the same idempotency key returns the recorded result).
    """

    latency_seconds: float = 0.0
    _queue: list[tuple[FaultKind, str | None]] = field(default_factory=list)

    def fail_next(self, n: int = 1, kind: FaultKind = "error", *, operation: str | None = None) -> None:
        """Make the next n calls (of that operation, e.g. "charge", or of any) fail with that kind."""
        if kind not in get_args(FaultKind):
            raise ValueError(f"fault kind must be one of {get_args(FaultKind)}, got {kind!r}")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self._queue.extend([(kind, operation)] * n)

    def take(self, operation: str) -> FaultKind | None:
        """The fault this call of operation suffers, if any, consumed."""
        for index, (kind, target) in enumerate(self._queue):
            if target is None or target == operation:
                del self._queue[index]
                return kind
        return None

    @property
    def pending(self) -> int:
        """How many queued failures have not happened yet."""
        return len(self._queue)

    def clear(self) -> None:
        """No latency and no queued failures."""
        self.latency_seconds = 0.0
        self._queue.clear()
