"""Mutations answer with the changed object and its parent, so a normalized client cache can update."""

from __future__ import annotations

from tests.support import GraphQL, World


async def test_a_new_or_revoked_key_comes_with_its_project(gql: GraphQL, world: World) -> None:
    project = world.gid("Project", world.project_a_id)
    created = await gql(
        'mutation($p: ID!) { createApiKey(input: {projectId: $p, name: "ci"}) { ... on CreateApiKeyPayload { '
        "apiKey { id } project { id apiKeys(state: ACTIVE) { totalCount } } } } }",
        {"p": project},
        token=world.token("project_admin"),
    )
    payload = created["createApiKey"]
    assert payload["project"]["id"] == project
    revoked = await gql(
        "mutation($k: ID!) { revokeApiKey(input: {apiKeyId: $k}) { ... on RevokeApiKeyPayload { "
        "project { apiKeys(state: ACTIVE) { totalCount } } } } }",
        {"k": payload["apiKey"]["id"]},
        token=world.token("project_admin"),
    )
    active_before = payload["project"]["apiKeys"]["totalCount"]
    assert revoked["revokeApiKey"]["project"]["apiKeys"]["totalCount"] == active_before - 1


async def test_member_changes_come_with_the_organization(gql: GraphQL, world: World) -> None:
    acme = world.gid("Organization", world.acme_id)
    member = world.gid("User", world.people["project_member"].user_id)
    removed = await gql(
        "mutation($o: ID!, $u: ID!) { removeMember(input: {organizationId: $o, userId: $u}) { "
        "... on MembershipEndedPayload { organization { id members { ... on MemberList { members { totalCount } } } } } } }",
        {"o": acme, "u": member},
        token=world.token("admin"),
    )
    organization = removed["removeMember"]["organization"]
    assert organization["id"] == acme
    assert organization["members"]["members"]["totalCount"] == 3  # admin and the two project admins
    left = await gql(
        "mutation($o: ID!) { leaveOrganization(input: {organizationId: $o}) { "
        "... on MembershipEndedPayload { organizationId organization { id } } } }",
        {"o": acme},
        token=world.token("project_admin"),
    )
    assert left["leaveOrganization"] == {"organizationId": acme, "organization": None}  # no longer theirs
    invited = await gql(
        'mutation($o: ID!) { inviteMembers(input: {organizationId: $o, emails: ["new@example.com"], '
        "role: ORGANIZATION_ADMIN}) { ... on InviteMembersPayload { organization { "
        "invitations(states: [PENDING]) { ... on InvitationList { invitations { totalCount } } } } } } }",
        {"o": acme},
        token=world.token("admin"),
    )
    assert invited["inviteMembers"]["organization"]["invitations"]["invitations"]["totalCount"] == 1
