"""Secrets inside emails (an invitation's link) are stored sealed, never in clear.

The outbox keeps each email's body with a placeholder where a secret goes, and the secrets
encrypted (Fernet: AES-128-CBC with HMAC-SHA256) under OUTBOX_KEY. The mail worker unseals them to
send; the operator's `python -m app.cli outbox show` unseals them to read. Without OUTBOX_KEY a
key is made once in `var/outbox.key` (embedded, one process); replicas share OUTBOX_KEY.
Several comma-separated keys rotate: the first seals, any of them unseals.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.settings import REPO_ROOT, get_settings

KEY_FILE = REPO_ROOT / "var" / "outbox.key"


def placeholder(index: int) -> str:
    return f"[secret:{index}]"


@lru_cache(maxsize=8)
def _sealer(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])


@lru_cache(maxsize=1)
def _file_key() -> str:
    if not KEY_FILE.exists():
        KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        try:  # created readable by this user only, and never overwritten by a concurrent first use
            descriptor = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(Fernet.generate_key().decode())
    return KEY_FILE.read_text().strip()


def sealer() -> MultiFernet:
    """The process's outbox keys (OUTBOX_KEY, else the key file)."""
    configured = get_settings().outbox_key
    return _sealer(configured.get_secret_value() if configured else _file_key())


def seal(secrets: Sequence[str]) -> list[str]:
    return [sealer().encrypt(secret.encode()).decode() for secret in secrets]


def unseal(sealed: Sequence[str]) -> list[str]:
    """The secrets in clear; a value stored before sealing existed is returned as it is."""
    opened = []
    for value in sealed:
        try:
            opened.append(sealer().decrypt(value.encode()).decode())
        except InvalidToken:
            opened.append(value)
    return opened


def fill(text: str, secrets: Sequence[str]) -> str:
    """The text with each placeholder replaced by its secret (or by anything else given in its place)."""
    for index, secret in enumerate(secrets):
        text = text.replace(placeholder(index), secret)
    return text


def hollow(text: str, secrets: Sequence[str]) -> str:
    """The text with each secret replaced by its placeholder."""
    for index, secret in enumerate(secrets):
        if secret:
            text = text.replace(secret, placeholder(index))
    return text
