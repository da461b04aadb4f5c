"""ACME's sandbox ledger: every change is an appended entry; what anything holds is derived from them."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.payments.errors import IdempotencyConflict

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One fact of the ledger: what happened (kind), to which reference, with its details."""

    kind: str
    ref: str
    details: Mapping[str, Any]


@dataclass
class Ledger:
    """The append-only list of entries, plus the answers kept by idempotency key."""

    entries: list[Entry] = field(default_factory=list)
    _answers: dict[str, tuple[str, Any]] = field(default_factory=dict)

    def post(self, kind: str, prefix: str, **details: Any) -> str:
        """Append an entry about a new reference; returns the reference."""
        ref = f"{prefix}_acme_{secrets.token_hex(6)}"
        self.entries.append(Entry(kind, ref, details))
        return ref

    def note(self, kind: str, ref: str, **details: Any) -> None:
        """Append an entry about an existing reference."""
        self.entries.append(Entry(kind, ref, details))

    def of(self, *kinds: str) -> Iterator[Entry]:
        """The entries of those kinds, oldest first."""
        return (entry for entry in self.entries if entry.kind in kinds)

    def find(self, kind: str, ref: str) -> Entry | None:
        """The entry that created ref, if it is of that kind."""
        return next((entry for entry in self.of(kind) if entry.ref == ref), None)

    def once(self, key: str, params: Mapping[str, Any], work: Callable[[], T]) -> T:
        """Run work once per idempotency key; the same key with other parameters is a conflict."""
        fingerprint = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
        if key in self._answers:
            seen, answer = self._answers[key]
            if seen != fingerprint:
                raise IdempotencyConflict(f"acme: idempotency key {key!r} was used with other parameters")
            return answer  # type: ignore[no-any-return]
        answer = work()
        self._answers[key] = (fingerprint, answer)
        return answer
