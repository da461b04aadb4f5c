"""Demo data for a first run: a Team organization "Acme" with an admin, a project, an API key and $25 of
promotional credits, so that the fleet's API admits the key's requests at once."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.accounts.models import User
from app.domain.accounts.service import create_user
from app.domain.actor import Actor
from app.domain.api_keys.service import create_api_key
from app.domain.credits.purchases import grant_promotional_credits
from app.domain.orgs.models import OrganizationType
from app.domain.orgs.service import create_organization
from app.domain.projects.service import create_project
from app.settings import Settings

DEMO_EMAIL = "admin@acme.example"
DEMO_PASSWORD = "acme-demo-password"
DEMO_CREDITS = "25.00"
# the platform staff member who grants the demo credits (no one signs in as them: the password is random)
DEMO_SUPPORT_EMAIL = "support@demo.example"


async def seed_demo(settings: Settings) -> list[str]:
    """Create the demo data once; returns the lines to print (the key's secret only the first time)."""
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            if await session.scalar(select(col(User.id)).where(col(User.email_normalized) == DEMO_EMAIL)):
                return [
                    f"Demo admin: {DEMO_EMAIL} / {DEMO_PASSWORD} (organization Acme).",
                    "The demo API key's secret was printed when it was created; make a new one with createApiKey.",
                ]
            admin = await create_user(
                session, email=DEMO_EMAIL, password=DEMO_PASSWORD, name="Acme Admin", settings=settings
            )
            organization = await create_organization(
                session, owner=admin, name="Acme", type=OrganizationType.TEAM
            )
            actor = Actor(user_id=admin.id)
            project = await create_project(session, actor, organization.id, name="Chatbot")
            created = await create_api_key(session, actor, project.id, name="demo key")
            support = await create_user(
                session, email=DEMO_SUPPORT_EMAIL, password=secrets.token_urlsafe(32), name="Demo support",
                settings=settings, is_staff=True,
            )  # fmt: skip
            await grant_promotional_credits(
                session, Actor(user_id=support.id, is_staff=True), organization.id, amount=DEMO_CREDITS,
                expires_at=clock.now() + timedelta(days=365), note="Demo credits", settings=settings,
            )  # fmt: skip
        return [
            f"Demo admin: {DEMO_EMAIL} / {DEMO_PASSWORD} (organization Acme, project Chatbot, ${DEMO_CREDITS} of credits).",
            f"Demo API key (shown once): {created.secret}",
        ]
    finally:
        await db.dispose()
