"""API keys: created with a secret shown once, listed masked, revoked at once."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.actor import Actor
from app.domain.api_keys.models import ApiKey
from app.domain.base import hash_secret
from app.domain.errors import Conflict, ErrorCode, NotFound
from app.domain.orgs.access import require_project
from app.domain.projects.models import Project
from app.domain.validation import clean_name

SECRET_PREFIX = "csk-"
SECRET_LENGTH = 48  # base62: about 285 bits
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    secret: str


def new_key_secret() -> str:
    return SECRET_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))


def masked(api_key: ApiKey) -> str:
    return f"{api_key.prefix}…{api_key.last_four}"


class ApiKeyState(Enum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"


def key_list(state: ApiKeyState | None = None) -> Select[Any]:
    """API keys in a state (None: any), oldest first; a caller picks the project (and checked who asks)."""
    query = select(ApiKey)
    if state is ApiKeyState.ACTIVE:
        query = query.where(col(ApiKey.revoked_at).is_(None))
    elif state is ApiKeyState.REVOKED:
        query = query.where(col(ApiKey.revoked_at).is_not(None))
    return query.order_by(col(ApiKey.created_at), col(ApiKey.id))


async def create_api_key(session: AsyncSession, actor: Actor, project_id: str, *, name: str) -> CreatedApiKey:
    project, _ = await require_project(session, actor, project_id, admin=True)
    if project.archived_at is not None:
        raise Conflict("The project is archived.", code=ErrorCode.PROJECT_ARCHIVED)
    secret = new_key_secret()
    api_key = ApiKey(
        project_id=project.id,
        name=clean_name(name),
        secret_hash=hash_secret(secret),
        prefix=secret[: len(SECRET_PREFIX) + 4],
        last_four=secret[-4:],
        created_by=actor.user_id,
    )
    session.add(api_key)
    await session.flush()
    return CreatedApiKey(api_key=api_key, secret=secret)


async def get_api_key(session: AsyncSession, actor: Actor, key_id: str) -> tuple[ApiKey, Project]:
    api_key = await session.get(ApiKey, key_id)
    if api_key is None:
        raise NotFound("No API key with this ID is visible to you.", field="apiKeyId")
    try:
        project, _ = await require_project(session, actor, api_key.project_id)
    except NotFound:
        raise NotFound("No API key with this ID is visible to you.", field="apiKeyId") from None
    return api_key, project


async def revoke_api_key(session: AsyncSession, actor: Actor, key_id: str) -> ApiKey:
    """Revoke a key; it is refused from the next request on."""
    api_key, project = await get_api_key(session, actor, key_id)
    await require_project(session, actor, api_key.project_id, admin=True)
    if api_key.revoked_at is not None:
        raise Conflict("This API key is already revoked.", code=ErrorCode.ALREADY_REVOKED)
    api_key.revoked_at, api_key.revoked_by = clock.now(), actor.user_id
    session.add(api_key)
    return api_key
