"""May this API key run this request now? The admission decision, from memory and one limiter call."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from app import clock
from app.domain.catalog.models import Catalog, RateLimits
from app.domain.durations import in_words
from app.domain.plans.service import payment_required_message
from app.fleet.credit import credit_key, micros_of, worst_case_micros
from app.fleet.directory import Directory, ModelPlan, OrgState
from app.fleet.ratelimit import (
    WINDOWS,
    Bucket,
    Claim,
    CreditHold,
    Decision,
    Guard,
    Limiter,
    Reservation,
    reset_seconds,
)
from app.fleet.reservations import Reservations
from app.fleet.tokens import Admission, AdmissionCodec, new_nonce
from app.observability import metrics

MAX_TOKENS_PER_REQUEST = 10_000_000

# (kind, window, RateLimits attribute)
_LIMITS = (
    ("requests", "minute", "requests_per_minute"),
    ("tokens", "minute", "tokens_per_minute"),
    ("requests", "hour", "requests_per_hour"),
    ("tokens", "hour", "tokens_per_hour"),
    ("requests", "day", "requests_per_day"),
    ("tokens", "day", "tokens_per_day"),
)
# the provider-style headers of a (kind, window); hourly limits have none
_HEADER_NAMES = {
    (kind, window): (
        f"x-ratelimit-limit-{kind}-{window}",
        f"x-ratelimit-remaining-{kind}-{window}",
        f"x-ratelimit-reset-{kind}-{window}",
    )
    for kind, window, _ in _LIMITS
    if window != "hour"
}
_ABBREVIATION = {("requests", "minute"): "RPM", ("tokens", "minute"): "TPM", ("requests", "hour"): "RPH",
                 ("tokens", "hour"): "TPH", ("requests", "day"): "RPD", ("tokens", "day"): "TPD"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Limit:
    """One bucket of an admission, with what the refusal message needs to say about it."""

    bucket: Bucket
    kind: str  # requests | tokens
    window: str  # minute | hour | day
    level: str  # organization | project

    @property
    def header_names(self) -> tuple[str, str, str] | None:
        """x-ratelimit-{limit,remaining,reset}-<kind>-<window>; None for hourly limits, which have none."""
        return _HEADER_NAMES.get((self.kind, self.window))

    def cost(self, tokens: int) -> int:
        """What a request reserving `tokens` takes from this bucket."""
        return 1 if self.kind == "requests" else tokens


class Settlement(NamedTuple):
    """A reservation to settle: the admission, the tokens its request used and what they billed."""

    admission_id: str
    admission: Admission
    used_tokens: int
    billed_nanos: int = 0


@dataclass(slots=True)
class Answer:
    """The admission's outcome as the HTTP layer sends it."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error(
    status: int, type_: str, code: str, message: str, param: str | None = None, **headers: str
) -> Answer:
    return Answer(status, {"message": message, "type": type_, "param": param, "code": code}, dict(headers))


def organization_prefix(organization_id: str, model_id: str) -> str:
    """Bucket keys of an organization's limits for a model (its id as the Redis Cluster hash tag)."""
    return f"o:{{{organization_id}}}:{model_id}"


def _level_limits(prefix: str, limits: Any, level: str) -> list[Limit]:
    """One bucket per window that `limits` (RateLimits or a project's row) sets."""
    if limits is None:
        return []
    return [
        Limit(Bucket(f"{prefix}:{kind}:{window}", capacity, WINDOWS[window]), kind, window, level)
        for kind, window, attribute in _LIMITS
        if (capacity := getattr(limits, attribute, None)) is not None
    ]


