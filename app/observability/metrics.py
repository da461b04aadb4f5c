"""Prometheus metrics: what the process counts as it works, and what the database holds, read at each scrape.

Counters and histograms live in this process (a replica's own work: admissions, usage commits,
cache traffic, jobs). Figures about money and mail (charges, auto-recharge attempts, the
outbox) are read from the database when `/metrics` is scraped, so every replica reports the
same totals: aggregate them with max(), not sum(). The hot path records through the functions
below; `configure(enabled=False)` (METRICS_ENABLED=false) makes them return at once.
"""

from __future__ import annotations

import hmac
from bisect import bisect_left
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from itertools import accumulate
from typing import Any

from litestar import Request, Response, get
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlmodel import col

from app import clock

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class HotPath(Collector):
    """The admission path's figures, kept as plain numbers and exported at each scrape.

    prometheus_client's counters and histograms take a lock on every update (about 1 and 2 us
    here): three of them per admission cost a few percent of its rate. The fleet's handlers all run
    on the event loop's thread, as does the scrape, so plain increments are exact.
    """

    def __init__(self) -> None:
        self.admissions: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.latency_buckets = [0] * (len(_FAST) + 1)  # the last one: above every bound
        self.latency_sum = 0.0
        self.lookups: defaultdict[tuple[str, str], int] = defaultdict(int)

    def collect(self) -> Iterator[Metric]:
        admissions = CounterMetricFamily(
            "billing_fleet_admissions",
            "Admission answers by outcome (admitted, or the refusal's code) and plan (empty when refused before one was known).",
            labels=["outcome", "plan"],
        )
        for labels, count in sorted(self.admissions.items()):
            admissions.add_metric(labels, count)
        cumulative = list(accumulate(self.latency_buckets))
        latency = HistogramMetricFamily(
            "billing_fleet_admission_seconds",
            "Time to answer an admission.",
            buckets=[*((str(bound), count) for bound, count in zip(_FAST, cumulative, strict=False)),
                     ("+Inf", cumulative[-1])],
            sum_value=self.latency_sum,
        )  # fmt: skip
        lookups = CounterMetricFamily(
            "billing_fleet_cache_lookups",
            "Lookups of the fleet's in-memory directory by cache (key, organization) and result (hit, or reload from the database).",
            labels=["cache", "result"],
        )
        for labels, count in sorted(self.lookups.items()):
            lookups.add_metric(labels, count)
        yield from (admissions, latency, lookups)


HOT_PATH = HotPath()
REGISTRY.register(HOT_PATH)
USAGE_RECORDS = Counter(
    "billing_fleet_usage_records",
    "Usage records by outcome: accepted, duplicate (already counted), rejected (invalid).",
    ["status"],
    registry=REGISTRY,
)
USAGE_OVER_RESERVATION_TOKENS = Counter(
    "billing_fleet_usage_over_reservation_tokens",
    "Tokens reported beyond what their admission reserved: billed, since they were used, and taken from the limits.",
    registry=REGISTRY,
)
USAGE_COMMIT_SECONDS = Histogram(
    "billing_fleet_usage_commit_seconds",
    "Time to commit one group of usage records.",
    buckets=_FAST[3:] + _SLOW[5:],
    registry=REGISTRY,
)
RATE_LIMIT_REFUSALS = Counter(
    "billing_fleet_rate_limit_refusals",
    "Admissions refused by a rate limit, by level (organization, project), kind (requests, tokens) and window.",
    ["level", "kind", "window"],
    registry=REGISTRY,
)
CACHE_INVALIDATIONS = Counter(
    "billing_fleet_cache_invalidations",
    "Organizations dropped from the fleet's directory because a commit changed them.",
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "billing_job_runs",
    "Periodic job runs by job and outcome (ok, failed).",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "billing_job_duration_seconds",
    "Duration of a periodic job's run.",
    ["job"],
    buckets=_SLOW,
    registry=REGISTRY,
)

_enabled = True


def configure(*, enabled: bool) -> None:
    """Turn recording on or off for this process (METRICS_ENABLED)."""
    global _enabled
    _enabled = enabled


@lru_cache(maxsize=1024)
def _child(metric: Any, *labels: str) -> Any:
    """A labelled child, looked up once (labels() takes a lock and builds a tuple on every call)."""
    return metric.labels(*labels)


def admission_answered(status: int, body: dict[str, Any], seconds: float) -> None:
    """Count one admission answer and its latency."""
    if _enabled:
        outcome = "admitted" if status == 200 else str(body.get("code", status))
        HOT_PATH.admissions[outcome, body.get("plan") or ""] += 1
        HOT_PATH.latency_buckets[bisect_left(_FAST, seconds)] += 1
        HOT_PATH.latency_sum += seconds


def rate_limited(level: str, kind: str, window: str) -> None:
    if _enabled:
        _child(RATE_LIMIT_REFUSALS, level, kind, window).inc()


def usage_answered(results: Iterable[dict[str, Any]]) -> None:
    """Count the outcome of each usage record of an answer, and the tokens used over their reservations."""
    if _enabled:
        outcomes: Tally[str] = Tally()
        over = 0
        for result in results:
            outcomes[result.get("status") or "rejected"] += 1
            over += result.get("over_reservation_tokens", 0)
        for status, count in outcomes.items():
            _child(USAGE_RECORDS, status).inc(count)
        if over:
            USAGE_OVER_RESERVATION_TOKENS.inc(over)


