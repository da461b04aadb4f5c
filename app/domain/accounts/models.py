"""Users, their sign-in sessions, and the sign-in throttle."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, new_id, utcnow


class User(SQLModel, table=True):
    """A person who signs in; platform staff are users with ``is_staff``."""

    id: str = Field(default_factory=lambda: new_id("user"), primary_key=True, max_length=40)
    email: str = Field(max_length=254)
    # lower-cased address: emails are unique and compared case-insensitively
    email_normalized: str = Field(max_length=254, unique=True)
    name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=200)
    is_staff: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuthSession(SQLModel, table=True):
    """A signed-in session: the bearer token is kept only as its SHA-256."""

    __tablename__ = "auth_session"

    id: str = Field(default_factory=lambda: new_id("ses"), primary_key=True, max_length=40)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=40, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # refreshed at most once a minute, so that a busy console does not write on every request
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    user_agent: str = Field(default="", max_length=255)
    client_address: str = Field(default="", max_length=64)


class PasswordReset(SQLModel, table=True):
    """A password-reset link: the token is kept only as its SHA-256; it works once, until it expires."""

    __tablename__ = "password_reset"

    id: str = Field(default_factory=lambda: new_id("pwr"), primary_key=True, max_length=40)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=40, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    client_address: str = Field(default="", max_length=64)


class AuthThrottle(SQLModel, table=True):
    """Attempts counted under one key (an address, a client, an action): shared by every replica.

    Past the free attempts of a window, each further attempt must wait a delay that doubles.
    """

    __tablename__ = "auth_throttle"

    key: str = Field(primary_key=True, max_length=300)
    attempts: int = 0
    window_started_at: datetime = Field(sa_type=UTCDateTime)
    blocked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
