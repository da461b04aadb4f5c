"""Admission ids: what a reservation was made for, signed, so any replica can settle it without a lookup."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import itertools
import secrets
from collections.abc import Sequence
from typing import NamedTuple


class Admission(NamedTuple):
    """What an admission reserved, for whom (a tuple: built for every usage record, so kept cheap)."""

    organization_id: str
    project_id: str
    api_key_id: str
    model_id: str
    plan: str
    reserved_tokens: int
    issued_at: int  # Unix seconds
    nonce: str
    held_micros: int = 0  # the worst-case price held against the credit (PayGo, micro-dollars) until settled


class AdmissionCodec:
    """Signs and checks admission ids with a key shared by the replicas (see fleet.keys).

    An id is `adm_<payload>.<signature>`, both URL-safe base64 without padding. Every usage record
    carries one, so checking it is on the usage path's hot loop: binascii, not the base64 module.
    Ids signed with a previous key (a rotation) keep verifying while it is among `previous`.
    """

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        self.use(key, previous)

    def use(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        """Sign with `key` from now on; accept ids signed with it or with one of `previous`."""
        # any length of secret, as the 64 bytes BLAKE2b takes
        self._key = hashlib.blake2b(key).digest()
        self._previous = [hashlib.blake2b(old).digest() for old in previous if old != key]

    def encode(self, admission: Admission) -> str:
        fields = (
            admission.organization_id,
            admission.project_id,
            admission.api_key_id,
            admission.model_id,
            admission.plan,
            str(admission.reserved_tokens),
            str(admission.issued_at),
            admission.nonce,
            str(admission.held_micros),
        )
        payload = _b64("|".join(fields).encode())
        return f"adm_{payload.decode()}.{self._sign(payload, self._key).decode()}"

    def decode(self, admission_id: str) -> Admission | None:
        """The admission, or None when the id is malformed or not signed by this fleet."""
        if not admission_id.startswith("adm_") or len(admission_id) > 600 or not admission_id.isascii():
            return None
        payload, _, signature = admission_id[4:].encode().partition(b".")
        if not hmac.compare_digest(signature, self._sign(payload, self._key)) and not any(
            hmac.compare_digest(signature, self._sign(payload, old)) for old in self._previous
        ):
            return None
        try:
            fields = _unb64(payload).decode().split("|")
            if len(fields) == 8:  # signed before reservations held credit
                fields.append("0")
            org, project, key, model, plan, reserved, issued, nonce, held = fields
            return Admission(org, project, key, model, plan, int(reserved), int(issued), nonce, int(held))
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return None

    @staticmethod
    def _sign(payload: bytes, key: bytes) -> bytes:
        # keyed BLAKE2b is a MAC by design, and three times as fast as HMAC-SHA256 here
        return _b64(hashlib.blake2b(payload, key=key, digest_size=16).digest())


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    return binascii.a2b_base64(text.translate(_FROM_URLSAFE) + b"==")  # surplus padding is ignored


_PROCESS = secrets.token_hex(4)  # admissions of different processes (replicas, restarts) never share a nonce
_SEQUENCE = itertools.count()


def new_nonce() -> str:
    """Unique per admission (two alike in the same second differ), not secret: the id is signed."""
    return f"{_PROCESS}{next(_SEQUENCE):x}"
