"""The per-request context: database, signed-in user, DataLoaders, settings, payments."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import strawberry
from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import FieldExtension
from strawberry.litestar import BaseContext

from app.db import Database
from app.domain.accounts.models import AuthSession, User
from app.domain.accounts.service import authenticate
from app.domain.actor import Actor
from app.domain.errors import DomainError, Unauthenticated
from app.fleet.service import Fleet
from app.graphql.loaders import Loaders
from app.services import Services
from app.settings import Settings


class Context(BaseContext, kw_only=True):
    """What every resolver may use; built once per request."""

    db: Database
    settings: Settings
    services: Services  # the app's long-lived services: catalog, payments, mail
    fleet: Fleet | None = None  # the fleet's admission service (its rate-limit buckets)
    request_id: str
    user: User | None = None
    auth_session: AuthSession | None = None
    auth_error: DomainError | None = None
    loaders: Loaders | None = None
    read_session: AsyncSession | None = None
    read_lock: asyncio.Lock = msgspec.field(default_factory=asyncio.Lock)

    async def session(self) -> AsyncSession:
        """The request's read session, opened on first use, with its connection checked out."""
        # Sibling DataLoaders dispatch concurrently; a session refuses a second operation while it is
        # still opening a connection (e.g. right after a mutation's end_read), so open it under a lock.
        async with self.read_lock:
            if self.read_session is None:
                self.read_session = self.db.reader()
            await self.read_session.connection()
        return self.read_session

    def actor(self) -> Actor:
        """The signed-in user, or Unauthenticated (saying why: no token, expired, revoked)."""
        if self.user is None:
            raise self.auth_error or Unauthenticated(
                "Sign in first: send `Authorization: Bearer <session token>`."
            )
        return Actor(user_id=self.user.id, is_staff=self.user.is_staff)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; afterwards reads see its effects (fresh snapshot, empty loader caches)."""
        async with self.db.transaction() as session:
            yield session
        await self.end_read()

    async def end_read(self) -> None:
        """End the read transaction so the next read sees the latest committed data."""
        if self.read_session is not None:
            await self.read_session.commit()
        assert self.loaders is not None
        self.loaders.clear()

    async def close(self) -> None:
        if self.read_session is not None:
            await self.read_session.close()


Info = strawberry.Info[Context, None]


class FreshReads(FieldExtension):
    """A mutation reads what it (or the one before it) wrote: its read snapshot ends before and after it."""

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: strawberry.Info, **kwargs: Any
    ) -> Any:
        # Mutations run one at a time, so no sibling field is reading while the snapshot ends.
        await info.context.end_read()
        try:
            return await next_(source, info, **kwargs)
        finally:
            await info.context.end_read()


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def build_context(request: Request[Any, Any, Any]) -> AsyncIterator[Context]:
    """Litestar dependency: authenticate the bearer token (if any) and open the request's context."""
    state = request.app.state
    context = Context(
        db=state.db,
        settings=state.settings,
        services=state.services,
        fleet=getattr(state, "fleet", None),
        request_id=request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex,
    )
    context.loaders = Loaders(context.session)
    try:
        token = bearer_token(request)
        if token:
            try:
                context.user, context.auth_session = await authenticate(await context.session(), token)
            except Unauthenticated as exc:
                context.auth_error = exc
            await context.end_read()
        yield context
    finally:
        await context.close()
