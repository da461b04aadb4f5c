"""Changing a password, and resetting a forgotten one by an emailed link.

A reset link holds a random token of 256 bits; only its SHA-256 is stored. It works once, until it
expires, and using it ends every session. Asking for a link answers the same whether or not the
address has an account, and does the same work: either way one email is queued (the link, or a note
that the address has no account) in one write transaction, within the same attempt limits.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.accounts import throttle
from app.domain.accounts.clients import Client
from app.domain.accounts.models import PasswordReset, User
from app.domain.accounts.passwords import hash_password, verify_password
from app.domain.accounts.service import AuthRules, SignedIn, check_password, end_sessions, start_session
from app.domain.base import hash_secret, new_secret
from app.domain.errors import ErrorCode, InvalidInput, NotFound, Unauthenticated
from app.domain.notifications.service import enqueue_email
from app.domain.validation import normalize_email
from app.settings import Settings

RESET_PATH = "/reset-password"


def reset_link(settings: Settings, token: str | None = None) -> str:
    """The console's page that sets a new password (with the token of a link, or asking for one)."""
    query = f"?{urlencode({'token': token})}" if token else ""
    return f"{settings.public_url.rstrip('/')}{RESET_PATH}{query}"


async def request_password_reset(db: Database, *, email: str, settings: Settings, client: Client) -> None:
    """Email a reset link to the account's address (or a no-account note); the same answer either way."""
    normalized = normalize_email(email)
    rules, now = AuthRules.of(settings), clock.now()
    async with db.transaction() as session:
        await throttle.admit(session, rules.reset_client, client.address, now, field="email")
        await throttle.admit(session, rules.reset_account, normalized, now, field="email")
        user = await session.scalar(select(User).where(col(User.email_normalized) == normalized))
        if user is None:
            await enqueue_email(
                session, to=email.strip(), template="password_reset_no_account", email=normalized
            )
            return
        token = new_secret(32)
        expires_at = now + timedelta(minutes=settings.password_reset_ttl_minutes)
        session.add(
            PasswordReset(
                user_id=user.id,
                token_hash=hash_secret(token),
                expires_at=expires_at,
                client_address=client.address,
            )
        )
        await enqueue_email(
            session,
            to=user.email,
            template="password_reset",
            secrets=[token],
            email=user.email,
            link=reset_link(settings, token),
            expires_at=expires_at,
        )


async def reset_password(
    db: Database, *, token: str, new_password: str, settings: Settings, client: Client
) -> SignedIn:
    """Set a new password with a reset link's token (once); every session ends, a new one starts."""
    async with db.reader() as session:
        reset = await session.scalar(
            select(PasswordReset).where(col(PasswordReset.token_hash) == hash_secret(token))
        )
        user = await session.get(User, reset.user_id) if reset else None
    if reset is None or user is None or reset.used_at is not None:
        raise InvalidInput(
            "This reset link is not valid (it may have been used already); ask for a new one.",
            code=ErrorCode.RESET_LINK_INVALID,
            field="token",
        )
    if reset.expires_at <= clock.now():
        raise InvalidInput(
            "This reset link has expired; ask for a new one.",
            code=ErrorCode.RESET_LINK_EXPIRED,
            field="token",
        )
    check_password(new_password, settings, user_inputs=(user.email_normalized, user.name))
    password_hash = await hash_password(new_password)  # before the transaction: it takes a while
    async with db.transaction() as session:
        now = clock.now()
        used = await session.execute(
            update(PasswordReset)
            .where(col(PasswordReset.user_id) == user.id)
            .where(col(PasswordReset.used_at).is_(None))
            .values(used_at=now)
            .returning(col(PasswordReset.id))
        )
        if reset.id not in set(used.scalars()):  # another request used it in the meantime
            raise InvalidInput(
                "This reset link has just been used; ask for a new one.",
                code=ErrorCode.RESET_LINK_INVALID,
                field="token",
            )
        stored, _ = await _set_password(session, user.id, password_hash, except_session=None)
        await _tell_user(session, stored, settings, how="with a reset link")
        return await start_session(session, stored, settings, client)


async def change_password(
    db: Database,
    *,
    user_id: str,
    auth_session_id: str,
    current_password: str,
    new_password: str,
    settings: Settings,
) -> int:
    """Change the password given the current one; every other session ends. Returns how many ended."""
    rules, now = AuthRules.of(settings), clock.now()
    async with db.transaction() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        # a stolen session must not be a way to guess the password: the sign-in limit applies
        await throttle.admit(
            session, rules.sign_in_account, user.email_normalized, now, field="currentPassword"
        )
    if not await verify_password(user.password_hash, current_password):
        raise Unauthenticated(
            "The current password is wrong.", code=ErrorCode.WRONG_PASSWORD, field="currentPassword"
        )
    check_password(new_password, settings, user_inputs=(user.email_normalized, user.name))
    password_hash = await hash_password(new_password)
    async with db.transaction() as session:
        await throttle.clear(session, rules.sign_in_account, user.email_normalized)
        stored, ended = await _set_password(session, user.id, password_hash, except_session=auth_session_id)
        await _tell_user(session, stored, settings, how="in the console")
        return ended


async def _set_password(
    session: AsyncSession, user_id: str, password_hash: str, *, except_session: str | None
) -> tuple[User, int]:
    """Store the new hash and end the other sessions; the user and how many sessions ended."""
    user = await session.get(User, user_id, with_for_update=True)
    assert user is not None
    user.password_hash = password_hash
    return user, await end_sessions(session, user_id=user_id, except_id=except_session)


async def _tell_user(session: AsyncSession, user: User, settings: Settings, *, how: str) -> None:
    """The security notice to the account's owner that their password changed."""
    await enqueue_email(
        session,
        to=user.email,
        template="password_changed",
        email=user.email,
        changed_at=clock.now(),
        how=how,
        reset_link=reset_link(settings),
    )
