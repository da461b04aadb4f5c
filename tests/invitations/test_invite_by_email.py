"""An Organization Admin invites people; the email arrives over SMTP; the invitee signs up and accepts."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlmodel import SQLModel

from app.db import Database
from app.domain.base import hash_secret
from app.domain.invitations.models import Invitation
from app.domain.notifications.mailer import deliver_due
from app.settings import Settings
from tests.invitations.support import ACCEPT, ME, PREVIEW, answer, invite, sign_up
from tests.mail_server import SmtpServer, text_of
from tests.support import GraphQL, World

MEMBERS = """
query($id: ID!) { node(id: $id) { ... on Organization { members { ... on MemberList {
  members { edges { node { role user { email } projectRoles { role project { name } } } } } } } } } }
"""


async def test_three_invitations_go_out_by_email_and_a_link_makes_a_member_once(
    gql: GraphQL, world: World, database: Database, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    addresses = ["Ann@Example.com", "bob@example.com", "cy@example.com"]
    result = await invite(
        gql,
        world,
        addresses,
        projects=[(world.project_a_id, "PROJECT_ADMIN"), (world.project_b_id, "PROJECT_MEMBER")],
    )
    assert result["__typename"] == "InviteMembersPayload"
    assert result["invitedCount"] == 3
    assert [o["invitation"]["emailDelivery"] for o in result["outcomes"]] == ["QUEUED"] * 3
    assert smtp_server.inbox.messages == []  # the API answered before any mail was sent

    report = await deliver_due(database, smtp_settings)

    assert len(report.sent) == 3 and not report.failed and not report.retrying
    inbox = smtp_server.inbox
    assert sorted(m["To"] for m in inbox.messages) == sorted(addresses)
    [mail] = inbox.to("Ann@Example.com")
    assert mail["Subject"] == "You are invited to join Acme on Inference Cloud"
    assert mail["From"] == smtp_settings.mail_from
    body = text_of(mail)
    assert '"Acme"' in body and "admin@example.com" in body and "as a member" in body
    token = inbox.token_for("Ann@Example.com")
    assert len(token) >= 43  # 256 bits

    preview = (await gql(PREVIEW, {"token": token}))["invitation"]
    assert preview == {
        "organizationName": "Acme",
        "email": "Ann@Example.com",  # as invited: the accept page pre-fills it for the link's holder
        "invitedByName": "admin",
        "invitedByEmail": "admin@example.com",
        "role": "MEMBER",
        "state": "PENDING",
        "expiresAt": preview["expiresAt"],
    }

    ann = await sign_up(
        gql, "ann@example.com"
    )  # another case than invited: emails compare case-insensitively
    accepted = await answer(gql, ACCEPT, token, ann)
    assert accepted == {
        "__typename": "AcceptInvitationPayload",
        "role": "MEMBER",
        "organization": {"name": "Acme", "viewerRole": "MEMBER"},
    }

    me = (await gql(ME, token=ann))["me"]
    acme = next(m for m in me["organizations"] if m["organization"]["name"] == "Acme")
    assert acme["role"] == "MEMBER"
    assert {
        e["node"]["name"]: e["node"]["viewerRole"] for e in acme["organization"]["projects"]["edges"]
    } == {
        "A": "PROJECT_ADMIN",
        "B": "PROJECT_MEMBER",
    }
    members = await gql(MEMBERS, {"id": world.gid("Organization", world.acme_id)}, token=world.token("admin"))
    [ann_member] = [
        e["node"]
        for e in members["node"]["members"]["members"]["edges"]
        if e["node"]["user"]["email"] == "ann@example.com"
    ]
    assert ann_member["role"] == "MEMBER"
    assert sorted((r["project"]["name"], r["role"]) for r in ann_member["projectRoles"]) == [
        ("A", "PROJECT_ADMIN"),
        ("B", "PROJECT_MEMBER"),
    ]

    again = await answer(gql, ACCEPT, token, ann)
    assert again["__typename"] == "ConflictError"
    assert (again["code"], again["field"]) == ("INVITATION_ACCEPTED", "token")
    assert (await gql(PREVIEW, {"token": token}))["invitation"]["state"] == "ACCEPTED"


async def test_tokens_are_kept_only_as_hashes(
    gql: GraphQL, world: World, database: Database, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    await invite(gql, world, ["ann@example.com", "bob@example.com"])
    await deliver_due(database, smtp_settings)
    tokens = [smtp_server.inbox.token_for(a) for a in ("ann@example.com", "bob@example.com")]

    contents = await dump(database)
    assert "ann@example.com" in contents  # the dump is real
    for token in tokens:
        assert token not in contents
    async with database.reader() as session:
        hashes = set(await session.scalars(select(Invitation.token_hash)))
    assert hashes == {hash_secret(token) for token in tokens}


async def dump(database: Database) -> str:
    """Every row of every table as text."""
    lines = []
    async with database.write_engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in await connection.execute(text(f'SELECT * FROM "{table.name}"')):
                lines.append(f"{table.name}: {tuple(row)}")
    return "\n".join(lines)
