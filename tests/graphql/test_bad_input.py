"""Hostile input everywhere gets a typed error, and nothing stored changes."""

from __future__ import annotations

import pytest

from tests.support import GraphQL, World

RESULT = "{ __typename ... on Error { code field message } }"


async def run(
    gql: GraphQL, world: World, field: str, input_type: str, value: dict, actor: str = "admin"
) -> dict:
    document = f"mutation($input: {input_type}!) {{ {field}(input: $input) {RESULT} }}"
    return (await gql(document, {"input": value}, token=world.token(actor)))[field]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "code"),
    [("", "REQUIRED"), ("   ", "REQUIRED"), ("x" * 500, "TOO_LONG"), ("bad\x01name", "INVALID")],
)
async def test_names_are_checked_everywhere(gql: GraphQL, world: World, name: str, code: str) -> None:
    acme = world.gid("Organization", world.acme_id)
    project = world.gid("Project", world.project_a_id)
    attempts = [
        ("createOrganization", "CreateOrganizationInput", {"name": name}),
        ("renameOrganization", "RenameOrganizationInput", {"organizationId": acme, "name": name}),
        ("createProject", "CreateProjectInput", {"organizationId": acme, "name": name}),
        ("renameProject", "RenameProjectInput", {"projectId": project, "name": name}),
        ("createApiKey", "CreateApiKeyInput", {"projectId": project, "name": name}),
    ]
    for field, input_type, value in attempts:
        result = await run(gql, world, field, input_type, value)
        assert (result["__typename"], result["code"], result["field"]) == (
            "InvalidInputError",
            code,
            "name",
        ), field
    names = await gql(
        "query($id: ID!) { node(id: $id) { ... on Organization { name projects { edges { node { name } } } } } }",
        {"id": acme},
        token=world.token("admin"),
    )
    assert names["node"]["name"] == "Acme"
    assert [e["node"]["name"] for e in names["node"]["projects"]["edges"]] == ["Default", "A", "B"]


async def test_a_nul_never_reaches_a_service(gql: GraphQL, world: World) -> None:
    """No database stores a NUL: it is refused at the edge, naming the variable (tests/graphql/test_edge_input.py)."""
    document = (
        "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { __typename } }"
    )
    body = await gql.raw(document, {"input": {"name": "bad\x00name"}}, token=world.token("admin"))
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_foreign_and_unknown_ids_are_not_found(gql: GraphQL, world: World) -> None:
    evil_project = world.gid("Project", world.evil_project_id)
    unknown_project = world.gid("Project", "proj_doesnotexist")
    wrong_type = world.gid("ApiKey", world.key_a_id)  # a key's ID where a project's is expected
    for project_id in (evil_project, unknown_project, wrong_type):
        result = await run(
            gql, world, "createApiKey", "CreateApiKeyInput", {"projectId": project_id, "name": "k"}
        )
        assert (result["__typename"], result["code"], result["field"]) == (
            "NotFoundError",
            "NOT_FOUND",
            "projectId",
        )
    revoke = await run(
        gql, world, "revokeApiKey", "RevokeApiKeyInput", {"apiKeyId": world.gid("ApiKey", world.evil_key_id)}
    )
    assert revoke["__typename"] == "NotFoundError"
    # the outsider's key still works: nothing changed
    evil = await gql(
        "query($id: ID!) { node(id: $id) { ... on ApiKey { isActive } } }",
        {"id": world.gid("ApiKey", world.evil_key_id)},
        token=world.token("outsider"),
    )
    assert evil["node"] == {"isActive": True}


async def test_malformed_ids_and_wrong_types_are_request_errors(gql: GraphQL, world: World) -> None:
    for variables in ({"id": "not base64 at all"}, {"id": 42}, {"id": None}):
        body = await gql.raw(
            "query($id: ID!) { node(id: $id) { id } }", variables, token=world.token("admin")
        )
        assert body["errors"] and body["data"] in (None, {"node": None})
        assert "Internal server error" not in body["errors"][0]["message"]
    body = await gql.raw(
        "mutation { createOrganization(input: {name: 12}) { __typename } }", token=world.token("admin")
    )
    assert "String cannot represent" in body["errors"][0]["message"]


