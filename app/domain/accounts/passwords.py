"""Passwords: argon2id hashing off the event loop with bounded concurrency, and the strength rules.

One hash costs tens of milliseconds of CPU and 64 MiB: hashes run on a small pool of their own
threads (argon2 releases the GIL), so a flood of sign-ins queues there instead of filling every
core or the default thread pool that the rest of the service uses.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # the package ships no type information

from app.domain.errors import ErrorCode, InvalidInput

# argon2-cffi's defaults are RFC 9106's low-memory argon2id profile; tests swap in a cheaper one.
hasher = PasswordHasher()

# at most half the cores hash at once, whatever the load: the rest keep serving requests
HASH_WORKERS = max(1, (os.cpu_count() or 2) // 2)
_pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="argon2")

MAX_PASSWORD_LENGTH = 1024
# zxcvbn refuses longer input, and its cost grows with the length: the first 72 characters decide
_STRENGTH_PREFIX = 72
MIN_STRENGTH = 3  # zxcvbn's score, 0-4: 3 is "safely unguessable" (about 10^8 guesses and more)

# Verified when the email is unknown, so that timing does not reveal which addresses have accounts.
_DUMMY_HASH = hasher.hash("not a real password")


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; an unknown user (None) costs the same time and fails."""

    def _verify() -> bool:
        try:
            return hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.get_running_loop().run_in_executor(_pool, _verify)


def check_password(password: str, *, min_length: int, user_inputs: Sequence[str] = ()) -> None:
    """Refuse a password that is short, too long, or common, breached or built from the user's own name."""
    if len(password) < min_length:
        raise InvalidInput(
            f"The password must be at least {min_length} characters.",
            code=ErrorCode.TOO_SHORT,
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("The password is too long.", code=ErrorCode.TOO_LONG, field="password")
    parts = [part for value in user_inputs for part in value.replace("@", " ").replace(".", " ").split()]
    inputs = [value for value in (*user_inputs, *parts) if value]
    result = zxcvbn(password[:_STRENGTH_PREFIX], user_inputs=inputs)
    if result["score"] < MIN_STRENGTH:
        feedback = result["feedback"]
        hint = " ".join(filter(None, [feedback.get("warning"), *feedback.get("suggestions", [])]))
        raise InvalidInput(
            "The password is too easy to guess (it is common, was leaked, or follows a pattern)."
            + (f" {hint}" if hint else ""),
            code=ErrorCode.WEAK_PASSWORD,
            field="password",
        )
