"""The fleet's service: admissions, usage, and the caches that keep them fast, wired for one process or many.

Without REDIS_URL everything lives in this process (the embedded default: one process is exact).
With it, rate-limit buckets, reservations, credit holds and organization generations live in
Redis, so any number of replicas agree. While Redis is down, admissions are refused with 503
(`service_unavailable_error`, Retry-After) rather than admitted without the shared limits and
credit holds; usage reports are still committed and acknowledged (their settlement is made up for
by reloading the organizations).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

from app.db import Database
from app.domain.catalog.models import Catalog
from app.fleet.admission import Admissions, Answer, Settlement, error
from app.fleet.credit import credit_key
from app.fleet.deadlines import Deadlines
from app.fleet.directory import Directory, PlanLoader
from app.fleet.feed import ChangeFeed
from app.fleet.keys import load_keys
from app.fleet.ratelimit import LocalLimiter, RedisLimiter
from app.fleet.reservations import LocalReservations, RedisReservations
from app.fleet.tokens import Admission, AdmissionCodec
from app.fleet.usage import Burn, Committed, UsageItem, UsageWriter
from app.fleet.versions import note_organization
from app.periodic import every

logger = logging.getLogger(__name__)

LAPSE_SWEEP_SECONDS = 5.0
KEYS_READ_EVERY_SWEEPS = 6  # a rotation made elsewhere is taken up within 30 s (at once on an unknown id)
KEYS_REREAD_SECONDS = 1.0


class Fleet:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        *,
        load_plans: PlanLoader,
        burn: Burn,
        after_recharge_check: Any = None,
        redis: Any = None,
        admission_key: bytes | None = None,
        previous_keys: Sequence[bytes] = (),
        admission_ttl_seconds: float = 600,
        cache_max_age_seconds: float = 60,
        change_poll_seconds: float = 0.5,
        timeout_seconds: float = 5,
        rollup_seconds: float = 1.0,
    ) -> None:
        self._db = db
        # FLEET_TIMEOUT_SECONDS for every call, one timer per kind of call (not one per call)
        self.admission_deadlines = Deadlines(timeout_seconds)
        self.usage_deadlines = Deadlines(timeout_seconds)
        limiter = (
            RedisLimiter(redis, reservations_key=RedisReservations.KEY)
            if redis is not None
            else LocalLimiter()
        )

        async def billed(organization_ids: list[str]) -> list[int]:
            return await limiter.billed([credit_key(organization_id) for organization_id in organization_ids])

        self.directory = Directory(
            db.reader, load_plans, redis, billed=billed, max_age_seconds=cache_max_age_seconds
        )
        self.admissions = Admissions(
            directory=self.directory,
            limiter=limiter,
            reservations=RedisReservations(redis) if redis is not None else LocalReservations(),
            catalog=catalog,
            # until the database's key is read (fleet.keys), or the one FLEET_ADMISSION_KEY sets
            codec=AdmissionCodec(admission_key or secrets.token_bytes(32), previous_keys),
            ttl_seconds=admission_ttl_seconds,
            guarded=redis is not None,
        )
        self._keys_from_database = admission_key is None
        self._keys_read_at: float | None = None
        self.writer = UsageWriter(
            db, catalog, burn=burn, after_commit=self._after_commit, fold_seconds=rollup_seconds
        )
        self.feed = ChangeFeed(
            db, self.directory.forget, self.directory.forget_all, poll_seconds=change_poll_seconds
        )
        self._recharge_check = after_recharge_check
        self._recharges: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        db.commit_hooks.append(self.directory.changed)

    async def admit(self, api_key: str, model_id: str, input_tokens: int, max_output_tokens: int) -> Answer:
        """The admission's answer (see Admissions.admit), signed with the database's key."""
        if self._keys_read_at is None:
            await self._read_keys()
        return await self.admissions.admit(api_key, model_id, input_tokens, max_output_tokens)

    async def _read_keys(self, *, unless_within: float = 0.0) -> None:
        """Read the admission keys from the database (another replica may have rotated them)."""
        if not self._keys_from_database:
            self._keys_read_at = 0.0
            return
        now = time.monotonic()
        if self._keys_read_at is not None and now - self._keys_read_at < unless_within:
            return
        key, previous = await load_keys(self._db, self.admissions.ttl_seconds)
        self.admissions.codec.use(key, previous)
        self._keys_read_at = now

    async def record_usage(self, reports: Sequence[Any]) -> list[dict[str, Any]]:
        """Store usage reports; each result is accepted, duplicate, or an error for that record."""
        if self._keys_read_at is None:
            await self._read_keys()
        decode = self.admissions.codec.decode
        admissions = [decode(report.admission_id) for report in reports]
        if None in admissions and self._keys_from_database:
            # signed with a key this process has not read yet (rotated elsewhere): read again, at most every second
            await self._read_keys(unless_within=KEYS_REREAD_SECONDS)
            admissions = [
                admission or decode(report.admission_id)
                for admission, report in zip(admissions, reports, strict=True)
            ]
        results: list[dict[str, Any] | None] = [None] * len(reports)
        items: list[tuple[int, UsageItem]] = []
        for index, (report, admission) in enumerate(zip(reports, admissions, strict=True)):
            refusal = self._refusal(report, admission)
            if refusal is not None:
                results[index] = refusal.body
            else:
                assert admission is not None
                items.append((index, UsageItem(report.request_id, report.admission_id, admission,
                                               report.input_tokens, report.output_tokens)))  # fmt: skip
        await self.writer.submit([item for _, item in items])
        for index, item in items:
            results[index] = _outcome(item)
        return [result for result in results if result is not None]

    def _refusal(self, report: Any, admission: Admission | None) -> Answer | None:
        """Why a record is refused before it reaches the database, or None."""
        if admission is None:
            return error(
                400, "invalid_request_error", "invalid_admission", "Unknown admission id.", "admission_id"
            )
        if admission.model_id != report.model:
            return error(400, "invalid_request_error", "model_mismatch",
                         f"The admission was for '{admission.model_id}'.", "model")  # fmt: skip
        if not 0 < len(report.request_id) <= 100 or "\x00" in report.request_id:
            return error(400, "invalid_request_error", "invalid_request",
                         "request_id must be 1 to 100 characters, none of them NUL.", "request_id")  # fmt: skip
        model = self.admissions.catalog.model(admission.model_id)
        used = report.input_tokens + report.output_tokens
        if model is not None and model.context_tokens is not None and used > model.context_tokens:
            return error(400, "invalid_request_error", "implausible_tokens",
                         f"{used:,} tokens do not fit in the context of '{model.id}' ({model.context_tokens:,}).",
                         "output_tokens")  # fmt: skip
        return None

    async def _after_commit(self, committed: Committed) -> None:
        try:
            await self.admissions.settle(
                [
                    Settlement(
                        item.admission_id,
                        item.admission,
                        item.input_tokens + item.output_tokens,
                        item.billed_nanos,
                    )  # fmt: skip
                    for item in committed.items
                ]
            )
        except Exception:  # noqa: BLE001  (Redis away: the records are committed, the counters missed them)
            logger.exception("settling a usage group failed; the organizations' entries are reloaded")
            await self._reload_everywhere({item.admission.organization_id for item in committed.items})
        if self._recharge_check is not None:
            for organization_id in committed.recharge:
                task = asyncio.create_task(
                    self._recharge_check(organization_id), name=f"auto-recharge {organization_id}"
                )
                self._recharges.add(task)
                task.add_done_callback(self._recharges.discard)

    async def _reload_everywhere(self, organization_ids: set[str]) -> None:
        """Bump the organizations' versions: every replica reloads their credit from the database."""
        try:
            async with self._db.transaction() as session:
                for organization_id in organization_ids:
                    note_organization(session.sync_session, organization_id)
        except Exception:  # noqa: BLE001  (the max age reloads them in the end)
            logger.exception("could not bump the versions of %s", sorted(organization_ids))

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="reservation-sweeper")
        self.writer.start()  # within a round, folds what a process that stopped left pending
        self.feed.start()
        self.directory.start()

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Drain: commit and answer the usage received, await recharges in flight, then stop."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        await self.writer.stop(grace_seconds)
        if self._recharges:
            done, pending = await asyncio.wait(set(self._recharges), timeout=grace_seconds)
            for task in pending:
                logger.error("auto-recharge %s still running at shutdown; cancelled", task.get_name())
                task.cancel()
        await self.feed.stop()
        await self.directory.stop()

    async def _sweep(self) -> None:
        rounds = itertools.count(1)

        async def sweep() -> None:
            keys_too = next(rounds) % KEYS_READ_EVERY_SWEEPS == 0
            released = await self.admissions.release_lapsed()
            if released:
                logger.info("released %d lapsed reservations", released)
            if keys_too:
                await self._read_keys()

        await asyncio.sleep(LAPSE_SWEEP_SECONDS)
        await every(LAPSE_SWEEP_SECONDS, sweep, "Reservation sweeps", logger)


