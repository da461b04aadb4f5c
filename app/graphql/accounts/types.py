"""Users as the console shows them, and the one way to load a user by id."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay

from app.domain.accounts.models import AuthSession
from app.domain.accounts.models import User as UserModel
from app.domain.errors import NotFound
from app.domain.orgs import access
from app.graphql.context import Info
from app.graphql.errors import UnauthenticatedError
from app.graphql.visibility import visible_nodes


@strawberry.type(description="A person with an account.")
class User(relay.Node):
    user_id: relay.NodeID[str]
    email: str = strawberry.field(description="The email address the user signs in with.")
    name: str = strawberry.field(description="The user's display name (may be empty).")
    created_at: datetime = strawberry.field(description="When the account was created (UTC).")

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(user_id=user.id, email=user.email, name=user.name, created_at=user.created_at)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, user_id: str) -> User:
            if user_id != actor.user_id and not await access.shares_organization(session, actor, user_id):
                raise NotFound("No such user.")
            user = await session.get(UserModel, user_id)
            if user is None:
                raise NotFound("No such user.")
            return cls.from_model(user)

        return await visible_nodes(info, lookup, node_ids, required)


async def load_user(info: Info, user_id: str | None) -> User | None:
    if user_id is None:
        return None
    assert info.context.loaders
    user = await info.context.loaders.user.load(user_id)
    return User.from_model(user) if user else None


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
