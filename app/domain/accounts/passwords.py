"""argon2id password hashing, off the event loop (one hash costs tens of milliseconds of CPU)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are RFC 9106's low-memory argon2id profile; tests swap in a cheaper one.
hasher = PasswordHasher()

# Verified when the email is unknown, so that timing does not reveal which addresses have accounts.
_DUMMY_HASH = hasher.hash("not a real password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; an unknown user (None) costs the same time and fails."""

    def _verify() -> bool:
        try:
            return hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(_verify)
