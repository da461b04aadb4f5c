"""GraphQL documents and helpers for the invitation tests."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from strawberry.relay import from_base64

from app.db import Database
from app.domain.invitations.models import Invitation
from app.domain.notifications.models import OutboxMessage, OutboxState
from app.domain.notifications.service import revealed
from tests.support import GraphQL, World

INVITATION_FIELDS = """
id email role state createdAt sentAt expiresAt respondedAt emailDelivery
invitedBy { email }
projects { role project { name } }
"""
INVITE = f"""
mutation($input: InviteMembersInput!) {{
  inviteMembers(input: $input) {{
    __typename
    ... on InviteMembersPayload {{
      invitedCount
      outcomes {{
        __typename
        ... on AddressInvited {{ email invitation {{ {INVITATION_FIELDS} }} }}
        ... on AddressRefusedError {{ email code message field existingInvitation {{ id }} }}
      }}
    }}
    ... on Error {{ code message field }}
  }}
}}
"""
RESEND = f"""
mutation($input: InvitationIdInput!) {{
  resendInvitation(input: $input) {{
    __typename
    ... on InvitationPayload {{ invitation {{ {INVITATION_FIELDS} }} }}
    ... on TooManyAttemptsError {{ retryAfterSeconds }}
    ... on Error {{ code message field }}
  }}
}}
"""
REVOKE = f"""
mutation($input: InvitationIdInput!) {{
  revokeInvitation(input: $input) {{
    __typename
    ... on InvitationPayload {{ invitation {{ {INVITATION_FIELDS} }} }}
    ... on Error {{ code message field }}
  }}
}}
"""
ACCEPT = """
mutation($input: InvitationTokenInput!) {
  acceptInvitation(input: $input) {
    __typename
    ... on AcceptInvitationPayload { role organization { name viewerRole } }
    ... on Error { code message field }
  }
}
"""
DECLINE = """
mutation($input: InvitationTokenInput!) {
  declineInvitation(input: $input) {
    __typename
    ... on DeclineInvitationPayload { invitation { state organizationName } }
    ... on Error { code message field }
  }
}
"""
PREVIEW = """
query($token: String!) {
  invitation(token: $token) { organizationName email invitedByName invitedByEmail role state expiresAt }
}
"""
INVITES = f"""
query($id: ID!) {{
  node(id: $id) {{
    ... on Organization {{
      invitations {{
        __typename
        ... on InvitationList {{ invitations {{ edges {{ node {{ {INVITATION_FIELDS} }} }} }} }}
        ... on Error {{ code }}
      }}
    }}
  }}
}}
"""
SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) { __typename ... on SessionPayload { token } ... on Error { code } }
}
"""
ME = """
{ me { organizations { role organization { name
       projects { edges { node { name viewerRole } } } } } } }
"""
TOKEN_IN_LINK = re.compile(r"/invitations/accept\?token=([A-Za-z0-9_\-]+)")


async def invite(
    gql: GraphQL,
    world: World,
    emails: list[str],
    *,
    role: str = "MEMBER",
    projects: list[tuple[str, str]] | None = None,
    actor: str = "admin",
    org_id: str | None = None,
) -> dict[str, Any]:
    """inviteMembers as `actor`; MEMBER invitations default to Project Member of project A."""
    if projects is None:
        projects = [(world.project_a_id, "PROJECT_MEMBER")] if role == "MEMBER" else []
    variables = {
        "input": {
            "organizationId": world.gid("Organization", org_id or world.acme_id),
            "emails": emails,
            "role": role,
            "projects": [{"projectId": world.gid("Project", p), "role": r} for p, r in projects],
        }
    }
    data = await gql(INVITE, variables, token=world.token(actor))
    return data["inviteMembers"]  # type: ignore[no-any-return]


async def invite_one(gql: GraphQL, world: World, email: str, **options: Any) -> dict[str, Any]:
    """Invite one address that must succeed; the new invitation."""
    result = await invite(gql, world, [email], **options)
    [outcome] = result["outcomes"]
    assert outcome["__typename"] == "AddressInvited", outcome
    return outcome["invitation"]  # type: ignore[no-any-return]


async def queued_token(database: Database, address: str) -> str:
    """The token in the one queued email to the address (read from the outbox before delivery)."""
    async with database.reader() as session:
        [message] = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.to_address == address)
            .where(OutboxMessage.state == OutboxState.QUEUED)
        )
    return _token_in(message)


async def current_token(database: Database, invitation: dict[str, Any]) -> str:
    """The token in the email carrying the invitation's current link."""
    async with database.reader() as session:
        message = await session.scalar(
            select(OutboxMessage)
            .join(Invitation, Invitation.message_id == OutboxMessage.id)  # type: ignore[arg-type]
            .where(Invitation.id == from_base64(invitation["id"])[1])
        )
    assert message is not None
    return _token_in(message)


def _token_in(message: OutboxMessage) -> str:
    text, _ = revealed(message)  # the link as the invitee gets it (the outbox keeps it sealed)
    match = TOKEN_IN_LINK.search(text)
    assert match, text
    return match.group(1)


async def sign_up(gql: GraphQL, email: str) -> str:
    """A new account's session token."""
    data = await gql(SIGN_UP, {"input": {"email": email, "password": "correct horse battery"}})
    assert data["signUp"]["__typename"] == "SessionPayload", data
    return data["signUp"]["token"]  # type: ignore[no-any-return]


async def answer(gql: GraphQL, document: str, token: str, session: str | None) -> dict[str, Any]:
    """acceptInvitation or declineInvitation with an invitation token, as the session's user."""
    data = await gql(document, {"input": {"token": token}}, token=session)
    return next(iter(data.values()))  # type: ignore[no-any-return]


async def invites_list(gql: GraphQL, world: World, actor: str = "admin") -> dict[str, Any]:
    data = await gql(INVITES, {"id": world.gid("Organization", world.acme_id)}, token=world.token(actor))
    return data["node"]["invitations"]  # type: ignore[no-any-return]


def listed(invitations: dict[str, Any]) -> dict[str, str]:
    """The Invites list as {email: state}."""
    return {edge["node"]["email"]: edge["node"]["state"] for edge in invitations["invitations"]["edges"]}


async def sign_in_again(gql: GraphQL, world: World, actor: str) -> None:
    """A fresh session for a world person, after the clock jumped past their session's expiry."""
    person = world.people[actor]
    data = await gql(
        "mutation($input: SignInInput!) { signIn(input: $input) { ... on SessionPayload { token } } }",
        {"input": {"email": person.email, "password": "correct horse battery"}},
    )
    person.token = data["signIn"]["token"]
