"""A periodic job and the registry the job modules add theirs to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

JobFunction = Callable[[Any, Any], Awaitable[Any]]  # (Database, Services) -> a summary for the log


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: JobFunction
    description: str


JOBS: dict[str, Job] = {}


def job(name: str, *, every_seconds: float, description: str) -> Callable[[JobFunction], JobFunction]:
    """Register a periodic job under a name (also the name `billing run-jobs NAME` takes)."""

    def register(function: JobFunction) -> JobFunction:
        JOBS[name] = Job(name, every_seconds, function, description)
        return function

    return register
