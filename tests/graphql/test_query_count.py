"""The console's organization overview costs the same number of SQL statements at 10 and at 200 members and keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from app.db import Database
from app.domain.accounts.models import User
from app.domain.actor import Actor
from app.domain.api_keys.service import create_api_key
from app.domain.orgs.models import Membership, OrganizationRole
from app.domain.projects.models import ProjectRole
from app.domain.projects.service import create_project, set_project_member
from tests.support import GraphQL, World

OVERVIEW = """
query($id: ID!) {
  node(id: $id) {
    ... on Organization {
      name type organizationId
      members { ... on MemberList { members(first: 100) { pageInfo { hasNextPage } edges { node { role joinedAt user { email name }
                                                          projectRoles { role project { name } } } } } } }
      projects { edges { node { name isDefault
        apiKeys { edges { node { name maskedKey lastUsedAt createdBy { email } } } } } } }
    }
  }
}
"""


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engines = {db.read_engine.sync_engine, db.write_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def grow(database: Database, world: World, size: int) -> None:
    """Give Acme `size` more members (each on a project) and `size` more API keys over several projects."""
    admin = Actor(world.people["admin"].user_id)
    async with database.transaction() as session:
        projects = [
            await create_project(session, admin, world.acme_id, name=f"P{i}-{size}") for i in range(3)
        ]
        for i in range(size):
            user = User(
                email=f"m{i}-{size}@example.com",
                email_normalized=f"m{i}-{size}@example.com",
                password_hash="x",
            )
            session.add(user)
            await session.flush()
            session.add(
                Membership(organization_id=world.acme_id, user_id=user.id, role=OrganizationRole.MEMBER)
            )
            await session.flush()
            await set_project_member(
                session, admin, projects[i % 3].id, user_id=user.id, role=ProjectRole.PROJECT_MEMBER
            )
            await create_api_key(session, admin, projects[i % 3].id, name=f"key {i}")


async def overview_statements(gql: GraphQL, database: Database, world: World) -> tuple[int, dict]:
    with count_statements(database) as statements:
        data = await gql(
            OVERVIEW, {"id": world.gid("Organization", world.acme_id)}, token=world.token("admin")
        )
    return len(statements), data


async def test_overview_statement_count_does_not_grow_with_members_and_keys(
    gql: GraphQL, database: Database, world: World
) -> None:
    await grow(database, world, 10)
    small, data = await overview_statements(gql, database, world)
    assert len(data["node"]["members"]["members"]["edges"]) == 4 + 10

    await grow(database, world, 190)
    large, data = await overview_statements(gql, database, world)
    members = data["node"]["members"]["members"]
    keys = sum(len(p["node"]["apiKeys"]["edges"]) for p in data["node"]["projects"]["edges"])
    assert len(members["edges"]) == 100 and members["pageInfo"]["hasNextPage"]  # one page of the 204
    assert keys == 1 + 200
    assert large == small, f"{small} statements with 10 members and keys, {large} with 200"
