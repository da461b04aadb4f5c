"""An organization's subscriptions and a project's addable members page by keyset in SQL: every row once,
in order, ties in the sort key included; at 10,000 rows only the page is read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert

from app.db import Database
from app.domain.accounts.models import User
from app.domain.orgs.models import Membership, OrganizationRole
from app.domain.subscriptions.models import EndReason, Subscription, SubscriptionState
from tests.support import GraphQL, World

SUBSCRIPTIONS = """
query($id: ID!, $ended: Boolean!, $first: Int, $after: String, $last: Int, $before: String) {
  node(id: $id) { ... on Organization { subscriptions(includeEnded: $ended) { __typename
    ... on Error { code }
    ... on SubscriptionList { subscriptions(first: $first, after: $after, last: $last, before: $before) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { node { id state } } } } } } }
}
"""
CANDIDATES = """
query($id: ID!, $search: String, $first: Int, $after: String) {
  node(id: $id) { ... on Project { addableMembers(search: $search) { __typename
    ... on Error { code }
    ... on ProjectCandidates { candidates(first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { node { email name } } } } } } }
}
"""


@contextmanager
def loaded(model: type) -> Iterator[list[Any]]:
    """The rows of `model` the ORM builds meanwhile: what was read of that table."""
    rows: list[Any] = []

    def on_load(row: Any, context: object) -> None:
        rows.append(row)

    event.listen(model, "load", on_load)
    try:
        yield rows
    finally:
        event.remove(model, "load", on_load)


async def ended_subscriptions(database: Database, world: World, count: int, newest: datetime) -> list[str]:
    """`count` ended subscriptions of Acme, two created in each instant; their ids, as the list orders them."""
    rows = []
    for i in range(count):
        at = newest - timedelta(minutes=i // 2)
        rows.append(
            {
                "id": f"sub_t{i:05}",
                "organization_id": world.acme_id,
                "model_id": "gpt-oss-120b",
                "tier_id": "starter",
                "state": SubscriptionState.CANCELED,
                "cancel_at_period_end": False,
                "billing_anchor": at,
                "period_number": 1,
                "current_period_start": at,
                "current_period_end": at + timedelta(days=30),
                "failed_renewals": 0,
                "upgrades": 0,
                "created_at": at,
                "ended_at": at + timedelta(days=30),
                "end_reason": EndReason.CANCELED,
            }
        )
    async with database.transaction() as session:
        await session.execute(insert(Subscription), rows)
    # newest first; within an instant the greater id first
    return [row["id"] for row in sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)]


async def subscriptions_page(gql: GraphQL, world: World, token: str = "admin", **variables: Any) -> Any:
    variables = {"id": world.gid("Organization", world.acme_id), "ended": True, **variables}
    return (await gql(SUBSCRIPTIONS, variables, token=world.token(token)))["node"]["subscriptions"]


def ids(connection: dict[str, Any]) -> list[str]:
    from strawberry.relay import from_base64

    return [from_base64(edge["node"]["id"])[1] for edge in connection["edges"]]


async def test_the_subscriptions_page_by_keyset_ties_included(
    gql: GraphQL, database: Database, world: World, clock: Any
) -> None:
    expected = await ended_subscriptions(database, world, 13, clock.at)
    seen: list[list[str]] = []
    after = None
    while True:
        connection = (await subscriptions_page(gql, world, first=4, after=after))["subscriptions"]
        assert connection["totalCount"] == 13
        seen.append(ids(connection))
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert [len(page) for page in seen] == [4, 4, 4, 1]
    assert [i for page in seen for i in page] == expected  # no gap, no repeat, newest first
    # backwards from the end: the same rows in the same order
    last = (await subscriptions_page(gql, world, last=5))["subscriptions"]
    assert ids(last) == expected[-5:] and last["pageInfo"]["hasPreviousPage"]
    before = await subscriptions_page(gql, world, last=20, before=last["pageInfo"]["startCursor"])
    assert ids(before["subscriptions"]) == expected[:-5]
    # the ended ones are listed only when asked for
    live = await subscriptions_page(gql, world, ended=False, first=10)
    assert live["subscriptions"]["totalCount"] == 0 and live["subscriptions"]["edges"] == []


async def test_the_subscriptions_stay_organization_admins_only(gql: GraphQL, world: World) -> None:
    for who in ("project_admin", "project_member"):
        assert await subscriptions_page(gql, world, token=who, first=5) == {
            "__typename": "ForbiddenError",
            "code": "FORBIDDEN",
        }


async def test_a_page_of_10000_subscriptions_reads_only_the_page(
    gql: GraphQL, database: Database, world: World, clock: Any
) -> None:
    expected = await ended_subscriptions(database, world, 10_000, clock.at)
    with loaded(Subscription) as rows:
        first = (await subscriptions_page(gql, world, first=20))["subscriptions"]
    assert ids(first) == expected[:20] and first["totalCount"] == 10_000
    assert len(rows) <= 21  # the page and the one row that says there is another
    with loaded(Subscription) as rows:
        second = await subscriptions_page(gql, world, first=20, after=first["pageInfo"]["endCursor"])
    assert ids(second["subscriptions"]) == expected[20:40] and len(rows) <= 21


async def organization_members(database: Database, world: World, count: int, name: str = "Cand") -> list[str]:
    """`count` more members of Acme, `c<n>@example.com`, in no project; their emails."""
    now = datetime.now(UTC)
    users = [
        {
            "id": f"user_c{i:05}",
            "email": f"c{i:05}@Example.com",
            "email_normalized": f"c{i:05}@example.com",
            "name": f"{name} {i}",
            "password_hash": "x",
            "is_staff": False,
            "created_at": now,
        }
        for i in range(count)
    ]
    async with database.transaction() as session:
        await session.execute(insert(User), users)
        await session.execute(
            insert(Membership),
            [
                {
                    "organization_id": world.acme_id,
                    "user_id": user["id"],
                    "role": OrganizationRole.MEMBER,
                    "created_at": now,
                }
                for user in users
            ],
        )
    return [user["email"] for user in users]


async def candidates(gql: GraphQL, world: World, token: str = "project_admin", **variables: Any) -> Any:
    variables = {"id": world.gid("Project", world.project_a_id), **variables}
    return (await gql(CANDIDATES, variables, token=world.token(token)))["node"]["addableMembers"]


async def test_the_addable_members_page_by_keyset(gql: GraphQL, database: Database, world: World) -> None:
    added = await organization_members(database, world, 23)
    # project A's Project Admin may add everyone but the Org Admin and A's own members
    expected = sorted([*added, "other_project_admin@example.com"], key=str.lower)
    pages: list[list[str]] = []
    after = None
    while True:
        connection = (await candidates(gql, world, first=5, after=after))["candidates"]
        assert connection["totalCount"] == 24
        pages.append([edge["node"]["email"] for edge in connection["edges"]])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert [len(page) for page in pages] == [5, 5, 5, 5, 4]
    assert [email for page in pages for email in page] == expected


async def test_a_search_narrows_the_addable_members(gql: GraphQL, database: Database, world: World) -> None:
    await organization_members(database, world, 12, name="Zoë Bar_")

    async def found(search: str) -> list[str]:
        connection = (await candidates(gql, world, search=search, first=50))["candidates"]
        assert connection["totalCount"] == len(connection["edges"])
        return [edge["node"]["email"] for edge in connection["edges"]]

    assert await found("C0001") == [f"c{i:05}@Example.com" for i in range(10, 12)]  # email, case aside
    assert await found("other_PROJECT") == ["other_project_admin@example.com"]  # name (`other_project_admin`)
    assert len(await found("bar_ 1")) == 3  # "Zoë Bar_ 1", "… 10", "… 11"
    # LIKE's wildcards are plain characters here
    assert await found("%") == [] and len(await found("_")) == 13  # `other_project_admin` and the 12
    assert await found("x" * 300) == []  # longer than any email or name
    assert len(await found("")) == 13  # an empty search keeps everyone


async def test_addable_members_stay_project_admins_only(gql: GraphQL, world: World) -> None:
    variables = {"id": world.gid("Project", world.project_a_id), "first": 5}
    member = await gql(CANDIDATES, variables, token=world.token("project_member"))
    assert member["node"]["addableMembers"] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
    for outside in ("other_project_admin", "outsider"):  # not in project A: it is not theirs to see
        assert (await gql(CANDIDATES, variables, token=world.token(outside)))["node"] is None


async def test_a_page_of_10000_addable_members_reads_only_the_page(
    gql: GraphQL, database: Database, world: World
) -> None:
    added = sorted(await organization_members(database, world, 10_000), key=str.lower)
    with loaded(User) as rows:
        first = (await candidates(gql, world, first=20))["candidates"]
    assert [edge["node"]["email"] for edge in first["edges"]] == added[:20]
    assert first["totalCount"] == 10_001  # with B's Project Admin
    assert len([row for row in rows if row.email.startswith("c")]) <= 21
