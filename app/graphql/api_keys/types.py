"""A project's API keys, masked."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from app.domain.api_keys import service as api_keys
from app.domain.api_keys.models import ApiKey as ApiKeyModel
from app.graphql.accounts.types import User, load_user
from app.graphql.context import Info
from app.graphql.errors import describe_enum
from app.graphql.visibility import visible_nodes

ApiKeyStateEnum = describe_enum(
    api_keys.ApiKeyState,
    "Whether an API key still works.",
    ACTIVE="The key works.",
    REVOKED="The key was revoked; it is refused.",
)


@strawberry.type(
    description="An API key of a project. Its secret is shown once, at creation; lists show it masked."
)
class ApiKey(relay.Node):
    key_id: relay.NodeID[str]
    project_id: strawberry.Private[str]
    creator_id: strawberry.Private[str | None]
    name: str = strawberry.field(description="The key's name.")
    masked_key: str = strawberry.field(
        description="The key's first and last characters, e.g. `csk-ab12…wxyz`."
    )
    created_at: datetime = strawberry.field(description="When the key was created (UTC).")
    last_used_at: datetime | None = strawberry.field(description="When the key last ran a request (UTC).")
    revoked_at: datetime | None = strawberry.field(
        description="When the key was revoked (UTC); null: active."
    )

    @classmethod
    def from_model(cls, key: ApiKeyModel) -> ApiKey:
        return cls(
            key_id=key.id,
            project_id=key.project_id,
            creator_id=key.created_by,
            name=key.name,
            masked_key=api_keys.masked(key),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )

    @strawberry.field(description="Whether the key may still be used.")
    def is_active(self) -> bool:
        return self.revoked_at is None

    @strawberry.field(description="Who created the key; null if that account is gone.")
    async def created_by(self, info: Info) -> User | None:
        return await load_user(info, self.creator_id)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Any]:
        async def lookup(session: Any, actor: Any, key_id: str) -> ApiKey:
            key, _ = await api_keys.get_api_key(session, actor, key_id)
            return cls.from_model(key)

        return await visible_nodes(info, lookup, node_ids, required)
