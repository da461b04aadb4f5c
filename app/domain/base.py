"""Column types and helpers shared by every area's models."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Table, inspect
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from app import clock


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id(prefix: str) -> str:
    """An unguessable primary key such as ``org_6933a1f2e1c4…``, readable in logs and support tickets.

    The second it was made, then 80 random bits: rows inserted together sit together in the primary
    key's index, so a usage group's 500 ledger entries change a few of its pages rather than 500 (each
    written to the WAL at commit and again at the checkpoint).
    """
    return f"{prefix}_{int(time.time()):08x}{secrets.token_hex(10)}"


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret with ``nbytes`` bytes of entropy (32 bytes = 256 bits)."""
    return secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (API keys, session and invitation tokens): no salt or slow hash needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, typed (SQLModel does not declare ``__table__``)."""
    table = inspect(model).local_table
    assert isinstance(table, Table), model
    return table


def utcnow() -> datetime:
    return clock.now()


def enum_column(enum_type: type) -> Any:
    """An enum stored as its value in a VARCHAR, so adding a member needs no database migration of a type."""
    from sqlalchemy import Enum as SAEnum

    return SAEnum(enum_type, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])
