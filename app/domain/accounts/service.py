"""Sign-up, sign-in, sessions, and staff users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.accounts.models import AuthSession, SignInThrottle, User
from app.domain.accounts.passwords import hash_password, verify_password
from app.domain.base import hash_secret, new_secret
from app.domain.durations import in_words
from app.domain.errors import Conflict, ErrorCode, InvalidInput, Throttled, Unauthenticated
from app.domain.orgs.models import OrganizationType
from app.domain.orgs.service import create_organization
from app.domain.validation import clean_name, normalize_email
from app.settings import Settings

MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True)
class SignedIn:
    """A new session: the token is returned to the client once and never stored."""

    user: User
    token: str
    expires_at: datetime


def check_password(password: str, settings: Settings) -> None:
    if len(password) < settings.password_min_length:
        raise InvalidInput(
            f"The password must be at least {settings.password_min_length} characters.",
            code=ErrorCode.TOO_SHORT,
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("The password is too long.", code=ErrorCode.TOO_LONG, field="password")


async def start_session(session: AsyncSession, user: User, settings: Settings) -> SignedIn:
    """A new session for the user; the token is returned once and only its hash is kept."""
    token = new_secret(32)
    expires_at = clock.now() + timedelta(hours=settings.session_ttl_hours)
    session.add(AuthSession(user_id=user.id, token_hash=hash_secret(token), expires_at=expires_at))
    return SignedIn(user=user, token=token, expires_at=expires_at)


async def create_user(
    session: AsyncSession, *, email: str, password: str, name: str, settings: Settings, is_staff: bool = False
) -> User:
    """A user with a hashed password; EMAIL_TAKEN if the address (in any case) has an account."""
    normalized = normalize_email(email)
    display_name = clean_name(name, field="name") if name.strip() else ""
    check_password(password, settings)
    if await session.scalar(select(col(User.id)).where(col(User.email_normalized) == normalized)):
        raise Conflict(
            "An account with this email address already exists.", code=ErrorCode.EMAIL_TAKEN, field="email"
        )
    user = User(
        email=email.strip(),
        email_normalized=normalized,
        name=display_name,
        password_hash=await hash_password(password),
        is_staff=is_staff,
    )
    session.add(user)
    await session.flush()
    return user


async def sign_up(
    session: AsyncSession, *, email: str, password: str, name: str, settings: Settings
) -> SignedIn:
    """Create the user, their Personal organization with its Default project, and a session."""
    user = await create_user(session, email=email, password=password, name=name, settings=settings)
    await create_organization(session, owner=user, name="Personal", type=OrganizationType.PERSONAL)
    return await start_session(session, user, settings)


async def sign_in(db: Database, *, email: str, password: str, settings: Settings) -> SignedIn:
    """A new session for the right password; repeated failures for one address lock it for a while.

    A failure is committed before the error is raised, so that the throttle counts it.
    """
    try:
        normalized = normalize_email(email)
    except InvalidInput:
        raise Unauthenticated("Wrong email or password.", code=ErrorCode.INVALID_CREDENTIALS) from None
    now = clock.now()
    async with db.transaction() as session:
        throttle = await session.get(SignInThrottle, normalized, with_for_update=True)
        if throttle and throttle.locked_until and throttle.locked_until > now:
            wait = int((throttle.locked_until - now).total_seconds()) + 1
            raise Throttled(
                f"Too many failed sign-ins for this address; try again in {in_words(wait)}.",
                retry_after_seconds=wait,
                field="email",
            )
        user = await session.scalar(select(User).where(col(User.email_normalized) == normalized))
        if await verify_password(user.password_hash if user else None, password) and user:
            if throttle:
                await session.delete(throttle)
            return await start_session(session, user, settings)
        _count_failure(session, throttle, normalized, now, settings)
    raise Unauthenticated("Wrong email or password.", code=ErrorCode.INVALID_CREDENTIALS)


def _count_failure(
    session: AsyncSession, throttle: SignInThrottle | None, email: str, now: datetime, settings: Settings
) -> None:
    window = timedelta(minutes=settings.sign_in_lockout_minutes)
    if throttle is None:
        throttle = SignInThrottle(email_normalized=email, window_started_at=now)
        session.add(throttle)
    elif now - throttle.window_started_at > window:
        throttle.failures, throttle.window_started_at, throttle.locked_until = 0, now, None
    throttle.failures += 1
    if throttle.failures >= settings.sign_in_max_failures:
        throttle.locked_until = now + window


async def authenticate(session: AsyncSession, token: str) -> tuple[User, AuthSession]:
    """The user and session of a bearer token, or Unauthenticated (unknown, revoked or expired)."""
    row = (
        await session.execute(
            select(User, AuthSession)
            .join(AuthSession, col(AuthSession.user_id) == col(User.id))
            .where(col(AuthSession.token_hash) == hash_secret(token))
        )
    ).first()
    if row is None or row[1].revoked_at is not None:
        raise Unauthenticated("The session token is not valid; sign in again.")
    if row[1].expires_at <= clock.now():
        raise Unauthenticated("The session has expired; sign in again.", code=ErrorCode.SESSION_EXPIRED)
    return row[0], row[1]


async def sign_out(session: AsyncSession, *, auth_session_id: str, user_id: str, everywhere: bool) -> int:
    """Revoke this session, or every session of the user; returns how many were revoked."""
    query = update(AuthSession).where(col(AuthSession.revoked_at).is_(None))
    query = (
        query.where(col(AuthSession.user_id) == user_id)
        if everywhere
        else query.where(col(AuthSession.id) == auth_session_id)
    )
    result = await session.execute(query.values(revoked_at=clock.now()))
    return result.rowcount  # type: ignore[attr-defined, no-any-return]
