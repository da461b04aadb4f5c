"""Users as the console shows them, and the one way to load a user by id."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from app.domain.accounts.models import User as UserModel
from app.domain.errors import NotFound
from app.domain.orgs import access
from app.graphql.context import Info
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
