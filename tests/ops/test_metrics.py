"""/metrics after a scripted day: each figure at its expected value; the token; metrics off."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from app import clock
from app.asgi import create_app
from app.db import Database
from app.domain.billing.models import Charge, ChargePurpose
from app.domain.credits.auto_recharge import auto_recharge_config, configure_auto_recharge
from app.domain.notifications.models import OutboxMessage, OutboxState
from app.domain.usage.pending import fold_all, leave_for_rollups
from app.jobs import run_job
from app.observability import metrics
from app.payments.facade import Payments
from app.services import Services
from app.settings import Settings
from tests.credits.support import admin, card
from tests.fleet.conftest import Fleet, buy_credits, new_key
from tests.support import GraphQL, World

Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient, **headers: str) -> Figures:
    answer = await client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def figure(figures: Figures, name: str, **labels: str) -> float:
    return figures.get((name, frozenset(labels.items())), 0.0)


def delta(before: Figures, after: Figures, name: str, **labels: str) -> float:
    return figure(after, name, **labels) - figure(before, name, **labels)


async def test_a_scripted_day_shows_in_the_metrics(
    client: httpx.AsyncClient,
    gql: GraphQL,
    world: World,
    database: Database,
    payments: Payments,
    services: Services,
    settings: Settings,
) -> None:
    fleet = Fleet(client)
    before = await scrape(client)

    # a purchase, then the fleet's traffic: three admitted, three refused, usage accepted, repeated, rejected
    await buy_credits(database, payments, settings, world, "100.00")
    key = await new_key(gql, world.token("admin") or "", world.gid("Project", world.project_a_id))
    ran = await fleet.run(key, output_tokens=150)  # 50 tokens over the 200 its admission reserved
    assert ran["result"] == {
        "request_id": ran["record"]["request_id"],
        "status": "accepted",
        "over_reservation_tokens": 50,
    }
    assert (await fleet.report([ran["record"]])).json()["results"][0]["status"] == "duplicate"
    assert (await fleet.admit(key)).status_code == 200
    assert (await fleet.admit(key)).status_code == 200
    assert (await fleet.admit("csk-unknown")).status_code == 401
    assert (await fleet.admit(key, model="no-such-model")).status_code == 404
    assert (await fleet.admit(key, input_tokens=131_000)).status_code == 400  # over the model's context
    limited = await gql(
        'mutation($p: ID!) { setProjectRateLimit(input: {projectId: $p, model: "gpt-oss-120b", tokensPerMinute: 1000}) '
        "{ __typename } }",
        {"p": world.gid("Project", world.project_a_id)}, token=world.token("admin"),
    )  # fmt: skip
    assert limited["setProjectRateLimit"]["__typename"] == "ProjectRateLimitPayload"
    assert (
        await fleet.admit(key, input_tokens=2_000)
    ).status_code == 429  # over the project's 1,000 TPM alone
    forged = {**ran["record"], "request_id": "forged", "admission_id": "not-an-admission"}
    assert (await fleet.report([forged])).json()["results"][0]["code"] == "invalid_admission"

    # a failed auto-recharge: the card declines when enabling it below the threshold charges at once
    await card(database, payments, world.acme_id, "pm_card_chargeDeclined")
    config = auto_recharge_config(threshold="200", recharge_to="300", monthly_cap=None, settings=settings)
    await configure_auto_recharge(
        database, admin(world), world.acme_id, config, payments=payments, settings=settings
    )

    # a charge stuck pending for two hours, and a job run
    async with database.transaction() as session:
        session.add(
            Charge(organization_id=world.acme_id, purpose=ChargePurpose.PURCHASE, amount_cents=1000,
                   description="stuck", idempotency_key="stuck-1", created_at=clock.now() - timedelta(hours=2))
        )  # fmt: skip
    await run_job("credits-low-balance", database, services)

    after = await scrape(client)
    assert delta(before, after, "billing_fleet_admissions_total", outcome="admitted", plan="paygo") == 3
    assert delta(before, after, "billing_fleet_admissions_total", outcome="invalid_api_key", plan="") == 1
    assert delta(before, after, "billing_fleet_admissions_total", outcome="model_not_found", plan="") == 1
    assert (
        delta(before, after, "billing_fleet_admissions_total", outcome="token_quota_exceeded", plan="") == 1
    )
    assert (
        delta(before, after, "billing_fleet_admissions_total", outcome="context_length_exceeded", plan="")
        == 1
    )
    assert delta(before, after, "billing_fleet_admission_seconds_count") == 7
    assert (
        delta(before, after, "billing_fleet_rate_limit_refusals_total", level="project", kind="tokens", window="minute")
        == 1
    )  # fmt: skip
    assert delta(before, after, "billing_fleet_usage_records_total", status="accepted") == 1
    assert delta(before, after, "billing_fleet_usage_records_total", status="duplicate") == 1
    assert delta(before, after, "billing_fleet_usage_records_total", status="rejected") == 1
    assert delta(before, after, "billing_fleet_usage_over_reservation_tokens_total") == 50
    assert delta(before, after, "billing_fleet_usage_commit_seconds_count") == 2
    assert figure(after, "billing_fleet_usage_queue_depth") == 0
    assert figure(after, "billing_fleet_cache_entries", cache="key") == 2  # the key, and the unknown one
    reloads = delta(before, after, "billing_fleet_cache_lookups_total", cache="key", result="reload")
    hits = delta(before, after, "billing_fleet_cache_lookups_total", cache="key", result="hit")
    # the project's new limit drops Acme's key: read again in the background, before the next admission or not
    assert (reloads, hits) in ((2, 5), (3, 4))
    assert delta(before, after, "billing_fleet_cache_invalidations_total") >= 1  # the purchase changed Acme

    assert figure(after, "billing_charges", purpose="PURCHASE", status="SUCCEEDED") == 1
    assert figure(after, "billing_charges", purpose="PURCHASE", status="PENDING") == 1
    assert figure(after, "billing_charges", purpose="AUTO_RECHARGE", status="DECLINED") == 1
    assert figure(after, "billing_charge_oldest_pending_age_seconds") == pytest.approx(7200, abs=60)
    assert figure(after, "billing_auto_recharge_attempts", outcome="FAILED") == 1
    async with database.reader() as session:
        queued = await session.scalar(
            select(func.count()).where(OutboxMessage.state == OutboxState.QUEUED)  # type: ignore[arg-type]
        )
    assert queued and figure(after, "billing_outbox_messages", state="QUEUED") == queued  # the admins told
    assert delta(before, after, "billing_job_runs_total", job="credits-low-balance", outcome="ok") == 1
    assert delta(before, after, "billing_job_duration_seconds_count", job="credits-low-balance") == 1
    assert ("billing_db_pool_connections_in_use", frozenset({("engine", "write")})) in after
    assert figure(after, "process_cpu_seconds_total") > 0


MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def app_with(settings: Settings, database: Database, services: Services) -> AsyncIterator[MakeClient]:
    """An app over HTTP with some settings changed."""
    clients: list[httpx.AsyncClient] = []

    async def make(**changes: object) -> httpx.AsyncClient:
        app = create_app(settings.model_copy(update=changes), database=database, services=services)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
    metrics.configure(enabled=True)  # the process's switch, as the other tests expect it


async def test_a_metrics_token_is_required_when_set(app_with: MakeClient) -> None:
    from pydantic import SecretStr

    client = await app_with(metrics_token=SecretStr("scrape-secret"))
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    figures = await scrape(client, Authorization="Bearer scrape-secret")
    assert figure(figures, "billing_charge_oldest_pending_age_seconds") == 0


async def test_metrics_off_serves_nothing_and_counts_nothing(app_with: MakeClient, world: World) -> None:
    client = await app_with(metrics_enabled=False)
    assert (await client.get("/metrics")).status_code == 404
    before = await scrape(await app_with(metrics_enabled=True))
    client = await app_with(metrics_enabled=False)
    assert (await Fleet(client).admit("csk-unknown")).status_code == 401
    after = await scrape(await app_with(metrics_enabled=True))
    assert delta(before, after, "billing_fleet_admissions_total", outcome="invalid_api_key", plan="") == 0


async def test_the_usage_not_yet_in_the_graphs_shows_in_the_metrics(database: Database, world: World) -> None:
    """A group's sums wait for the fold: an operator sees the backlog, which a fold empties."""

    def unfolded(families: list[Any]) -> float:
        (family,) = [f for f in families if f.name == "billing_usage_rollup_pending_groups"]
        return float(family.samples[0].value)

    async with database.transaction() as session:
        for minute in (100, 101):
            await leave_for_rollups(
                session, {(world.acme_id, world.project_a_id, world.key_a_id, "m"): [1, 2, 3, 4, 5]}, minute
            )
    assert unfolded(await metrics.database_figures(database)) == 2
    assert await fold_all(database) == 2
    assert unfolded(await metrics.database_figures(database)) == 0