async def test_emails_are_validated(gql: GraphQL) -> None:
    for email in ("", "plainaddress", "a@b", "<script>@example.com", "a" * 250 + "@example.com"):
        result = (
            await gql(
                f"mutation($input: SignUpInput!) {{ signUp(input: $input) {RESULT} }}",
                {"input": {"email": email, "password": "long enough password"}},
            )
        )["signUp"]
        assert (result["__typename"], result["code"], result["field"]) == (
            "InvalidInputError",
            "INVALID_EMAIL",
            "email",
        )


async def test_rate_limits_reject_unknown_models_and_negative_figures(gql: GraphQL, world: World) -> None:
    project = world.gid("Project", world.project_a_id)
    cases = [
        ({"model": "no-such-model", "requestsPerMinute": 5}, "UNKNOWN_MODEL", "model"),
        ({"model": "gpt-oss-120b", "requestsPerMinute": -1}, "INVALID", "requestsPerMinute"),
        ({"model": "gpt-oss-120b"}, "INVALID", None),
        # the organization's PayGo limit for the model is 1,000,000 TPM: a project's may only be lower
        (
            {"model": "gpt-oss-120b", "requestsPerMinute": 10, "tokensPerMinute": 1_000_001},
            "ABOVE_ORGANIZATION_LIMIT",
            "tokensPerMinute",
        ),
    ]
    for value, code, field in cases:
        result = await run(
            gql, world, "setProjectRateLimit", "SetProjectRateLimitInput", {"projectId": project, **value}
        )
        assert (result["__typename"], result["code"], result["field"]) == ("InvalidInputError", code, field)
    at_the_limit = await run(
        gql, world, "setProjectRateLimit", "SetProjectRateLimitInput",
        {"projectId": project, "model": "gpt-oss-120b", "tokensPerMinute": 1_000_000},
    )  # fmt: skip
    assert at_the_limit["__typename"] == "ProjectRateLimitPayload"


async def test_an_unknown_bearer_token_is_unauthenticated(gql: GraphQL) -> None:
    result = await gql(
        f'mutation {{ createOrganization(input: {{name: "X"}}) {RESULT} }}', token="forged-token"
    )
    assert result["createOrganization"]["__typename"] == "UnauthenticatedError"


async def test_the_last_admin_stays(gql: GraphQL, world: World) -> None:
    acme = world.gid("Organization", world.acme_id)
    admin = world.people["admin"].gid
    for field, input_type, value in (
        (
            "changeMemberRole",
            "ChangeMemberRoleInput",
            {"organizationId": acme, "userId": admin, "role": "MEMBER"},
        ),
        ("removeMember", "RemoveMemberInput", {"organizationId": acme, "userId": admin}),
        ("leaveOrganization", "LeaveOrganizationInput", {"organizationId": acme}),
    ):
        result = await run(gql, world, field, input_type, value)
        assert (result["__typename"], result["code"]) == ("ConflictError", "LAST_ORGANIZATION_ADMIN"), field
    # with a second admin, the first may step down
    promoted = await run(
        gql,
        world,
        "changeMemberRole",
        "ChangeMemberRoleInput",
        {"organizationId": acme, "userId": world.people["project_member"].gid, "role": "ORGANIZATION_ADMIN"},
    )
    assert promoted["__typename"] == "MemberPayload"
    left = await run(gql, world, "leaveOrganization", "LeaveOrganizationInput", {"organizationId": acme})
    assert left["__typename"] == "MembershipEndedPayload"


@pytest.mark.parametrize(
    "bad_id", ["not-a-global-id", "!!!", "T3JnYW5pemF0aW9u"]
)  # the last: base64 without ':'
async def test_a_malformed_id_in_a_mutation_is_its_typed_not_found(
    gql: GraphQL, world: World, bad_id: str
) -> None:
    renamed = await run(
        gql, world, "renameOrganization", "RenameOrganizationInput", {"organizationId": bad_id, "name": "X"}
    )
    assert (renamed["__typename"], renamed["code"], renamed["field"]) == (
        "NotFoundError",
        "NOT_FOUND",
        "organizationId",
    )
    member = await run(
        gql, world, "setProjectMember", "SetProjectMemberInput",
        {"projectId": world.gid("Project", world.project_a_id), "userId": bad_id, "role": "PROJECT_MEMBER"},
    )  # fmt: skip
    assert (member["__typename"], member["field"]) == ("NotFoundError", "userId")
