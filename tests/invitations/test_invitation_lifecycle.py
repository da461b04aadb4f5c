"""PENDING → ACCEPTED | REJECTED | REVOKED | EXPIRED, resends, and the Invites list's 30 days."""

from __future__ import annotations

from sqlalchemy import select

from app.clock import FrozenClock
from app.db import Database
from app.domain.notifications.models import OutboxMessage, OutboxState
from tests.invitations.support import (
    ACCEPT,
    DECLINE,
    PREVIEW,
    RESEND,
    REVOKE,
    answer,
    current_token,
    invite,
    invite_one,
    invites_list,
    listed,
    queued_token,
    sign_in_again,
    sign_up,
)
from tests.support import GraphQL, World


async def resend(gql: GraphQL, world: World, invitation_id: str) -> dict:
    data = await gql(RESEND, {"input": {"invitationId": invitation_id}}, token=world.token("admin"))
    return data["resendInvitation"]  # type: ignore[no-any-return]


async def revoke(gql: GraphQL, world: World, invitation_id: str) -> dict:
    data = await gql(REVOKE, {"input": {"invitationId": invitation_id}}, token=world.token("admin"))
    return data["revokeInvitation"]  # type: ignore[no-any-return]


async def preview_state(gql: GraphQL, token: str) -> str | None:
    preview = (await gql(PREVIEW, {"token": token}))["invitation"]
    return preview["state"] if preview else None


async def test_an_unanswered_invitation_expires_after_seven_days(
    gql: GraphQL, world: World, database: Database, clock: FrozenClock
) -> None:
    invitation = await invite_one(gql, world, "ann@example.com")
    assert invitation["expiresAt"] == "2026-11-30T12:00:00+00:00"
    token = await queued_token(database, "ann@example.com")
    ann = await sign_up(gql, "ann@example.com")

    clock.advance(days=7)
    assert await preview_state(gql, token) == "EXPIRED"
    accepted = await answer(gql, ACCEPT, token, ann)
    assert (accepted["__typename"], accepted["code"]) == ("ConflictError", "INVITATION_EXPIRED")
    assert listed(await invites_list(gql, world)) == {"ann@example.com": "EXPIRED"}


async def test_a_resend_gives_a_new_link_and_the_old_one_stops_working(
    gql: GraphQL, world: World, database: Database, clock: FrozenClock
) -> None:
    invitation = await invite_one(gql, world, "ann@example.com")
    old_token = await queued_token(database, "ann@example.com")
    clock.advance(days=8)

    resent = await resend(gql, world, invitation["id"])

    assert resent["__typename"] == "InvitationPayload"
    assert resent["invitation"]["state"] == "PENDING"
    assert resent["invitation"]["sentAt"] == "2026-12-01T12:00:00+00:00"
    assert resent["invitation"]["expiresAt"] == "2026-12-08T12:00:00+00:00"
    assert resent["invitation"]["createdAt"] == invitation["createdAt"]
    new_token = await queued_token(database, "ann@example.com")
    assert new_token != old_token
    assert await preview_state(gql, old_token) is None
    ann = await sign_up(gql, "ann@example.com")
    stale = await answer(gql, ACCEPT, old_token, ann)
    assert (stale["__typename"], stale["code"]) == ("NotFoundError", "NOT_FOUND")
    assert (await answer(gql, ACCEPT, new_token, ann))["__typename"] == "AcceptInvitationPayload"


async def test_a_resend_withdraws_the_email_with_the_old_link_if_still_queued(
    gql: GraphQL, world: World, database: Database
) -> None:
    invitation = await invite_one(gql, world, "ann@example.com")
    old_token = await queued_token(database, "ann@example.com")
    await resend(gql, world, invitation["id"])
    async with database.reader() as session:
        messages = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))  # type: ignore[arg-type]
    assert sorted(m.state.value for m in messages) == ["CANCELLED", "QUEUED"]
    cancelled = next(m for m in messages if m.state is OutboxState.CANCELLED)
    assert old_token not in cancelled.body_text and "[redacted]" in cancelled.body_text


async def test_three_resends_a_day_at_most(gql: GraphQL, world: World, clock: FrozenClock) -> None:
    invitation = await invite_one(gql, world, "ann@example.com")
    for _ in range(3):
        assert (await resend(gql, world, invitation["id"]))["__typename"] == "InvitationPayload"
        clock.advance(hours=1)

    refused = await resend(gql, world, invitation["id"])

    assert (refused["__typename"], refused["code"]) == ("TooManyAttemptsError", "TOO_MANY_ATTEMPTS")
    assert refused["retryAfterSeconds"] == 21 * 3600 + 1
    clock.advance(hours=21, seconds=1)
    assert (await resend(gql, world, invitation["id"]))["__typename"] == "InvitationPayload"