class Admissions:
    """Decides admissions and settles their reservations."""

    def __init__(
        self,
        *,
        directory: Directory,
        limiter: Limiter,
        reservations: Reservations,
        catalog: Catalog,
        codec: AdmissionCodec,
        ttl_seconds: float,
        guarded: bool,
    ) -> None:
        self.directory = directory
        self.limiter = limiter
        self.reservations = reservations
        self.catalog = catalog
        self.codec = codec
        self.ttl_seconds = ttl_seconds
        self.guarded = guarded  # several replicas: check the organization's generation in the limiter call

    async def admit(self, api_key: str, model_id: str, input_tokens: int, max_output_tokens: int) -> Answer:
        """The answer for one request: 200 with an admission id, or 400 (over the model's context) / 401 / 402 / 404 / 429."""
        model = self.catalog.model(model_id)
        tokens = input_tokens + max_output_tokens
        for _ in range(2):  # a second round after a stale organization entry was forgotten
            entry = await self.directory.key(api_key)
            if entry is None or not entry.usable:
                return error(
                    401, "authentication_error", "invalid_api_key",
                    "The API key is unknown or revoked (or its project is archived). Create a key in the console.",
                    "api_key",
                )  # fmt: skip
            if model is None or model.is_deprecated(clock.now()):
                reason = "does not exist" if model is None else f"was deprecated on {model.deprecation_date}"
                return error(
                    404, "not_found_error", "model_not_found", f"The model '{model_id}' {reason}.", "model"
                )
            if model.context_tokens is not None and tokens > model.context_tokens:
                return error(
                    400, "invalid_request_error", "context_length_exceeded",
                    f"{input_tokens:,} input tokens plus max_output_tokens {max_output_tokens:,} do not fit in the "
                    f"context of '{model_id}' ({model.context_tokens:,} tokens). Shorten the prompt or lower "
                    "max_output_tokens.",
                    "max_output_tokens",
                )  # fmt: skip
            state = await self.directory.organization(entry.organization_id)
            if state is None:
                return error(
                    401, "authentication_error", "invalid_api_key", "The API key's organization is gone."
                )
            plan = state.plans.get(model_id, ModelPlan("none", None))
            if plan.kind == "none":
                if self.guarded and not await self.directory.is_current(state):
                    self.directory.forget({state.organization_id})
                    continue
                return self._payment_required(state, model_id)
            buckets, limits = self._limits(state, plan, entry.project_id, model_id)
            costs = [limit.cost(tokens) for limit in limits]
            guard = (
                Guard(Directory.generation_key(state.organization_id), state.generation)
                if self.guarded
                else None
            )
            hold = 0
            credit = None
            if plan.kind == "paygo":
                assert model is not None
                hold = worst_case_micros(model, input_tokens, max_output_tokens)
                credit = CreditHold(credit_key(state.organization_id), state.credit_floor, hold)
            # the admission is made up front, so that the limiter can record its reservation in the same step
            admission = Admission(
                state.organization_id, entry.project_id, entry.api_key_id, model_id, plan.kind,
                tokens, int(time.time()), new_nonce(), hold,
            )  # fmt: skip
            admission_id = self.codec.encode(admission)
            reservation = Reservation(admission_id, time.time() + self.ttl_seconds)
            decision = await self.limiter.acquire(buckets, costs, guard, credit, reservation)
            if decision.stale:
                self.directory.forget({state.organization_id})
                continue
            if decision.credit_left is not None:
                return self._credit_short(state, model_id, hold, decision.credit_left)
            headers = self._headers(limits, decision)
            if not decision.allowed:
                return self._too_many(state, model_id, plan.kind, limits, costs, decision, headers)
            if not decision.reserved:
                await self.reservations.hold(admission_id, self.ttl_seconds)
            body = {
                "allowed": True,
                "admission_id": admission_id,
                "plan": plan.kind,
                "organization_id": state.organization_id,
                "project_id": entry.project_id,
                "reserved_tokens": admission.reserved_tokens,
            }
            return Answer(200, body, headers)
        return error(
            503, "service_unavailable_error", "retry", "The organization's state keeps changing; retry."
        )

    @staticmethod
    def _limits(
        state: OrgState, plan: ModelPlan, project_id: str, model_id: str
    ) -> tuple[tuple[Bucket, ...], list[Limit]]:
        """The buckets an admission takes from: the organization's for the model, then the project's.

        Kept in the organization's entry: they change only with what the entry was loaded from.
        """
        cached = state.limits.get((project_id, model_id))
        if cached is None:
            limits = _level_limits(
                organization_prefix(state.organization_id, model_id), plan.limits, "organization"
            )
            project = state.project_limits.get((project_id, model_id))
            prefix = f"p:{{{state.organization_id}}}:{project_id}:{model_id}"
            limits += _level_limits(prefix, project, "project")
            # a tuple: the limiter may keep what it derives from it by its identity
            cached = state.limits[(project_id, model_id)] = (tuple(limit.bucket for limit in limits), limits)
        return cached

    @staticmethod
    def _headers(limits: list[Limit], decision: Decision) -> dict[str, str]:
        """x-ratelimit-{limit,remaining,reset}-{requests,tokens}-{minute,day}: the tighter of org and project."""
        tightest: dict[tuple[str, str, str], tuple[Bucket, float]] = {}
        for limit, level in zip(limits, decision.levels, strict=False):  # a stale decision has no levels
            names = limit.header_names
            if names is not None and (names not in tightest or level < tightest[names][1]):
                tightest[names] = (limit.bucket, level)
        headers = {}
        for (limit_name, remaining_name, reset_name), (bucket, level) in tightest.items():
            headers[limit_name] = str(bucket.capacity)
            headers[remaining_name] = str(max(0, math.floor(level)))
            headers[reset_name] = str(reset_seconds(bucket, level))
        return headers

    @staticmethod
    def _payment_required(state: OrgState, model_id: str) -> Answer:
        message = payment_required_message(state.name, state.organization_id, model_id)
        return error(402, "payment_required_error", "payment_required", message)

    @staticmethod
    def _credit_short(state: OrgState, model_id: str, hold: int, left: int) -> Answer:
        return error(
            402, "payment_required_error", "payment_required",
            f"The organization '{state.name}' ({state.organization_id}), which this API key belongs to, has "
            f"${max(0, left) / 1e6:.6f} of credit not already held by requests in flight, and this request to "
            f"'{model_id}' may cost up to ${hold / 1e6:.6f}. Lower max_output_tokens, wait for requests in "
            "flight to finish, or add credits in the console.",
        )  # fmt: skip

    @staticmethod
    def _too_many(
        state: OrgState,
        model_id: str,
        plan_kind: str,
        limits: list[Limit],
        costs: list[int],
        decision: Decision,
        headers: dict[str, str],
    ) -> Answer:
        assert decision.refused is not None
        limit, cost = limits[decision.refused], costs[decision.refused]
        metrics.rate_limited(limit.level, limit.kind, limit.window)
        name = _ABBREVIATION[(limit.kind, limit.window)]
        owner = "the project" if limit.level == "project" else f"the organization '{state.name}'"
        if limit.level == "project":
            fix = "An Organization Admin can raise the project's limit."
        elif plan_kind == "free":  # a Personal organization cannot buy credits or subscribe
            fix = "These are the free tier's limits; for more, use a Team organization with credits or a subscription."
        else:
            fix = "Subscribe to a higher tier, or contact support for custom rate limits."
        if math.isinf(decision.retry_after):
            message = (
                f"This request alone ({cost} {limit.kind}) exceeds the {name} limit of "
                f"{limit.bucket.capacity} of {owner} for '{model_id}'. Lower max_tokens. {fix}"
            )
            retry_after = limit.bucket.window
        else:
            retry_after = max(1, math.ceil(decision.retry_after))
            message = (
                f"Rate limit reached: {name} ({limit.kind} per {limit.window}) of {owner} for '{model_id}' is "
                f"{limit.bucket.capacity}. Retry after {in_words(retry_after)}. {fix}"
            )
        code = "request_quota_exceeded" if limit.kind == "requests" else "token_quota_exceeded"
        answer = error(429, "too_many_requests_error", code, message, **headers)
        answer.headers["retry-after"] = str(retry_after)
        return answer

    async def usage_now(
        self, organization_id: str, model_id: str, limits: RateLimits
    ) -> list[tuple[Limit, float]]:
        """The organization's buckets for a model and what each holds now (nothing is taken)."""
        buckets = _level_limits(organization_prefix(organization_id, model_id), limits, "organization")
        levels = await self.limiter.peek([limit.bucket for limit in buckets])
        return list(zip(buckets, levels, strict=True))

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        """Give back what admissions reserved and their requests did not use, once per admission.

        One limiter call for a whole usage group, however many records and organizations (with
        Redis: one round trip): each reservation is claimed and, if this call wins it, its unused
        tokens and its credit hold go back in the same step. A hold whose reservation lapsed was
        released by the sweep; the price counts all the same.
        """
        states = await self.directory.organizations(
            {s.admission.organization_id for s in settlements if s.admission.reserved_tokens != s.used_tokens}
        )
        buckets: dict[tuple[str, str, str], tuple[Bucket, ...]] = {}  # the same for each of a model's records

        def claim(s: Settlement) -> Claim:
            admission = s.admission
            where = admission.organization_id, admission.project_id, admission.model_id
            taken = buckets.get(where)
            if taken is None:
                taken = buckets[where] = self._token_buckets(states, admission)
            return Claim(s.admission_id, credit_key(admission.organization_id), taken,
                         admission.reserved_tokens - s.used_tokens, admission.held_micros, micros_of(s.billed_nanos))  # fmt: skip

        claims = list(map(claim, settlements))
        await self.limiter.settle(claims, self.reservations)

    async def release_lapsed(self, batch: int = 1000) -> int:
        """Give back every reservation whose usage never came, `batch` at a time; returns how many."""
        released = 0
        while True:
            lapsed = await self.reservations.lapsed(batch)
            admissions = [admission for admission in map(self.codec.decode, lapsed) if admission is not None]
            await self._give_back([(a, a.reserved_tokens, a.held_micros, 0) for a in admissions])
            released += len(lapsed)
            if len(lapsed) < batch:
                return released

    def _token_buckets(self, states: Mapping[str, OrgState], admission: Admission) -> tuple[Bucket, ...]:
        """The token buckets the admission took from (none if its organization's entry is not in `states`)."""
        state = states.get(admission.organization_id)
        if state is None:
            return ()
        plan = state.plans.get(admission.model_id, ModelPlan("none", None))
        limits = self._limits(state, plan, admission.project_id, admission.model_id)[1]
        return tuple(limit.bucket for limit in limits if limit.kind == "tokens")

    async def _give_back(self, changes: Sequence[tuple[Admission, int, int, int]]) -> None:
        """Settle (admission, unused tokens, held micro-dollars, billed nanos) in one limiter call.

        The unused tokens go back into the token buckets they were taken from; tokens used beyond the
        reservation come as a negative figure: they are taken from the buckets then, so what the fleet
        ran over its reservation still counts against the limits. Holds are released and prices
        counted per organization's credit key. The organizations' entries are looked up together.
        """
        states = await self.directory.organizations(
            {admission.organization_id for admission, tokens, _, _ in changes if tokens}
        )
        per_bucket: dict[Bucket, int] = defaultdict(int)
        per_credit: dict[str, tuple[int, int]] = {}
        for admission, tokens, held, billed_nanos in changes:
            if tokens:
                for bucket in self._token_buckets(states, admission):
                    per_bucket[bucket] += tokens
            if held or billed_nanos:
                key = credit_key(admission.organization_id)
                before = per_credit.get(key, (0, 0))
                per_credit[key] = (before[0] + held, before[1] + micros_of(billed_nanos))
        await self.limiter.give_back(per_bucket, per_credit)
