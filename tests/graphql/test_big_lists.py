"""The Members page and the Invites list page by keyset: every row once, in order, forwards and backwards."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.db import Database
from app.domain.accounts.models import User
from app.domain.actor import Actor
from app.domain.invitations.service import ProjectGrant, invite_members
from app.domain.orgs.models import Membership, OrganizationRole
from app.domain.projects.models import ProjectRole
from app.settings import Settings
from tests.support import GraphQL, World

MEMBERS = """
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  node(id: $id) { ... on Organization { members { ... on MemberList {
    members(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { node { user { email } projectRoles { role } } } } } } } }
}
"""
INVITES = """
query($id: ID!, $first: Int, $after: String) {
  node(id: $id) { ... on Organization { invitations { ... on InvitationList {
    invitations(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node { email projects { role } } } } } } } }
}
"""


async def page_through(gql: GraphQL, world: World, query: str, path: str, size: int) -> list[list[str]]:
    """Every page of a list, `size` at a time from the start: the emails on each."""
    pages: list[list[str]] = []
    after = None
    while True:
        variables = {"id": world.gid("Organization", world.acme_id), "first": size, "after": after}
        data = (await gql(query, variables, token=world.token("admin")))["node"]
        connection = data[path][path]
        pages.append([_email(edge["node"]) for edge in connection["edges"]])
        if not connection["pageInfo"]["hasNextPage"]:
            return pages
        after = connection["pageInfo"]["endCursor"]


def _email(node: dict[str, Any]) -> str:
    return str(node["user"]["email"] if "user" in node else node["email"])


async def test_the_members_page_pages_by_keyset(
    gql: GraphQL, database: Database, world: World, clock: Any
) -> None:
    async with database.transaction() as session:
        for i in range(23):
            user = User(
                email=f"m{i:02}@example.com", email_normalized=f"m{i:02}@example.com", password_hash="x"
            )
            session.add(user)
            await session.flush()
            # two joined in the same instant: the user id breaks the tie
            joined = clock.at + timedelta(minutes=i // 2)
            session.add(
                Membership(
                    organization_id=world.acme_id,
                    user_id=user.id,
                    role=OrganizationRole.MEMBER,
                    created_at=joined,
                )
            )
    pages = await page_through(gql, world, MEMBERS, "members", 5)
    emails = [email for page in pages for email in page]
    assert [len(page) for page in pages] == [5, 5, 5, 5, 5, 2]  # the world's 4 members and the 23
    async with database.reader() as session:
        joined_order = (
            await session.scalars(
                select(User.email)
                .join(Membership, col(Membership.user_id) == col(User.id))
                .where(col(Membership.organization_id) == world.acme_id)
                .order_by(col(Membership.created_at), col(Membership.user_id))
            )
        ).all()
    assert emails == list(joined_order) and len(set(emails)) == 27
    # backwards from the end gives the same rows in the same order
    variables = {"id": world.gid("Organization", world.acme_id), "last": 7}
    last = (await gql(MEMBERS, variables, token=world.token("admin")))["node"]["members"]["members"]
    assert [_email(edge["node"]) for edge in last["edges"]] == emails[-7:]
    assert last["pageInfo"]["hasPreviousPage"] and not last["pageInfo"]["hasNextPage"]
    variables = {**variables, "before": last["pageInfo"]["startCursor"], "last": 20}
    before = (await gql(MEMBERS, variables, token=world.token("admin")))["node"]["members"]["members"]
    assert [_email(edge["node"]) for edge in before["edges"]] == emails[:-7]


async def test_the_invites_list_pages_by_keyset(
    gql: GraphQL, database: Database, world: World, settings: Settings, clock: Any
) -> None:
    admin = Actor(world.people["admin"].user_id)
    for i in range(7):  # sent at seven times, two at each: newest first, then by id
        clock.at += timedelta(minutes=1)
        async with database.transaction() as session:
            await invite_members(
                session, admin, world.acme_id, emails=[f"a{i}@example.com", f"b{i}@example.com"],
                role=OrganizationRole.MEMBER, settings=settings,
                projects=[ProjectGrant(world.project_a_id, ProjectRole.PROJECT_MEMBER)],
            )  # fmt: skip
    pages = await page_through(gql, world, INVITES, "invitations", 4)
    emails = [email for page in pages for email in page]
    assert [len(page) for page in pages] == [4, 4, 4, 2]
    assert [email[1] for email in emails[::2]] == list("6543210")  # newest first
    assert sorted(emails) == sorted(f"{c}{i}@example.com" for c in "ab" for i in range(7))
