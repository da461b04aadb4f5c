"""Paging the ledger by keyset: entries added while a client pages never shift, repeat or vanish."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app import clock
from app.db import Database
from app.domain.actor import Actor
from app.domain.credits.purchases import grant_promotional_credits
from app.settings import Settings
from tests.support import GraphQL, World

LEDGER = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { node(id: $id) {
  ... on Organization { credits { ... on Credits {
    ledger(first: $first, after: $after, last: $last, before: $before) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } } } } } } } }"""


async def grant(database: Database, settings: Settings, world: World, count: int) -> None:
    """`count` promotional grants to Acme: each adds one ledger entry, newest first in the list."""
    staff = Actor(world.people["staff"].user_id, is_staff=True)
    for _ in range(count):
        async with database.transaction() as session:
            await grant_promotional_credits(
                session,
                staff,
                world.acme_id,
                amount="1",
                expires_at=clock.now() + timedelta(days=30),
                note="paging",
                settings=settings,
            )


async def ledger(gql: GraphQL, world: World, **page: Any) -> dict[str, Any]:
    variables = {"id": world.gid("Organization", world.acme_id), **page}
    data = await gql(LEDGER, variables, token=world.token("admin"))
    return data["node"]["credits"]["ledger"]  # type: ignore[no-any-return]


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def test_paging_while_entries_are_added_sees_each_entry_once(
    gql: GraphQL, database: Database, settings: Settings, world: World
) -> None:
    await grant(database, settings, world, 10)
    everything = ids(await ledger(gql, world, first=100))
    assert len(everything) == 10
    seen: list[str] = []
    page = await ledger(gql, world, first=3)
    while True:
        seen += ids(page)
        await grant(database, settings, world, 2)  # newer entries arrive at the top meanwhile
        if not page["pageInfo"]["hasNextPage"]:
            break
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        page = await ledger(gql, world, first=3, after=page["pageInfo"]["endCursor"])
        assert page["pageInfo"]["hasPreviousPage"]
    assert seen == everything


async def test_paging_backwards_from_a_cursor(
    gql: GraphQL, database: Database, settings: Settings, world: World
) -> None:
    await grant(database, settings, world, 7)
    everything = await ledger(gql, world, first=100)
    fifth = everything["edges"][4]["cursor"]
    before = await ledger(gql, world, last=2, before=fifth)
    assert ids(before) == ids(everything)[2:4]
    assert before["pageInfo"]["hasPreviousPage"] and before["pageInfo"]["hasNextPage"]
    assert ids(await ledger(gql, world, last=10, before=fifth)) == ids(everything)[:4]
    assert ids(await ledger(gql, world, first=2, after=fifth)) == ids(everything)[5:7]


async def test_a_forged_cursor_is_a_clear_error(gql: GraphQL, world: World) -> None:
    for cursor in ("not base64!", "YXJyYXljb25uZWN0aW9uOjM=", "a2V5c2V0Olsx", "a2V5c2V0OlsxXQ=="):
        variables = {"id": world.gid("Organization", world.acme_id), "first": 2, "after": cursor}
        body = await gql.raw(LEDGER, variables, token=world.token("admin"))
        assert "cursor" in body["errors"][0]["message"], body