def usage_committed(seconds: float) -> None:
    if _enabled:
        USAGE_COMMIT_SECONDS.observe(seconds)


def cache_lookup(cache: str, hit: bool) -> None:
    if _enabled:
        HOT_PATH.lookups[cache, "hit" if hit else "reload"] += 1


def cache_invalidated(count: int) -> None:
    if _enabled:
        CACHE_INVALIDATIONS.inc(count)


def job_ran(name: str, seconds: float, *, failed: bool) -> None:
    if _enabled:
        _child(JOB_RUNS, name, "failed" if failed else "ok").inc()
        _child(JOB_SECONDS, name).observe(seconds)


class _Snapshot(Collector):
    """Gauges computed for one scrape."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def _gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _age(since: datetime | None, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


async def database_figures(db: Any) -> list[Metric]:
    """Charges, auto-recharge attempts, the outbox and the usage not yet folded, as the database holds them."""
    from app.domain.billing.models import Charge, ChargeStatus
    from app.domain.credits.models import AutoRechargeAttempt
    from app.domain.notifications.models import OutboxMessage, OutboxState
    from app.domain.usage.models import UsageRollupPending

    now = clock.now()
    charges = _gauge("billing_charges", "Charges by purpose and status.", ["purpose", "status"])
    attempts = _gauge("billing_auto_recharge_attempts", "Auto-recharge attempts by outcome.", ["outcome"])
    outbox = _gauge("billing_outbox_messages", "Outbox emails by state (QUEUED is the backlog).", ["state"])
    pending_age = _gauge(
        "billing_charge_oldest_pending_age_seconds", "Age of the oldest pending charge (0: none)."
    )
    queued_age = _gauge(
        "billing_outbox_oldest_queued_age_seconds", "Age of the oldest queued email (0: none)."
    )
    unfolded = _gauge(
        "billing_usage_rollup_pending_groups",
        "Usage groups committed and not yet folded into the graphs' roll-ups (a growing backlog: folds fail).",
    )
    async with db.reader() as session:
        unfolded.add_metric(
            [], await session.scalar(select(func.count()).select_from(UsageRollupPending)) or 0
        )
        for purpose, status, count in await session.execute(
            select(col(Charge.purpose), col(Charge.status), func.count()).group_by(
                col(Charge.purpose), col(Charge.status)
            )
        ):
            charges.add_metric([purpose.value, status.value], count)
        for status, count in await session.execute(
            select(col(AutoRechargeAttempt.status), func.count()).group_by(col(AutoRechargeAttempt.status))
        ):
            attempts.add_metric([status.value], count)
        for state, count in await session.execute(
            select(col(OutboxMessage.state), func.count()).group_by(col(OutboxMessage.state))
        ):
            outbox.add_metric([state.value], count)
        oldest_charge = await session.scalar(
            select(func.min(col(Charge.created_at))).where(col(Charge.status) == ChargeStatus.PENDING)
        )
        oldest_mail = await session.scalar(
            select(func.min(col(OutboxMessage.created_at))).where(
                col(OutboxMessage.state) == OutboxState.QUEUED
            )
        )
    pending_age.add_metric([], _age(oldest_charge, now))
    queued_age.add_metric([], _age(oldest_mail, now))
    return [charges, attempts, outbox, pending_age, queued_age, unfolded]


def process_figures(db: Any, fleet: Any) -> list[Metric]:
    """The usage writer's queue, the directory's entries and the database pools of this process."""
    queue = _gauge("billing_fleet_usage_queue_depth", "Usage reports waiting for the usage writer.")
    queue.add_metric([], fleet.writer.queue_depth)
    entries = _gauge("billing_fleet_cache_entries", "Entries of the fleet's in-memory directory.", ["cache"])
    for cache, count in fleet.directory.sizes().items():
        entries.add_metric([cache], count)
    in_use = _gauge("billing_db_pool_connections_in_use", "Database connections checked out.", ["engine"])
    size = _gauge("billing_db_pool_size", "Database connections the pool keeps open.", ["engine"])
    engines = {"write": db.write_engine, "read": db.read_engine}
    for name, engine in engines.items():
        if name == "read" and engine is db.write_engine:
            continue
        pool = engine.sync_engine.pool
        in_use.add_metric([name], getattr(pool, "checkedout", lambda: 0)())
        size.add_metric([name], getattr(pool, "size", lambda: 0)())
    return [queue, entries, in_use, size]


async def exposition(db: Any, fleet: Any) -> bytes:
    """The text format of every metric: this process's, then the figures of this scrape."""
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot([*process_figures(db, fleet), *await database_figures(db)]))
    return generate_latest(REGISTRY) + generate_latest(snapshot)


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus scrape target; with METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    state = request.app.state
    token = state.settings.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(given, token.get_secret_value().encode()):
            return Response(
                b"metrics need the METRICS_TOKEN bearer token\n", status_code=401, media_type="text/plain"
            )
    return Response(await exposition(state.db, state.fleet), media_type=CONTENT_TYPE_LATEST)
