"""inviteMembers: one outcome per address, typed input errors, and who may invite."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.domain.invitations.models import Invitation
from app.domain.notifications.models import OutboxMessage
from tests.invitations.support import INVITES, ME, RESEND, REVOKE, invite, invite_one, sign_up
from tests.support import GraphQL, World


async def count(database: Database, model: type) -> int:
    async with database.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_each_address_gets_its_own_outcome_and_good_ones_go_out(
    gql: GraphQL, world: World, database: Database
) -> None:
    earlier = await invite_one(gql, world, "pending@example.com")

    result = await invite(
        gql,
        world,
        [
            "new@example.com",
            "not an address",
            "Project_Member@example.com",
            "NEW@example.com",
            "pending@example.com",
        ],
    )

    assert result["invitedCount"] == 1
    outcomes = result["outcomes"]
    assert [(o["__typename"], o["email"]) for o in outcomes] == [
        ("AddressInvited", "new@example.com"),
        ("AddressRefusedError", "not an address"),
        ("AddressRefusedError", "Project_Member@example.com"),
        ("AddressRefusedError", "NEW@example.com"),
        ("AddressRefusedError", "pending@example.com"),
    ]
    assert [o.get("code") for o in outcomes[1:]] == [
        "INVALID_EMAIL",
        "ALREADY_MEMBER",
        "DUPLICATE_ADDRESS",
        "ALREADY_INVITED",
    ]
    assert outcomes[4]["existingInvitation"] == {"id": earlier["id"]}  # the console offers to resend it
    assert all(o["field"] == "emails" for o in outcomes[1:])
    invited = outcomes[0]["invitation"]
    assert invited["state"] == "PENDING" and invited["role"] == "MEMBER"
    assert invited["invitedBy"] == {"email": "admin@example.com"}
    assert invited["projects"] == [{"role": "PROJECT_MEMBER", "project": {"name": "A"}}]
    assert await count(database, Invitation) == 2
    assert await count(database, OutboxMessage) == 2  # one email per invitation, none for refusals


async def test_an_organization_admin_invitation_has_no_projects(gql: GraphQL, world: World) -> None:
    invitation = await invite_one(gql, world, "boss@example.com", role="ORGANIZATION_ADMIN")
    assert (invitation["role"], invitation["projects"]) == ("ORGANIZATION_ADMIN", [])


@pytest.mark.parametrize(
    ("case", "code", "field"),
    [
        ("no addresses", "REQUIRED", "emails"),
        ("51 addresses", "TOO_LONG", "emails"),
        ("member without projects", "REQUIRED", "projects"),
        ("admin with projects", "INVALID", "projects"),
        ("another org's project", "NOT_FOUND", "projects"),
        ("an unknown project", "NOT_FOUND", "projects"),
        ("a project twice", "INVALID", "projects"),
        ("an archived project", "PROJECT_ARCHIVED", "projects"),
    ],
)
async def test_bad_input_is_refused_as_a_whole(
    gql: GraphQL, world: World, database: Database, case: str, code: str, field: str
) -> None:
    emails, role, projects = ["x@example.com"], "MEMBER", [(world.project_a_id, "PROJECT_MEMBER")]
    if case == "no addresses":
        emails = []
    elif case == "51 addresses":
        emails = [f"p{i}@example.com" for i in range(51)]
    elif case == "member without projects":
        projects = []
    elif case == "admin with projects":
        role = "ORGANIZATION_ADMIN"
    elif case == "another org's project":
        projects = [(world.evil_project_id, "PROJECT_MEMBER")]
    elif case == "an unknown project":
        projects = [("proj_nonexistent", "PROJECT_MEMBER")]
    elif case == "a project twice":
        projects = [(world.project_a_id, "PROJECT_MEMBER"), (world.project_a_id, "PROJECT_ADMIN")]
    elif case == "an archived project":
        archive = "mutation($id: ID!) { archiveProject(input: {projectId: $id}) { __typename } }"
        await gql(archive, {"id": world.gid("Project", world.project_b_id)}, token=world.token("admin"))
        projects = [(world.project_b_id, "PROJECT_MEMBER")]

    result = await invite(gql, world, emails, role=role, projects=projects)

    assert result["__typename"].endswith("Error")
    assert (result["code"], result["field"]) == (code, field)
    assert await count(database, Invitation) == 0


async def test_fifty_addresses_at_once_are_fine(gql: GraphQL, world: World) -> None:
    result = await invite(gql, world, [f"p{i}@example.com" for i in range(50)])
    assert result["invitedCount"] == 50


async def test_a_personal_organization_takes_no_invitations(gql: GraphQL, world: World) -> None:
    session = await sign_up(gql, "solo@example.com")
    [personal] = (await gql("{ me { organizations { organization { id } } } }", token=session))["me"][
        "organizations"
    ]
    org_id = personal["organization"]["id"]
    data = await gql(
        "mutation($input: InviteMembersInput!) { inviteMembers(input: $input) { __typename ... on Error { code } } }",
        {"input": {"organizationId": org_id, "emails": ["x@example.com"], "role": "ORGANIZATION_ADMIN"}},
        token=session,
    )
    assert data["inviteMembers"] == {"__typename": "InvalidInputError", "code": "PERSONAL_ORGANIZATION"}
    assert (await gql(ME, token=session))["me"]["organizations"][0]["role"] == "ORGANIZATION_ADMIN"


WHO = [
    ("anonymous", "UNAUTHENTICATED"),
    ("project_admin", "FORBIDDEN"),
    ("project_member", "FORBIDDEN"),
    ("outsider", "NOT_FOUND"),  # another org's admin learns nothing about Acme
    ("staff", "NOT_FOUND"),
]


@pytest.mark.parametrize(("actor", "code"), WHO)
async def test_only_organization_admins_invite(gql: GraphQL, world: World, actor: str, code: str) -> None:
    for role, projects in (("MEMBER", None), ("ORGANIZATION_ADMIN", None)):
        result = await invite(gql, world, ["x@example.com"], role=role, projects=projects, actor=actor)
        assert result["code"] == code, (actor, role)


@pytest.mark.parametrize(("actor", "code"), WHO)
async def test_only_organization_admins_resend_revoke_and_see_invitations(
    gql: GraphQL, world: World, actor: str, code: str
) -> None:
    invitation = await invite_one(gql, world, "x@example.com")
    for document in (RESEND, REVOKE):
        data = await gql(document, {"input": {"invitationId": invitation["id"]}}, token=world.token(actor))
        assert next(iter(data.values()))["code"] == code
    node = await gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": invitation["id"]}, token=world.token(actor)
    )
    assert node["node"] is None
    listing = await gql(INVITES, {"id": world.gid("Organization", world.acme_id)}, token=world.token(actor))
    if code == "FORBIDDEN":  # members see their organization, not its Invites list
        assert listing["node"]["invitations"] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
    else:
        assert listing["node"] is None


async def test_an_admin_reaches_an_invitation_by_its_id(gql: GraphQL, world: World) -> None:
    invitation = await invite_one(gql, world, "x@example.com")
    node = await gql(
        "query($id: ID!) { node(id: $id) { ... on Invitation { email state } } }",
        {"id": invitation["id"]},
        token=world.token("admin"),
    )
    assert node["node"] == {"email": "x@example.com", "state": "PENDING"}
