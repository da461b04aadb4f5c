"""The operator's commands, run as an operator runs them (`python -m app.cli …`) on the test database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import delete, func, select, update

from app.db import Database
from app.domain.billing.models import Charge, ChargePurpose
from app.domain.credits.auto_recharge import auto_recharge_config, configure_auto_recharge
from app.domain.credits.models import CreditAccount, CreditLedgerEntry
from app.domain.notifications.mailer import deliver_due
from app.domain.notifications.models import OutboxMessage, OutboxState
from app.domain.usage.models import UsageDay, UsageRollupPending
from app.payments.facade import Payments
from app.settings import REPO_ROOT, Settings
from tests.credits.support import admin, burn, buy, card
from tests.fleet.conftest import Fleet, new_key
from tests.invitations.support import invite_one
from tests.support import GraphQL, World


async def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in its own process, configured by the environment as in production."""
    env = {**os.environ, "DATABASE_URL": database_url}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_check_ledger_passes_after_the_money_flows_and_names_a_tampered_organization(
    client: httpx.AsyncClient,
    gql: GraphQL,
    world: World,
    database: Database,
    database_url: str,
    payments: Payments,
    settings: Settings,
) -> None:
    await card(database, payments, world.acme_id)
    await buy(database, payments, world, settings, "50.00")
    key = await new_key(gql, world.token("admin") or "", world.gid("Project", world.project_a_id))
    for _ in range(3):
        await Fleet(client).run(key, input_tokens=31_072, output_tokens=100_000, max_output_tokens=100_000)
    await burn(database, world.acme_id, 60 * 10**9)  # into debt
    config = auto_recharge_config(threshold="5", recharge_to="20", monthly_cap=None, settings=settings)
    await configure_auto_recharge(
        database, admin(world), world.acme_id, config, payments=payments, settings=settings
    )

    passed = await cli(database_url, "check-ledger")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "consistent" in passed.stdout

    async with database.transaction() as session:
        entry = await session.scalar(
            select(CreditLedgerEntry).where(CreditLedgerEntry.organization_id == world.acme_id).limit(1)  # type: ignore[arg-type]
        )
        assert entry is not None
        entry.amount_nanos += 1
    failed = await cli(database_url, "check-ledger")
    assert failed.returncode == 1
    assert f"organization {world.acme_id}: balance" in failed.stdout
    assert "inconsistent" in failed.stderr


async def test_the_outbox_is_read_with_its_links_and_resent(
    gql: GraphQL, world: World, database: Database, database_url: str, settings: Settings
) -> None:
    invitation = await invite_one(gql, world, "guest@example.com")
    async with database.reader() as session:
        message = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.to_address == "guest@example.com")
        )  # type: ignore[arg-type]
    assert message is not None and invitation["email"] == "guest@example.com"

    listed = await cli(database_url, "outbox", "list", "--state", "queued")
    assert listed.returncode == 0 and message.id in listed.stdout and "guest@example.com" in listed.stdout
    shown = await cli(database_url, "outbox", "show", message.id)
    assert shown.returncode == 0, shown.stderr
    link = next(line for line in shown.stdout.splitlines() if "/invitations/accept?token=" in line)
    token = link.rsplit("=", 1)[1]
    assert len(token) >= 40 and "[secret" not in link
    async with database.reader() as session:
        stored = (await session.execute(select(OutboxMessage.body_text, OutboxMessage.secrets))).all()
    assert token not in str(stored)  # shown to the operator, not stored in clear

    refused = await cli(database_url, "outbox", "resend", message.id)
    assert refused.returncode == 1 and "queued already" in refused.stderr
    await deliver_due(database, settings)  # no SMTP: logged, the sealed copy kept
    resent = await cli(database_url, "outbox", "resend", message.id)
    assert resent.returncode == 0, resent.stderr
    async with database.reader() as session:
        again = await session.get(OutboxMessage, message.id)
    assert again is not None and (again.state, again.attempts) == (OutboxState.QUEUED, 0)
    unknown = await cli(database_url, "outbox", "show", "mail_nope")
    assert unknown.returncode == 1 and "No outbox message" in unknown.stderr


