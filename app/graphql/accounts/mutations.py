"""Signing up, in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.domain.accounts import service as accounts
from app.graphql.accounts.queries import OrganizationMembership, organizations_of_viewer
from app.graphql.accounts.types import User
from app.graphql.context import Info
from app.graphql.errors import INPUT, TooManyAttemptsError, mutation, result_union


@strawberry.input(description="A new account.")
class SignUpInput:
    email: str = strawberry.field(description="Email address; unique, compared without regard to case.")
    password: str = strawberry.field(description="Password; at least 12 characters.")
    name: str = strawberry.field(default="", description="Display name (optional).")


@strawberry.input(description="Credentials of an existing account.")
class SignInInput:
    email: str = strawberry.field(description="The account's email address.")
    password: str = strawberry.field(description="The account's password.")


@strawberry.input(description="Which sessions to end.")
class SignOutInput:
    everywhere: bool = strawberry.field(
        default=False, description="End every session of the user, not only this one."
    )


@strawberry.type(description="A new session. Send the token as `Authorization: Bearer <token>`.")
class SessionPayload:
    token: str = strawberry.field(description="The session token; shown only now, keep it secret.")
    expires_at: datetime = strawberry.field(description="When the session expires (UTC).")
    user: User = strawberry.field(description="The signed-in user.")

    @strawberry.field(
        description="The organizations the user belongs to, with their role in each, oldest first."
    )
    async def organizations(self, info: Info) -> list[OrganizationMembership]:
        return await organizations_of_viewer(info)


@strawberry.type(description="Sessions ended.")
class SignOutPayload:
    revoked_sessions: int = strawberry.field(description="How many sessions were ended.")


SignUpResult = result_union("SignUpResult", SessionPayload)
SignInResult = result_union("SignInResult", SessionPayload, TooManyAttemptsError)
SignOutResult = result_union("SignOutResult", SignOutPayload)


def _payload(info: Info, signed_in: accounts.SignedIn) -> SessionPayload:
    """The new session; the rest of the operation reads as its user (e.g. the payload's organizations)."""
    info.context.user, info.context.auth_error = signed_in.user, None
    return SessionPayload(
        token=signed_in.token, expires_at=signed_in.expires_at, user=User.from_model(signed_in.user)
    )


@strawberry.type
class AccountMutations:
    @mutation("Create an account with its Personal organization and Default project, and sign in.")
    async def sign_up(self, info: Info, input: Annotated[SignUpInput, INPUT]) -> SignUpResult:
        async with info.context.transaction() as session:
            signed_in = await accounts.sign_up(
                session,
                email=input.email,
                password=input.password,
                name=input.name,
                settings=info.context.settings,
            )
        return _payload(info, signed_in)

    @mutation("Sign in with email and password. Repeated failures lock the address for a while.")
    async def sign_in(self, info: Info, input: Annotated[SignInInput, INPUT]) -> SignInResult:
        signed_in = await accounts.sign_in(
            info.context.db, email=input.email, password=input.password, settings=info.context.settings
        )
        return _payload(info, signed_in)

    @mutation("End the current session (or every session of the user).")
    async def sign_out(self, info: Info, input: Annotated[SignOutInput, INPUT]) -> SignOutResult:
        actor = info.context.actor()
        assert info.context.auth_session is not None
        async with info.context.transaction() as session:
            count = await accounts.sign_out(
                session,
                auth_session_id=info.context.auth_session.id,
                user_id=actor.user_id,
                everywhere=input.everywhere,
            )
        return SignOutPayload(revoked_sessions=count)
