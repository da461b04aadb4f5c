"""The fleet's service: admissions, usage, and the caches that keep them fast, wired for one process or many.

Without REDIS_URL everything lives in this process (the embedded default: one process is exact).
With it, rate-limit buckets, reservations and organization generations live in Redis, so any
number of replicas agree.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from app.db import Database
from app.domain.catalog.models import Catalog
from app.fleet.admission import Admissions, Answer, Settlement, error
from app.fleet.directory import Directory, PlanLoader
from app.fleet.ratelimit import LocalLimiter, RedisLimiter
from app.fleet.reservations import LocalReservations, RedisReservations
from app.fleet.tokens import Admission, AdmissionCodec
from app.fleet.usage import Burn, Committed, UsageItem, UsageWriter

logger = logging.getLogger(__name__)

LAPSE_SWEEP_SECONDS = 5.0


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
        admission_ttl_seconds: float = 600,
    ) -> None:
        if redis is not None and admission_key is None:
            raise ValueError("several replicas need a shared FLEET_ADMISSION_KEY")
        self.directory = Directory(db.reader, load_plans, redis)
        self.admissions = Admissions(
            directory=self.directory,
            limiter=RedisLimiter(redis) if redis is not None else LocalLimiter(),
            reservations=RedisReservations(redis) if redis is not None else LocalReservations(),
            catalog=catalog,
            codec=AdmissionCodec(admission_key or secrets.token_bytes(32)),
            ttl_seconds=admission_ttl_seconds,
            guarded=redis is not None,
        )
        self.writer = UsageWriter(db, catalog, burn=burn, after_commit=self._after_commit)
        self._recharge_check = after_recharge_check
        self._sweeper: asyncio.Task[None] | None = None
        db.commit_hooks.append(self.directory.changed)

    async def record_usage(self, reports: Sequence[Any]) -> list[dict[str, Any]]:
        """Store usage reports; each result is accepted, duplicate, or an error for that record."""
        results: list[dict[str, Any] | None] = [None] * len(reports)
        items: list[tuple[int, UsageItem]] = []
        for index, report in enumerate(reports):
            admission = self.admissions.codec.decode(report.admission_id)
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
        await self.admissions.settle(
            [
                Settlement(item.admission_id, item.admission, item.input_tokens + item.output_tokens)
                for item in committed.items
            ]
        )
        if committed.recharge:
            self.directory.forget(committed.recharge)  # the balance moved a lot: reload the plan on next use
            if self._recharge_check is not None:
                for organization_id in committed.recharge:
                    asyncio.create_task(
                        self._recharge_check(organization_id), name=f"auto-recharge {organization_id}"
                    )

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="reservation-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        await self.writer.stop()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(LAPSE_SWEEP_SECONDS)
            try:
                released = await self.admissions.release_lapsed()
                if released:
                    logger.info("released %d lapsed reservations", released)
            except Exception:  # noqa: BLE001  (the next sweep tries again)
                logger.exception("reservation sweep failed")


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
    from app.fleet.billing import burn, plan_loader, recharger

    key = settings.fleet_admission_key.get_secret_value().encode() if settings.fleet_admission_key else None
    return Fleet(
        db,
        services.catalog,
        load_plans=plan_loader(services.catalog),
        burn=burn,
        after_recharge_check=recharger(db, services.payments),
        redis=redis,
        admission_key=key,
        admission_ttl_seconds=settings.admission_ttl_seconds,
    )


def connect_redis(url: str) -> Any:
    """A Redis client whose pool makes callers wait rather than fail when all connections are busy."""
    from redis.asyncio import BlockingConnectionPool, Redis

    return Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=64, timeout=5))
