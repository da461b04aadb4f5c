"""The catalog's one failure: bad data that must stop start-up, named by file and line."""

from __future__ import annotations

from pathlib import Path


class CatalogError(Exception):
    """The catalog file is malformed or breaks a rule; the message reads `file:line: what is wrong`."""

    def __init__(self, message: str, *, path: Path | str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line
        self.reason = message
