"""Invitation emails are limited per organization and per sender each day: no spam relay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.db import Database
from app.domain.accounts.models import User
from app.domain.notifications.models import OutboxMessage
from app.settings import Settings
from tests.invitations.support import RESEND, invite, invite_one, sign_up
from tests.support import GraphQL, World

NEW_ORG = "mutation($n: String!) { createOrganization(input: {name: $n}) { ... on OrganizationPayload { organization { id projects { edges { node { id } } } } } } }"  # noqa: E501


async def emails_queued(database: Database) -> int:
    async with database.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def age_account(database: Database, email: str, days: int) -> None:
    async with database.transaction() as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        user.created_at -= timedelta(days=days)
        session.add(user)


def refused_codes(result: dict[str, Any]) -> list[str]:
    return [o["code"] for o in result["outcomes"] if o["__typename"] == "AddressRefusedError"]


async def test_a_new_account_cannot_relay_200_invitations(gql: GraphQL, database: Database) -> None:
    token = await sign_up(gql, "fresh@example.com")
    name = "URGENT verify your account http://evil.example"
    created = (await gql(NEW_ORG, {"n": name}, token=token))["createOrganization"]["organization"]
    org, project = created["id"], created["projects"]["edges"][0]["node"]["id"]
    invited = 0
    refusals: list[dict[str, Any]] = []
    for batch in range(4):  # 200 addresses within a minute, 50 per call
        data = await gql(
            "mutation($i: InviteMembersInput!) { inviteMembers(input: $i) { ... on InviteMembersPayload { "
            "invitedCount outcomes { __typename ... on AddressRefusedError { code message field } } } } }",
            {"i": {"organizationId": org, "emails": [f"v{batch}-{n}@example.com" for n in range(50)],
                   "role": "MEMBER", "projects": [{"projectId": project, "role": "PROJECT_MEMBER"}]}},
            token=token,
        )  # fmt: skip
        invited += data["inviteMembers"]["invitedCount"]
        refusals += [o for o in data["inviteMembers"]["outcomes"] if o["__typename"] == "AddressRefusedError"]
    assert invited == 50 and len(refusals) == 150
    assert {(r["code"], r["field"]) for r in refusals} == {("TOO_MANY_ATTEMPTS", "emails")}
    assert refusals[0]["message"].startswith("A new account may send 50 invitations in 24 hours")
    assert await emails_queued(database) == 50


async def test_an_organization_sends_its_daily_number_then_waits(
    gql: GraphQL, world: World, database: Database, settings: Settings, clock: Any
) -> None:
    await age_account(database, "admin@example.com", days=30)
    settings.invitations_per_organization_per_day = 3
    first = await invite(gql, world, [f"a{n}@example.com" for n in range(2)])
    assert first["invitedCount"] == 2
    resent = await gql(RESEND, {"input": {"invitationId": first["outcomes"][0]["invitation"]["id"]}},
                       token=world.token("admin"))  # fmt: skip
    assert resent["resendInvitation"]["__typename"] == "InvitationPayload"  # a resend is the third email
    more = await invite(gql, world, ["b@example.com"])
    assert (more["invitedCount"], refused_codes(more)) == (0, ["TOO_MANY_ATTEMPTS"])
    assert "organization sent its 3 invitations" in more["outcomes"][0]["message"]
    again = await gql(RESEND, {"input": {"invitationId": first["outcomes"][1]["invitation"]["id"]}},
                      token=world.token("admin"))  # fmt: skip
    assert again["resendInvitation"]["__typename"] == "TooManyAttemptsError"
    assert 0 < again["resendInvitation"]["retryAfterSeconds"] <= 24 * 3600
    clock.advance(hours=24, seconds=1)  # the day has passed: the organization may invite again
    assert (await invite(gql, world, ["b@example.com"]))["invitedCount"] == 1


async def test_a_sender_is_limited_over_all_their_organizations(
    gql: GraphQL, world: World, database: Database, settings: Settings
) -> None:
    await age_account(database, "admin@example.com", days=30)
    settings.invitations_per_sender_per_day = 2
    await invite_one(gql, world, "one@example.com")
    other = (await gql(NEW_ORG, {"n": "Second"}, token=world.token("admin")))["createOrganization"]
    org = other["organization"]
    result = await gql(
        "mutation($i: InviteMembersInput!) { inviteMembers(input: $i) { ... on InviteMembersPayload { "
        "invitedCount outcomes { __typename ... on AddressRefusedError { code message } } } } }",
        {"i": {"organizationId": org["id"], "emails": ["two@example.com", "three@example.com"],
               "role": "ORGANIZATION_ADMIN", "projects": []}},
        token=world.token("admin"),
    )  # fmt: skip
    outcome = result["inviteMembers"]
    assert outcome["invitedCount"] == 1
    assert outcome["outcomes"][1]["message"].startswith("You sent your 2 invitations in 24 hours")
