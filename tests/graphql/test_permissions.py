"""Permission flags: each one agrees with what the API lets the same viewer do."""

from __future__ import annotations

import pytest

from tests.graphql.test_authorization import CASES
from tests.support import GraphQL, World

# flag -> the row of the authorization table whose operation the flag promises
ORGANIZATION_FLAGS = {
    "rename": "renameOrganization",
    "manageMembers": "Organization.members",
    "invite": "inviteMembers",
    "buyCredits": "addCredits",
    "subscribe": "subscribe",
    "createProject": "createProject",
}
PROJECT_FLAGS = {
    "manageKeys": "createApiKey",
    "manageMembers": "setProjectMember",
    "setRateLimits": "setProjectRateLimit",
    "rename": "renameProject",
    "archive": "archiveProject",
}
FLAGS = (
    "query($org: ID!, $project: ID!) { "
    f"org: node(id: $org) {{ ... on Organization {{ viewerCan {{ {' '.join(ORGANIZATION_FLAGS)} }} }} }} "
    f"project: node(id: $project) {{ ... on Project {{ viewerCan {{ {' '.join(PROJECT_FLAGS)} }} }} }} }}"
)


@pytest.mark.parametrize("actor", ["admin", "project_admin", "other_project_admin", "project_member"])
async def test_flags_agree_with_the_authorization_table(actor: str, gql: GraphQL, world: World) -> None:
    variables = {
        "org": world.gid("Organization", world.acme_id),
        "project": world.gid("Project", world.project_a_id),
    }
    data = await gql(FLAGS, variables, token=world.token(actor))
    org_flags = data["org"]["viewerCan"]
    assert org_flags == {flag: CASES[row].expect[actor] == "ok" for flag, row in ORGANIZATION_FLAGS.items()}
    if data["project"] is None:  # project A is not theirs
        assert CASES["node: project A"].expect[actor] == "null"
        return
    project_flags = data["project"]["viewerCan"]
    assert project_flags == {flag: CASES[row].expect[actor] == "ok" for flag, row in PROJECT_FLAGS.items()}


async def test_a_personal_organization_takes_no_members_credits_or_subscriptions(gql: GraphQL) -> None:
    data = await gql(
        'mutation { signUp(input: {email: "solo@example.com", password: "correct horse battery"}) { '
        "... on SessionPayload { organizations { organization { viewerCan { rename manageMembers invite "
        "manageBilling buyCredits subscribe createProject viewAllUsage } } } } } }"
    )
    [membership] = data["signUp"]["organizations"]
    personal = membership["organization"]
    assert personal["viewerCan"] == {
        "rename": True,
        "manageMembers": False,
        "invite": False,
        "manageBilling": True,
        "buyCredits": False,
        "subscribe": False,
        "createProject": True,
        "viewAllUsage": True,
    }


async def test_an_archived_project_can_no_longer_be_managed(gql: GraphQL, world: World) -> None:
    project = world.gid("Project", world.project_b_id)
    archived = await gql(
        "mutation($p: ID!) { archiveProject(input: {projectId: $p}) { __typename "
        "... on ProjectPayload { project { viewerCan { manageKeys manageMembers rename archive setRateLimits } } } } }",
        {"p": project},
        token=world.token("admin"),
    )
    assert archived["archiveProject"]["project"]["viewerCan"] == {
        "manageKeys": False,
        "manageMembers": False,
        "rename": False,
        "archive": False,
        "setRateLimits": True,
    }


async def test_a_project_admin_sees_whom_they_may_add_and_adds_them(gql: GraphQL, world: World) -> None:
    candidates_query = (
        "query($p: ID!) { node(id: $p) { ... on Project { addableMembers { __typename "
        "... on ProjectCandidates { candidates { edges { node { userId name email } } } } } } } }"
    )
    project = world.gid("Project", world.project_b_id)
    token = world.token("other_project_admin")  # Project Admin of B, not an Organization Admin
    listed = (await gql(candidates_query, {"p": project}, token=token))["node"]["addableMembers"]
    candidates = [edge["node"] for edge in listed["candidates"]["edges"]]
    emails = [c["email"] for c in candidates]
    # members of A, not of B; neither the Organization Admin nor B's own admin
    assert emails == ["project_admin@example.com", "project_member@example.com"]
    assert set(candidates[0]) == {"userId", "name", "email"}
    added = await gql(
        "mutation($p: ID!, $u: ID!) { setProjectMember(input: {projectId: $p, userId: $u, role: PROJECT_MEMBER}) "
        "{ __typename } }",
        {"p": project, "u": candidates[1]["userId"]},
        token=token,
    )
    assert added["setProjectMember"]["__typename"] == "ProjectMemberPayload"
    again = (await gql(candidates_query, {"p": project}, token=token))["node"]["addableMembers"]
    assert [e["node"]["email"] for e in again["candidates"]["edges"]] == ["project_admin@example.com"]
