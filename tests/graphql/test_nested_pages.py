"""A list inside each item of a page (every project's API keys or members) reads each list's page only, at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlmodel import col

from app.db import Database
from app.domain.accounts.models import User
from app.domain.actor import Actor
from app.domain.api_keys.models import ApiKey
from app.domain.api_keys.service import create_api_key, revoke_api_key
from app.domain.orgs.models import Membership, OrganizationRole
from app.domain.projects.models import ProjectRole
from app.domain.projects.service import create_project, set_project_member
from tests.graphql.test_query_count import count_statements
from tests.support import GraphQL, World

PROJECT_KEYS = """query($o: ID!, $first: Int, $last: Int, $state: ApiKeyState) { node(id: $o) { ... on Organization {
  projects { edges { node { name apiKeys(first: $first, last: $last, state: $state) { totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { name isActive } } } } } } } } }"""


@contextmanager
def keys_loaded() -> Iterator[list[str]]:
    """The API keys the ORM builds from rows meanwhile: what was read of the keys."""
    names: list[str] = []

    def loaded(key: ApiKey, context: object) -> None:
        names.append(key.name)

    event.listen(ApiKey, "load", loaded)
    try:
        yield names
    finally:
        event.remove(ApiKey, "load", loaded)


async def keys_per_project(database: Database, world: World, counts: dict[str, int]) -> None:
    """Projects named as the keys of `counts`, each with that many keys, `<project> k<n>`, oldest first."""
    admin = Actor(world.people["admin"].user_id)
    async with database.transaction() as session:
        for name, count in counts.items():
            project = await create_project(session, admin, world.acme_id, name=name)
            for n in range(count):
                await create_api_key(session, admin, project.id, name=f"{name} k{n}")


def by_project(data: dict) -> dict[str, dict]:
    return {p["node"]["name"]: p["node"]["apiKeys"] for p in data["node"]["projects"]["edges"]}


async def test_each_projects_keys_are_paged_in_one_statement(
    gql: GraphQL, database: Database, world: World
) -> None:
    await keys_per_project(database, world, {"Five": 5, "Two": 2, "None": 0})
    variables = {"o": world.gid("Organization", world.acme_id), "first": 2}
    with count_statements(database) as statements, keys_loaded() as loaded:
        data = await gql(PROJECT_KEYS, variables, token=world.token("admin"))
    pages = by_project(data)
    assert [e["node"]["name"] for e in pages["Five"]["edges"]] == ["Five k0", "Five k1"]
    assert (pages["Five"]["pageInfo"]["hasNextPage"], pages["Five"]["totalCount"]) == (True, 5)
    assert [e["node"]["name"] for e in pages["Two"]["edges"]] == ["Two k0", "Two k1"]
    assert (pages["Two"]["pageInfo"]["hasNextPage"], pages["Two"]["totalCount"]) == (False, 2)
    assert (pages["None"]["edges"], pages["None"]["totalCount"]) == ([], 0)
    # each project's page and the row that says there is more, no further: Five's k3 and k4 stay unread
    assert not {"Five k3", "Five k4"} & set(loaded)
    assert len(loaded) <= 3 * len(pages)
    keyed = [s for s in statements if "api_key" in s.lower()]
    assert len(keyed) == 2, keyed  # the pages together, the counts together
    assert "row_number" in keyed[0].lower()


async def test_the_last_keys_of_each_project_and_by_state(
    gql: GraphQL, database: Database, world: World
) -> None:
    await keys_per_project(database, world, {"Five": 5, "Two": 2})
    organization = world.gid("Organization", world.acme_id)
    data = await gql(PROJECT_KEYS, {"o": organization, "last": 2}, token=world.token("admin"))
    pages = by_project(data)
    assert [e["node"]["name"] for e in pages["Five"]["edges"]] == ["Five k3", "Five k4"]
    assert pages["Five"]["pageInfo"]["hasPreviousPage"] is True
    assert pages["Two"]["pageInfo"]["hasPreviousPage"] is False

    admin = Actor(world.people["admin"].user_id)
    async with database.transaction() as session:
        chosen = select(ApiKey.id).where(col(ApiKey.name).in_(["Five k0", "Five k2"]))
        for key_id in list(await session.scalars(chosen)):
            await revoke_api_key(session, admin, key_id)
    data = await gql(
        PROJECT_KEYS, {"o": organization, "first": 2, "state": "ACTIVE"}, token=world.token("admin")
    )
    pages = by_project(data)
    assert [e["node"]["name"] for e in pages["Five"]["edges"]] == ["Five k1", "Five k3"]
    assert (pages["Five"]["totalCount"], pages["Two"]["totalCount"]) == (3, 2)
    revoked = await gql(
        PROJECT_KEYS, {"o": organization, "first": 5, "state": "REVOKED"}, token=world.token("admin")
    )
    assert [e["node"]["name"] for e in by_project(revoked)["Five"]["edges"]] == ["Five k0", "Five k2"]


PROJECT_MEMBERS = """query($p: ID!, $first: Int, $after: String) { node(id: $p) { ... on Project {
  members(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { role user { email } } } } } } }"""


async def test_a_projects_members_page_by_keyset(gql: GraphQL, database: Database, world: World) -> None:
    admin = Actor(world.people["admin"].user_id)
    async with database.transaction() as session:
        project = await create_project(session, admin, world.acme_id, name="Crowded")
        for n in range(5):
            user = User(email=f"pm{n}@example.com", email_normalized=f"pm{n}@example.com", password_hash="x")
            session.add(user)
            await session.flush()
            session.add(
                Membership(organization_id=world.acme_id, user_id=user.id, role=OrganizationRole.MEMBER)
            )
            await session.flush()
            await set_project_member(
                session, admin, project.id, user_id=user.id, role=ProjectRole.PROJECT_MEMBER
            )
    seen, after = [], None
    while True:
        data = await gql(
            PROJECT_MEMBERS, {"p": world.gid("Project", project.id), "first": 2, "after": after},
            token=world.token("admin"),
        )  # fmt: skip
        members = data["node"]["members"]
        assert members["totalCount"] == 5 and len(members["edges"]) <= 2
        seen += [e["node"]["user"]["email"] for e in members["edges"]]
        if not members["pageInfo"]["hasNextPage"]:
            break
        after = members["pageInfo"]["endCursor"]
    assert seen == [f"pm{n}@example.com" for n in range(5)]
