"""Sign-up, sign-in, sessions, password changes, the profile, and staff users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.accounts import throttle
from app.domain.accounts.clients import NO_CLIENT, UNKNOWN, Client
from app.domain.accounts.models import AuthSession, User
from app.domain.accounts.passwords import check_password as check_strength
from app.domain.accounts.passwords import hash_password, verify_password
from app.domain.base import hash_secret, new_secret
from app.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound, Unauthenticated
from app.domain.orgs.models import OrganizationType
from app.domain.orgs.service import create_organization
from app.domain.validation import clean_name, normalize_email
from app.settings import Settings

# how stale `last used` may get: refreshing it on every request would make every read a write
LAST_USED_RESOLUTION = timedelta(minutes=1)
WRONG_CREDENTIALS = "Wrong email or password."


@dataclass(frozen=True)
class SignedIn:
    """A new session: the token is returned to the client once and never stored."""

    user: User
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class AuthRules:
    """The attempt limits of sign-in, sign-up and password reset, from the settings."""

    sign_in_client: throttle.Rule
    sign_in_account: throttle.Rule
    sign_up_client: throttle.Rule
    sign_up_account: throttle.Rule
    reset_client: throttle.Rule
    reset_account: throttle.Rule

    @classmethod
    def of(cls, settings: Settings) -> AuthRules:
        lockout = timedelta(minutes=settings.sign_in_lockout_minutes)
        hour = timedelta(hours=1)
        many = "Too many attempts from your network."
        return cls(
            throttle.Rule("sign-in-client", settings.sign_in_client_max_failures, lockout, many),
            # a lock for unknown clients; the owner's known clients are not held by it
            throttle.Rule(
                "sign-in-account",
                settings.sign_in_max_failures,
                lockout,
                "Too many failed sign-ins for this address.",
                first_delay=lockout,
            ),
            throttle.Rule("sign-up-client", settings.sign_up_client_per_hour, hour, many),
            throttle.Rule("sign-up-account", 5, hour, "Too many sign-ups with this address."),
            throttle.Rule("reset-client", settings.password_reset_client_per_hour, hour, many),
            throttle.Rule(
                "reset-account",
                settings.password_reset_per_address_per_hour,
                hour,
                "Too many reset emails asked for this address.",
            ),
        )


def check_password(password: str, settings: Settings, *, user_inputs: tuple[str, ...] = ()) -> None:
    """The service's password rules: length and strength (common, breached, or the user's own name)."""
    check_strength(password, min_length=settings.password_min_length, user_inputs=user_inputs)


async def start_session(
    session: AsyncSession, user: User, settings: Settings, client: Client = NO_CLIENT
) -> SignedIn:
    """A new session for the user; the token is returned once and only its hash is kept."""
    token = new_secret(32)
    now = clock.now()
    expires_at = now + timedelta(hours=settings.session_ttl_hours)
    session.add(
        AuthSession(
            user_id=user.id,
            token_hash=hash_secret(token),
            expires_at=expires_at,
            last_used_at=now,
            user_agent=client.user_agent,
            client_address=client.address,
        )
    )
    return SignedIn(user=user, token=token, expires_at=expires_at)


async def create_user(
    session: AsyncSession, *, email: str, password: str, name: str, settings: Settings, is_staff: bool = False
) -> User:
    """A user with a hashed password; EMAIL_TAKEN if the address (in any case) has an account."""
    normalized = normalize_email(email)
    display_name = clean_name(name, field="name") if name.strip() else ""
    check_password(password, settings, user_inputs=(normalized, display_name))
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
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str,
    settings: Settings,
    client: Client = NO_CLIENT,
) -> SignedIn:
    """Create the user, their Personal organization with its Default project, and a session."""
    user = await create_user(session, email=email, password=password, name=name, settings=settings)
    await create_organization(session, owner=user, name="Personal", type=OrganizationType.PERSONAL)
    return await start_session(session, user, settings, client)


async def admit_sign_up(db: Database, *, email: str, settings: Settings, client: Client) -> None:
    """Count a sign-up attempt per client and per address; Throttled past the limits (its own commit)."""
    rules, now = AuthRules.of(settings), clock.now()
    subject = email.strip().lower()[:254]
    async with db.transaction() as session:
        await throttle.admit(session, rules.sign_up_client, client.address, now)
        await throttle.admit(session, rules.sign_up_account, subject, now, field="email")


async def sign_in(
    db: Database, *, email: str, password: str, settings: Settings, client: Client = NO_CLIENT
) -> SignedIn:
    """A new session for the right password, within the attempt limits of the client and the address.

    The address's limit does not apply to a client that signed in to this account before, so that
    an attacker failing on someone's address cannot keep its owner out.
    """
    rules, now = AuthRules.of(settings), clock.now()
    try:
        normalized: str | None = normalize_email(email)
    except InvalidInput:
        normalized = None
    async with db.transaction() as session:
        # counted before the (slow) check, so that parallel attempts cannot pass the limit together
        await throttle.admit(session, rules.sign_in_client, client.address, now)
        user = (
            await session.scalar(select(User).where(col(User.email_normalized) == normalized))
            if normalized
            else None
        )
        if normalized and not (user and await _known_client(session, user.id, client)):
            await throttle.admit(session, rules.sign_in_account, normalized, now, field="email")
    if await verify_password(user.password_hash if user else None, password) and user and normalized:
        async with db.transaction() as session:
            await throttle.give_back(session, rules.sign_in_client, client.address)
            await throttle.clear(session, rules.sign_in_account, normalized)
            return await start_session(session, user, settings, client)
    raise Unauthenticated(WRONG_CREDENTIALS, code=ErrorCode.INVALID_CREDENTIALS)


async def _known_client(session: AsyncSession, user_id: str, client: Client) -> bool:
    """Whether this client address signed in to the account before."""
    if client.address == UNKNOWN:
        return False
    return bool(
        await session.scalar(
            select(
                exists()
                .where(col(AuthSession.user_id) == user_id)
                .where(col(AuthSession.client_address) == client.address)
            )
        )
    )


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


async def touch_session(db: Database, auth_session: AuthSession) -> None:
    """Record that the session was used now, at most once per LAST_USED_RESOLUTION."""
    now = clock.now()
    if auth_session.last_used_at is not None and now - auth_session.last_used_at < LAST_USED_RESOLUTION:
        return
    async with db.transaction() as session:
        await session.execute(
            update(AuthSession).where(col(AuthSession.id) == auth_session.id).values(last_used_at=now)
        )
    auth_session.last_used_at = now


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


async def end_sessions(session: AsyncSession, *, user_id: str, except_id: str | None = None) -> int:
    """Revoke every live session of the user but ``except_id``; returns how many."""
    query = (
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id)
        .where(col(AuthSession.revoked_at).is_(None))
    )
    if except_id is not None:
        query = query.where(col(AuthSession.id) != except_id)
    result = await session.execute(query.values(revoked_at=clock.now()))
    return result.rowcount  # type: ignore[attr-defined, no-any-return]


async def end_session(session: AsyncSession, *, user_id: str, session_id: str) -> int:
    """Revoke one of the user's own sessions (1: it was live, 0: ended already); NotFound for others'."""
    found = await session.get(AuthSession, session_id, with_for_update=True)
    if found is None or found.user_id != user_id:
        raise NotFound("No session with this ID is yours.", field="sessionId")
    if found.revoked_at is not None:
        return 0
    found.revoked_at = clock.now()
    return 1


async def list_sessions(session: AsyncSession, *, user_id: str) -> list[AuthSession]:
    """The user's live sessions (not ended, not expired), most recently used first."""
    rows = await session.scalars(
        select(AuthSession)
        .where(col(AuthSession.user_id) == user_id)
        .where(col(AuthSession.revoked_at).is_(None))
        .where(col(AuthSession.expires_at) > clock.now())
    )
    return sorted(rows, key=lambda s: (s.last_used_at or s.created_at, s.id), reverse=True)


async def update_profile(session: AsyncSession, *, user_id: str, name: str) -> User:
    """Set the user's display name (empty: none)."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("No such user.")
    user.name = clean_name(name, field="name") if name.strip() else ""
    return user
