"""Lists the console filters: keys by state, projects archived or not, invitations by state; with totalCount."""

from __future__ import annotations

from tests.support import GraphQL, World

KEYS = """query($p: ID!, $state: ApiKeyState, $first: Int, $after: String) { node(id: $p) { ... on Project {
  apiKeys(state: $state, first: $first, after: $after) { totalCount edges { node { name isActive } }
    pageInfo { hasNextPage endCursor } } } } }"""


async def keys(gql: GraphQL, world: World, **variables: object) -> dict:
    data = await gql(
        KEYS, {"p": world.gid("Project", world.project_a_id), **variables}, token=world.token("admin")
    )
    return data["node"]["apiKeys"]  # type: ignore[no-any-return]


async def test_keys_filtered_by_state_and_counted(gql: GraphQL, world: World) -> None:
    project = world.gid("Project", world.project_a_id)
    for name in ("two", "three"):
        await gql(
            "mutation($p: ID!, $n: String!) { createApiKey(input: {projectId: $p, name: $n}) { __typename } }",
            {"p": project, "n": name},
            token=world.token("admin"),
        )
    everything = await keys(gql, world)
    first_key = everything["edges"][0]["node"]["name"]
    key_ids = await gql(
        "query($p: ID!) { node(id: $p) { ... on Project { apiKeys { edges { node { id } } } } } }",
        {"p": project},
        token=world.token("admin"),
    )
    revoked = await gql(
        "mutation($k: ID!) { revokeApiKey(input: {apiKeyId: $k}) { __typename } }",
        {"k": key_ids["node"]["apiKeys"]["edges"][0]["node"]["id"]},
        token=world.token("admin"),
    )
    assert revoked["revokeApiKey"]["__typename"] == "RevokeApiKeyPayload"

    active = await keys(gql, world, state="ACTIVE")
    assert active["totalCount"] == everything["totalCount"] - 1
    assert all(e["node"]["isActive"] for e in active["edges"])
    only_revoked = await keys(gql, world, state="REVOKED")
    assert (only_revoked["totalCount"], only_revoked["edges"]) == (
        1,
        [{"node": {"name": first_key, "isActive": False}}],
    )
    # pages in SQL: the count is the whole list's, a page holds `first`
    page = await keys(gql, world, state="ACTIVE", first=1)
    assert (page["totalCount"], len(page["edges"]), page["pageInfo"]["hasNextPage"]) == (2, 1, True)
    rest = await keys(gql, world, state="ACTIVE", first=5, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["name"] for e in page["edges"] + rest["edges"]] == ["two", "three"]


async def test_projects_archived_or_not(gql: GraphQL, world: World) -> None:
    await gql(
        "mutation($p: ID!) { archiveProject(input: {projectId: $p}) { __typename } }",
        {"p": world.gid("Project", world.project_b_id)},
        token=world.token("admin"),
    )
    query = (
        "query($o: ID!, $archived: Boolean) { node(id: $o) { ... on Organization { "
        "projects(archived: $archived) { totalCount edges { node { name } } } } } }"
    )
    acme = world.gid("Organization", world.acme_id)

    async def names(actor: str, archived: bool | None) -> tuple[int, list[str]]:
        data = await gql(query, {"o": acme, "archived": archived}, token=world.token(actor))
        projects = data["node"]["projects"]
        return projects["totalCount"], [e["node"]["name"] for e in projects["edges"]]

    assert await names("admin", True) == (1, ["B"])
    assert await names("admin", False) == (2, ["Default", "A"])
    assert await names("admin", None) == (3, ["Default", "A", "B"])
    # a member sees their own live projects only, whatever they ask
    assert await names("project_member", None) == (1, ["A"])
    assert await names("project_member", True) == (0, [])


async def test_invitations_by_state(gql: GraphQL, world: World) -> None:
    acme = world.gid("Organization", world.acme_id)
    await gql(
        'mutation($o: ID!) { inviteMembers(input: {organizationId: $o, emails: ["a@example.com", '
        '"b@example.com"], role: ORGANIZATION_ADMIN}) { __typename } }',
        {"o": acme},
        token=world.token("admin"),
    )
    query = (
        "query($o: ID!, $states: [InvitationState!]) { node(id: $o) { ... on Organization { "
        "invitations(states: $states) { ... on InvitationList { invitations { totalCount edges { node { email } } } } } } } }"
    )

    async def listed(states: list[str] | None) -> dict:
        data = await gql(query, {"o": acme, "states": states}, token=world.token("admin"))
        return data["node"]["invitations"]["invitations"]  # type: ignore[no-any-return]

    pending = await listed(["PENDING"])
    assert pending["totalCount"] == 2
    assert {e["node"]["email"] for e in pending["edges"]} == {"a@example.com", "b@example.com"}
    assert (await listed(["EXPIRED", "REJECTED"]))["totalCount"] == 0
    assert (await listed(None))["totalCount"] == 2