async def test_charges_pending_too_long_and_recharges_in_flight_are_listed(
    world: World, database: Database, database_url: str
) -> None:
    now = datetime.now(UTC)  # the command runs on the real clock
    async with database.transaction() as session:
        for key, age in (("stuck-old", timedelta(hours=3)), ("stuck-new", timedelta(minutes=5))):
            session.add(
                Charge(organization_id=world.acme_id, purpose=ChargePurpose.AUTO_RECHARGE, amount_cents=2000,
                       description=key, idempotency_key=key, created_at=now - age)
            )  # fmt: skip
        session.add(CreditAccount(organization_id=world.acme_id))
    async with database.transaction() as session:
        await session.execute(
            update(CreditAccount)
            .where(CreditAccount.organization_id == world.acme_id)  # type: ignore[arg-type]
            .values(auto_recharge_in_flight=True, updated_at=now - timedelta(minutes=30))
        )

    old = await cli(database_url, "pending-charges", "--older-than", "1h")
    assert old.returncode == 0 and "stuck-old" in old.stdout and "stuck-new" not in old.stdout
    assert "pending for 3h" in old.stdout and "1 charge(s)" in old.stderr
    both = await cli(database_url, "pending-charges", "--older-than", "1m")
    assert "stuck-old" in both.stdout and "stuck-new" in both.stdout
    bad = await cli(database_url, "pending-charges", "--older-than", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr

    flight = await cli(database_url, "recharges-in-flight", "--older-than", "10m")
    assert flight.returncode == 0 and f"org={world.acme_id} in flight for 30m" in flight.stdout
    assert "no charge made yet" in flight.stdout
    assert world.acme_id not in (await cli(database_url, "recharges-in-flight", "--older-than", "1h")).stdout


async def test_usage_left_unfolded_is_listed_and_folded_on_demand(
    world: World, database: Database, database_url: str
) -> None:
    minute = int(datetime.now(UTC).timestamp()) // 60  # the command runs on the real clock
    sums = f'[["{world.acme_id}", "{world.project_a_id}", "key_x", "gpt-oss-120b", 1, 10, 20, 30, 30]]'
    async with database.transaction() as session:
        session.add_all([UsageRollupPending(minute=minute - 10, deltas=sums),
                         UsageRollupPending(minute=minute - 9, deltas='[["cut short"'),
                         UsageRollupPending(minute=minute, deltas=sums)])  # fmt: skip

    listed = await cli(database_url, "pending-usage", "--older-than", "5m")
    lines = listed.stdout.splitlines()
    assert listed.returncode == 1 and len(lines) == 2 and "2 usage group(s)" in listed.stderr, listed
    assert "pending for 10m" in lines[0] and lines[0].endswith(": 1 sums")
    assert "pending for 9m" in lines[1] and "unreadable sums" in lines[1]

    oldest = await cli(database_url, "pending-usage", "--older-than", "5m", "--limit", "1")
    assert len(oldest.stdout.splitlines()) == 1 and "the oldest 1 usage group(s)" in oldest.stderr
    for bad in ("-1", "0", "many"):  # refused before anything runs, not a database's error
        refused = await cli(database_url, "pending-usage", "--limit", bad)
        assert refused.returncode == 2 and "not a count" in refused.stderr, refused

    folded = await cli(database_url, "pending-usage", "--fold", "--older-than", "0s")
    assert folded.returncode == 1 and "Folded 2 group(s)" in folded.stderr, folded
    assert "cannot be folded" in folded.stderr  # the log says why
    (left,) = folded.stdout.splitlines()
    assert "unreadable sums" in left and "could not fold it" in left
    async with database.reader() as session:
        assert await session.scalar(select(func.sum(UsageDay.requests))) == 2

    async with database.transaction() as session:  # the operator mends it (here: drops it)
        await session.execute(delete(UsageRollupPending))
    mended = await cli(database_url, "pending-usage", "--older-than", "0s")
    assert mended.returncode == 0 and mended.stdout == "" and "0 usage group(s)" in mended.stderr


async def test_every_operator_command_is_in_the_help() -> None:
    shown = await cli("sqlite+aiosqlite:///:memory:", "--help")
    for command in (
        "outbox", "check-ledger", "pending-charges", "pending-usage", "recharges-in-flight", "replay-webhook"
    ):  # fmt: skip
        assert command in shown.stdout
