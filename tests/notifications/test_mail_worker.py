"""The app runs the mail worker in the background: woken by a commit that queued mail, or by its poll.

The app's lifespan runs in the test's own event loop (asyncpg ties connections to their loop), as
a server would run it: ``app.lifespan()`` calls the on_startup and on_shutdown hooks.
"""

from __future__ import annotations

import asyncio

import httpx

from app.asgi import create_app
from app.db import Database
from app.domain.notifications.models import OutboxMessage
from app.settings import Settings
from tests.invitations.support import INVITE
from tests.mail_server import SmtpServer
from tests.support import World


async def received(smtp_server: SmtpServer, count: int, within: float = 5.0) -> bool:
    """Whether the server has `count` messages within `within` seconds (real time: a real worker runs)."""
    for _ in range(int(within / 0.02)):
        if len(smtp_server.inbox.messages) >= count:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_the_worker_sends_an_invitation_right_after_the_request_commits(
    database: Database, smtp_settings: Settings, smtp_server: SmtpServer, world: World
) -> None:
    # a poll every 5 minutes: only the wake-up after the commit can deliver within the test
    settings = smtp_settings.model_copy(update={"mail_worker": True, "mail_poll_seconds": 300})
    app = create_app(settings, database=database)
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        response = await client.post(
            "http://testserver/graphql",
            json={
                "query": INVITE,
                "variables": {
                    "input": {
                        "organizationId": world.gid("Organization", world.acme_id),
                        "emails": ["ann@example.com"],
                        "role": "ORGANIZATION_ADMIN",
                    }
                },
            },
            headers={"Authorization": f"Bearer {world.token('admin')}"},
        )
        assert response.json()["data"]["inviteMembers"]["invitedCount"] == 1
        assert await received(smtp_server, 1)
    assert smtp_server.inbox.to("ann@example.com")
    assert not app.state.mail_worker.running  # stopped with the app


async def test_the_worker_finds_mail_without_a_wake_up(
    database: Database, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    settings = smtp_settings.model_copy(update={"mail_worker": True, "mail_poll_seconds": 0.05})
    app = create_app(settings, database=database)
    async with app.lifespan():
        # written as another replica would: nothing in this process is poked
        async with database.transaction() as session:
            session.add(OutboxMessage(to_address="bob@example.com", subject="Hi", body_text="Hello Bob"))
        assert await received(smtp_server, 1)


async def test_the_worker_stays_off_when_told(database: Database, settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"mail_worker": False}), database=database)
    async with app.lifespan():
        assert not app.state.mail_worker.running
