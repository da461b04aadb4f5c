"""Helpers for tests: a GraphQL client as the console uses it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from strawberry.relay import to_base64

from app.db import Database
from app.domain import charge_handlers
from app.domain.accounts.models import User
from app.domain.accounts.service import create_user, start_session
from app.domain.actor import Actor
from app.domain.api_keys.service import create_api_key
from app.domain.base import hash_secret
from app.domain.billing import charges
from app.domain.billing.charges import Applier, ChargeHandlers
from app.domain.billing.models import ChargePurpose
from app.domain.invitations.service import AddressInvited, ProjectGrant, invite_members
from app.domain.orgs.models import Membership, OrganizationRole, OrganizationType
from app.domain.orgs.service import create_organization
from app.domain.projects.models import ProjectRole
from app.domain.projects.service import create_project, set_project_member
from app.settings import Settings


@dataclass
class GraphQL:
    """Posts GraphQL operations as the console does."""

    client: httpx.AsyncClient

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The `data` of an operation that must not produce top-level errors."""
        body = await self.raw(query, variables, token)
        assert not body.get("errors"), body["errors"]
        return body["data"]  # type: ignore[no-any-return]


@dataclass
class Person:
    """A signed-in user of the test world."""

    user_id: str
    email: str
    token: str

    @property
    def gid(self) -> str:
        return to_base64("User", self.user_id)


@dataclass
class World:
    """Acme (a Team org) with people in every role, plus an outsider's org and a staff user.

    admin: Organization Admin of Acme; project_admin: Project Admin of project A;
    other_project_admin: Project Admin of project B; project_member: Project Member of A;
    outsider: admin of the Team org Evil; staff: platform staff, member of nothing.
    """

    people: dict[str, Person]
    acme_id: str
    project_a_id: str
    project_b_id: str
    key_a_id: str
    evil_id: str
    evil_project_id: str
    evil_key_id: str
    invitation_id: str = ""  # with_invitation(): Acme invites invitee@example.com (not an actor) to project A
    invitation_token: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # IDs of what a test's set-up made, by name

    def token(self, actor: str) -> str | None:
        return self.people[actor].token if actor in self.people else None

    def gid(self, type_name: str, node_id: str) -> str:
        return to_base64(type_name, node_id)


INVITATION_TOKEN = "world-invitation-token"
ACTORS = ("anonymous", "admin", "project_admin", "other_project_admin", "project_member", "outsider", "staff")


async def build_world(db: Database, settings: Settings) -> World:
    """Create the world through the domain services, in one transaction."""
    people: dict[str, Person] = {}
    async with db.transaction() as session:

        async def person(key: str, staff: bool = False) -> tuple[User, Actor]:
            user = await create_user(
                session,
                email=f"{key}@example.com",
                password="correct horse battery",
                name=key,
                settings=settings,
                is_staff=staff,
            )
            signed_in = await start_session(session, user, settings)
            people[key] = Person(user.id, user.email, signed_in.token)
            return user, Actor(user.id, staff)

        admin_user, admin = await person("admin")
        acme = await create_organization(session, owner=admin_user, name="Acme", type=OrganizationType.TEAM)
        project_a = await create_project(session, admin, acme.id, name="A")
        project_b = await create_project(session, admin, acme.id, name="B")
        for key, project, role in (
            ("project_admin", project_a, ProjectRole.PROJECT_ADMIN),
            ("other_project_admin", project_b, ProjectRole.PROJECT_ADMIN),
            ("project_member", project_a, ProjectRole.PROJECT_MEMBER),
        ):
            user, _ = await person(key)
            session.add(Membership(organization_id=acme.id, user_id=user.id, role=OrganizationRole.MEMBER))
            await session.flush()
            await set_project_member(session, admin, project.id, user_id=user.id, role=role)
        key_a = await create_api_key(session, admin, project_a.id, name="key A")
        outsider_user, outsider = await person("outsider")
        evil = await create_organization(
            session, owner=outsider_user, name="Evil", type=OrganizationType.TEAM
        )
        evil_project = await create_project(session, outsider, evil.id, name="Evil project")
        evil_key = await create_api_key(session, outsider, evil_project.id, name="evil key")
        await person("staff", staff=True)
    return World(
        people=people,
        acme_id=acme.id,
        project_a_id=project_a.id,
        project_b_id=project_b.id,
        key_a_id=key_a.api_key.id,
        evil_id=evil.id,
        evil_project_id=evil_project.id,
        evil_key_id=evil_key.api_key.id,
    )


async def with_invitation(db: Database, settings: Settings, world: World) -> World:
    """The world where Acme's admin has invited invitee@example.com; the emailed token is known to the tests."""
    admin = Actor(world.people["admin"].user_id)
    async with db.transaction() as session:
        [invited] = await invite_members(
            session, admin, world.acme_id, emails=["invitee@example.com"], role=OrganizationRole.MEMBER,
            projects=[ProjectGrant(world.project_a_id, ProjectRole.PROJECT_MEMBER)], settings=settings,
        )  # fmt: skip
        assert isinstance(invited, AddressInvited)
        invitation = invited.invitation.invitation
        invitation.token_hash = hash_secret(INVITATION_TOKEN)
        session.add(invitation)
    return replace(world, invitation_id=invitation.id, invitation_token=INVITATION_TOKEN)


def replace_charge_handlers(
    monkeypatch: pytest.MonkeyPatch,
    *,
    on_success: dict[ChargePurpose, Applier] | None = None,
    on_failure: dict[ChargePurpose, Applier] | None = None,
) -> None:
    """For this test: the app's charge handlers with some replaced (installed now, and by create_app)."""
    table = charge_handlers.CHARGE_HANDLERS
    patched = ChargeHandlers(
        {**table.on_success, **(on_success or {})}, {**table.on_failure, **(on_failure or {})}
    )
    monkeypatch.setattr(charge_handlers, "CHARGE_HANDLERS", patched)
    monkeypatch.setattr(charges, "_handlers", patched)
