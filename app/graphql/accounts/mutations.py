"""Signing up, in and out; changing and resetting a password; ending sessions; the profile."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.domain.accounts import recovery
from app.domain.accounts import service as accounts
from app.graphql.accounts.queries import OrganizationMembership, organizations_of_viewer
from app.graphql.accounts.types import User
from app.graphql.context import Info
from app.graphql.errors import INPUT, TooManyAttemptsError, mutation, result_union


@strawberry.input(description="A new account.")
class SignUpInput:
    email: str = strawberry.field(description="Email address; unique, compared without regard to case.")
    password: str = strawberry.field(
        description="Password; at least 12 characters, and not a common, leaked or easily guessed one."
    )
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


SignUpResult = result_union("SignUpResult", SessionPayload, TooManyAttemptsError)
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
        await accounts.admit_sign_up(
            info.context.db, email=input.email, settings=info.context.settings, client=info.context.client
        )
        async with info.context.transaction() as session:
            signed_in = await accounts.sign_up(
                session,
                email=input.email,
                password=input.password,
                name=input.name,
                settings=info.context.settings,
                client=info.context.client,
            )
        return _payload(info, signed_in)

    @mutation(
        "Sign in with email and password. Failures slow down the client, and lock the address for clients "
        "that never signed in to it (the owner's known clients are not held by that lock)."
    )
    async def sign_in(self, info: Info, input: Annotated[SignInInput, INPUT]) -> SignInResult:
        signed_in = await accounts.sign_in(
            info.context.db,
            email=input.email,
            password=input.password,
            settings=info.context.settings,
            client=info.context.client,
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


@strawberry.input(description="A new password, given the current one.")
class ChangePasswordInput:
    current_password: str = strawberry.field(description="The password in use now.")
    new_password: str = strawberry.field(
        description="At least 12 characters, and not a common, leaked or easily guessed password."
    )


@strawberry.input(description="The address of the account whose password is forgotten.")
class RequestPasswordResetInput:
    email: str = strawberry.field(description="The account's email address.")


@strawberry.input(description="A new password set with the token of an emailed reset link.")
class ResetPasswordInput:
    token: str = strawberry.field(description="The `token` parameter of the link in the email.")
    new_password: str = strawberry.field(description="The new password (same rules as at sign-up).")


@strawberry.input(description="Which session to end.")
class EndSessionInput:
    session_id: strawberry.ID = strawberry.field(description="A `UserSession.id` of the signed-in user.")


@strawberry.input(description="The signed-in user's profile.")
class UpdateProfileInput:
    name: str = strawberry.field(description="Display name, up to 100 characters; empty: none.")


@strawberry.type(description="The password was changed.")
class ChangePasswordPayload:
    ended_sessions: int = strawberry.field(description="How many other sessions were signed out.")


@strawberry.type(description="The request was taken.")
class RequestPasswordResetPayload:
    message: str = strawberry.field(
        description="The same whether or not the address has an account: look in that mailbox."
    )


@strawberry.type(description="Sessions ended.")
class EndSessionsPayload:
    ended_sessions: int = strawberry.field(description="How many sessions were ended.")


@strawberry.type(description="The profile as saved.")
class UpdateProfilePayload:
    user: User = strawberry.field(description="The signed-in user.")


ChangePasswordResult = result_union("ChangePasswordResult", ChangePasswordPayload, TooManyAttemptsError)
RequestPasswordResetResult = result_union(
    "RequestPasswordResetResult", RequestPasswordResetPayload, TooManyAttemptsError
)
ResetPasswordResult = result_union("ResetPasswordResult", SessionPayload)
EndSessionResult = result_union("EndSessionResult", EndSessionsPayload)
UpdateProfileResult = result_union("UpdateProfileResult", UpdateProfilePayload)

RESET_REQUESTED = (
    "If an account uses this address, an email with a reset link is on its way; the link works once, "
    "for a limited time."
)


@strawberry.type
class AccountSecurityMutations:
    @mutation("Change the password (the current one is required); every other session is signed out.")
    async def change_password(
        self, info: Info, input: Annotated[ChangePasswordInput, INPUT]
    ) -> ChangePasswordResult:
        actor = info.context.actor()
        assert info.context.auth_session is not None
        ended = await recovery.change_password(
            info.context.db,
            user_id=actor.user_id,
            auth_session_id=info.context.auth_session.id,
            current_password=input.current_password,
            new_password=input.new_password,
            settings=info.context.settings,
        )
        return ChangePasswordPayload(ended_sessions=ended)

    @mutation(
        "Email a single-use password-reset link. The answer never tells whether the address has an account."
    )
    async def request_password_reset(
        self, info: Info, input: Annotated[RequestPasswordResetInput, INPUT]
    ) -> RequestPasswordResetResult:
        await recovery.request_password_reset(
            info.context.db, email=input.email, settings=info.context.settings, client=info.context.client
        )
        return RequestPasswordResetPayload(message=RESET_REQUESTED)

    @mutation(
        "Set a new password with an emailed link's token (once); every session ends and a new one starts."
    )
    async def reset_password(
        self, info: Info, input: Annotated[ResetPasswordInput, INPUT]
    ) -> ResetPasswordResult:
        signed_in = await recovery.reset_password(
            info.context.db,
            token=input.token,
            new_password=input.new_password,
            settings=info.context.settings,
            client=info.context.client,
        )
        return SessionPayload(
            token=signed_in.token, expires_at=signed_in.expires_at, user=User.from_model(signed_in.user)
        )

    @mutation("End one of the signed-in user's sessions (another browser, or this one); `signOut` ends all.")
    async def end_session(self, info: Info, input: Annotated[EndSessionInput, INPUT]) -> EndSessionResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            ended = await accounts.end_session(
                session, user_id=actor.user_id, session_id=str(input.session_id)
            )
        return EndSessionsPayload(ended_sessions=ended)

    @mutation("Set the signed-in user's display name.")
    async def update_profile(
        self, info: Info, input: Annotated[UpdateProfileInput, INPUT]
    ) -> UpdateProfileResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            user = await accounts.update_profile(session, user_id=actor.user_id, name=input.name)
        return UpdateProfilePayload(user=User.from_model(user))