async def test_revoke_works_only_before_acceptance(gql: GraphQL, world: World, database: Database) -> None:
    revoked_one = await invite_one(gql, world, "ann@example.com")
    token = await queued_token(database, "ann@example.com")

    result = await revoke(gql, world, revoked_one["id"])

    assert result["invitation"]["state"] == "REVOKED"
    assert result["invitation"]["emailDelivery"] == "CANCELLED"
    assert await preview_state(gql, token) == "REVOKED"
    ann = await sign_up(gql, "ann@example.com")
    assert (await answer(gql, ACCEPT, token, ann))["code"] == "INVITATION_REVOKED"
    assert (await revoke(gql, world, revoked_one["id"]))["code"] == "INVITATION_REVOKED"
    assert (await resend(gql, world, revoked_one["id"]))["code"] == "INVITATION_REVOKED"
    assert listed(await invites_list(gql, world)) == {}  # the list holds pending, declined, expired

    accepted_one = await invite_one(gql, world, "bob@example.com")
    bob = await sign_up(gql, "bob@example.com")
    await answer(gql, ACCEPT, await queued_token(database, "bob@example.com"), bob)
    refused = await revoke(gql, world, accepted_one["id"])
    assert (refused["__typename"], refused["code"]) == ("ConflictError", "INVITATION_ACCEPTED")


async def test_the_invitee_declines(gql: GraphQL, world: World, database: Database) -> None:
    invitation = await invite_one(gql, world, "ann@example.com")
    token = await queued_token(database, "ann@example.com")
    ann = await sign_up(gql, "ann@example.com")

    declined = await answer(gql, DECLINE, token, ann)

    assert declined == {
        "__typename": "DeclineInvitationPayload",
        "invitation": {"state": "REJECTED", "organizationName": "Acme"},
    }
    assert listed(await invites_list(gql, world)) == {"ann@example.com": "REJECTED"}
    assert (await answer(gql, ACCEPT, token, ann))["code"] == "INVITATION_DECLINED"
    assert (await answer(gql, DECLINE, token, ann))["code"] == "INVITATION_DECLINED"
    assert (await resend(gql, world, invitation["id"]))["code"] == "INVITATION_DECLINED"


async def test_only_the_invited_address_may_answer(gql: GraphQL, world: World, database: Database) -> None:
    await invite_one(gql, world, "ann@example.com")
    token = await queued_token(database, "ann@example.com")
    mallory = await sign_up(gql, "mallory@example.com")

    for document in (ACCEPT, DECLINE):
        refused = await answer(gql, document, token, mallory)
        assert (refused["__typename"], refused["code"]) == ("ForbiddenError", "INVITATION_EMAIL_MISMATCH")
    for actor in ("admin", "project_member"):  # members of Acme are no exception
        assert (await answer(gql, ACCEPT, token, world.token(actor)))["code"] == "INVITATION_EMAIL_MISMATCH"
    assert (await answer(gql, ACCEPT, token, None))["code"] == "UNAUTHENTICATED"
    assert await preview_state(gql, token) == "PENDING"
    assert (await answer(gql, ACCEPT, "not-a-token", mallory))["code"] == "NOT_FOUND"
    assert (await gql(PREVIEW, {"token": "x" * 5000}))["invitation"] is None


async def test_accepting_twice_into_the_same_organization_is_refused(
    gql: GraphQL, world: World, database: Database, clock: FrozenClock
) -> None:
    first = await invite_one(gql, world, "ann@example.com")
    clock.advance(days=8)  # expired: a new invitation may be sent, and the old one resent
    second = await invite_one(gql, world, "ann@example.com", role="ORGANIZATION_ADMIN")
    await resend(gql, world, first["id"])
    first_token, second_token = await current_token(database, first), await current_token(database, second)
    ann = await sign_up(gql, "ann@example.com")

    assert (await answer(gql, ACCEPT, second_token, ann))["role"] == "ORGANIZATION_ADMIN"
    refused = await answer(gql, ACCEPT, first_token, ann)
    assert (refused["__typename"], refused["code"]) == ("ConflictError", "ALREADY_MEMBER")
    assert (await resend(gql, world, first["id"]))["code"] == "ALREADY_MEMBER"


async def test_the_invites_list_shows_the_last_30_days(
    gql: GraphQL, world: World, database: Database, clock: FrozenClock
) -> None:
    await invite(gql, world, ["expires@example.com", "declines@example.com", "accepts@example.com"])
    decliner = await sign_up(gql, "declines@example.com")
    await answer(gql, DECLINE, await queued_token(database, "declines@example.com"), decliner)
    accepter = await sign_up(gql, "accepts@example.com")
    await answer(gql, ACCEPT, await queued_token(database, "accepts@example.com"), accepter)
    assert listed(await invites_list(gql, world)) == {
        "expires@example.com": "PENDING",
        "declines@example.com": "REJECTED",
    }

    clock.advance(days=30)  # declined 30 days ago: gone; expired 23 days ago: listed
    await sign_in_again(gql, world, "admin")
    await invite_one(gql, world, "later@example.com")
    assert listed(await invites_list(gql, world)) == {
        "later@example.com": "PENDING",
        "expires@example.com": "EXPIRED",
    }

    clock.advance(days=7)  # expired 30 days ago: gone
    assert listed(await invites_list(gql, world)) == {"later@example.com": "EXPIRED"}