def _outcome(item: UsageItem) -> dict[str, Any]:
    """A committed record's answer: its status, the tokens it used over its reservation, or its refusal."""
    if item.refusal is not None:
        code, message = item.refusal
        param = "admission_id" if code == "admission_already_used" else "request_id"
        return {
            "request_id": item.request_id,
            **error(400, "invalid_request_error", code, message, param).body,
        }
    outcome: dict[str, Any] = {"request_id": item.request_id, "status": item.status}
    if item.status == "accepted" and item.over_reservation:
        outcome["over_reservation_tokens"] = item.over_reservation
    return outcome


def build_fleet(db: Database, services: Any, settings: Any, redis: Any = None) -> Fleet:
    """The fleet service as the settings describe it."""
    from app.fleet.billing import burn, recharger
    from app.fleet.plans import plan_loader

    key = settings.fleet_admission_key.get_secret_value().encode() if settings.fleet_admission_key else None
    previous = settings.fleet_admission_previous_key
    return Fleet(
        db,
        services.catalog,
        load_plans=plan_loader(services.catalog),
        burn=burn,
        after_recharge_check=recharger(db, services.payments),
        redis=redis,
        admission_key=key,
        previous_keys=[previous.get_secret_value().encode()] if previous else [],
        admission_ttl_seconds=settings.admission_ttl_seconds,
        cache_max_age_seconds=settings.fleet_cache_max_age_seconds,
        change_poll_seconds=settings.fleet_change_poll_seconds,
        timeout_seconds=settings.fleet_timeout_seconds,
        rollup_seconds=settings.usage_rollup_seconds,
    )


def connect_redis(url: str) -> Any:
    """A Redis client whose pool makes callers wait rather than fail when all connections are busy."""
    from redis.asyncio import BlockingConnectionPool, Redis

    return Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=64, timeout=5))
