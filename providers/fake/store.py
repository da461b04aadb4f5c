"""The fake provider's records, kept in one JSON file so that they survive a restart.

The file is rewritten whole after each change, through a temporary file and ``os.replace``, so that a
crash leaves either the old or the new state, never half of one. Writes are synchronous on purpose:
the file is small, and a write that cannot be cancelled half-way keeps file and memory in step.
One process owns the file; the fake provider is for a laptop and for tests, not for replicas.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from app.payments.errors import PluginConfigError

STATE_VERSION = 1
TABLES = ("customers", "setups", "payment_methods", "charges", "refunds", "idempotency")


class FakeStore:
    """Tables of records by reference, loaded from and saved to the state file (or kept in memory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in TABLES}
        if path is not None and path.exists():
            self._load(path)

    def __getitem__(self, table: str) -> dict[str, dict[str, Any]]:
        return self.tables[table]

    def save(self) -> None:
        """Write every table to the state file atomically; nothing to do when kept in memory."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"version": STATE_VERSION, **self.tables}
        handle, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(document, file, indent=1, sort_keys=True)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _load(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PluginConfigError(f"state_path {str(path)!r} cannot be read: {exc}") from exc
        if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
            raise PluginConfigError(
                f"state_path {str(path)!r} is not a fake provider state of version {STATE_VERSION}"
            )
        for name in TABLES:
            table = document.get(name, {})
            if not isinstance(table, dict):
                raise PluginConfigError(f"state_path {str(path)!r}: {name} is not a table")
            self.tables[name] = table
