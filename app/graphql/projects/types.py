"""A project's members and its own rate limits."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.domain.projects.models import ProjectMembership
from app.domain.projects.models import ProjectRateLimit as RateLimitModel
from app.graphql.accounts.types import User, load_user
from app.graphql.context import Info
from app.graphql.enums import ProjectRoleEnum


@strawberry.type(description="A member of a project and their project role.")
class ProjectMember:
    user_id: strawberry.Private[str]
    role: ProjectRoleEnum = strawberry.field(description="The member's role in this project.")
    added_at: datetime = strawberry.field(description="When they were added to the project (UTC).")

    @classmethod
    def from_model(cls, membership: ProjectMembership) -> ProjectMember:
        return cls(user_id=membership.user_id, role=membership.role, added_at=membership.created_at)

    @strawberry.field(description="The member's account.")
    async def user(self, info: Info) -> User:
        user = await load_user(info, self.user_id)
        assert user is not None
        return user


@strawberry.type(description="A project's own per-model ceiling, below the organization's limit.")
class ProjectRateLimit:
    model: str = strawberry.field(description="The model's catalog id.")
    requests_per_minute: int | None = strawberry.field(description="Requests per minute; null: no own limit.")
    tokens_per_minute: int | None = strawberry.field(description="Tokens per minute; null: no own limit.")
    requests_per_day: int | None = strawberry.field(description="Requests per day; null: no own limit.")
    tokens_per_day: int | None = strawberry.field(description="Tokens per day; null: no own limit.")
    updated_at: datetime = strawberry.field(description="When the limit was last set (UTC).")

    @classmethod
    def from_model(cls, row: RateLimitModel) -> ProjectRateLimit:
        return cls(
            model=row.model_id,
            requests_per_minute=row.requests_per_minute,
            tokens_per_minute=row.tokens_per_minute,
            requests_per_day=row.requests_per_day,
            tokens_per_day=row.tokens_per_day,
            updated_at=row.updated_at,
        )
