"""The signed-in user's own account: session status and list, password change and reset, display name."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from app.domain.accounts import recovery
from app.domain.accounts import service as accounts
from app.domain.accounts.models import AuthSession
from app.domain.errors import ErrorCode
from app.graphql.accounts import SessionPayload
from app.graphql.context import Info
from app.graphql.errors import (
    INPUT,
    TooManyAttemptsError,
    UnauthenticatedError,
    field_with_errors,
    mutation,
    result_union,
)
from app.graphql.types import User


@strawberry.enum(description="What the request's bearer token is: lets the console say why `me` is null.")
class SessionStatus(Enum):
    NONE = strawberry.enum_value("NONE", description="No `Authorization: Bearer` token was sent.")
    ACTIVE = strawberry.enum_value("ACTIVE", description="A live session: `me` is the signed-in user.")
    EXPIRED = strawberry.enum_value("EXPIRED", description="The session has expired: sign in again.")
    INVALID = strawberry.enum_value(
        "INVALID", description="The token is unknown or its session was ended: sign in again."
    )


@strawberry.type(description="One of the signed-in user's live sessions (a browser or a script).")
class UserSession:
    id: strawberry.ID = strawberry.field(description="The session's ID, for `endSession`.")
    created_at: datetime = strawberry.field(description="When it was signed in (UTC).")
    last_used_at: datetime | None = strawberry.field(
        description="When it was last used (UTC, to the minute); null: not since sign-in."
    )
    expires_at: datetime = strawberry.field(description="When it expires (UTC).")
    user_agent: str = strawberry.field(description="The browser or client that signed in (may be empty).")
    client_address: str = strawberry.field(description="The network address it signed in from.")
    current: bool = strawberry.field(description="Whether this is the session making the request.")

    @classmethod
    def from_model(cls, session: AuthSession, current_id: str | None) -> UserSession:
        return cls(
            id=strawberry.ID(session.id),
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            expires_at=session.expires_at,
            user_agent=session.user_agent,
            client_address=session.client_address,
            current=session.id == current_id,
        )


@strawberry.type(description="The signed-in user's live sessions, most recently used first.")
class UserSessions:
    sessions: list[UserSession] = strawberry.field(description="Each live session.")


SessionsResult = Annotated[
    UserSessions | UnauthenticatedError,
    strawberry.union("SessionsResult", description="The sessions, or UNAUTHENTICATED / SESSION_EXPIRED."),
]


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
class AccountSecurityQueries:
    @strawberry.field(description="Whether the request carries a live session, an expired one, or none.")
    def session_status(self, info: Info) -> SessionStatus:
        context = info.context
        if context.user is not None:
            return SessionStatus.ACTIVE
        if context.auth_error is None:
            return SessionStatus.NONE
        return (
            SessionStatus.EXPIRED
            if context.auth_error.code is ErrorCode.SESSION_EXPIRED
            else SessionStatus.INVALID
        )

    @field_with_errors(
        "The signed-in user's live sessions (created, last used, browser), to end any of them."
    )
    async def my_sessions(self, info: Info) -> SessionsResult:
        actor = info.context.actor()
        current = info.context.auth_session.id if info.context.auth_session else None
        rows = await accounts.list_sessions(await info.context.session(), user_id=actor.user_id)
        return UserSessions(sessions=[UserSession.from_model(row, current) for row in rows])


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
        await info.context.end_read()
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
        await info.context.end_read()
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
