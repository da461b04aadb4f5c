"""Admission ids: what a reservation was made for, signed, so any replica can settle it without a lookup."""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Admission:
    organization_id: str
    project_id: str
    api_key_id: str
    model_id: str
    plan: str
    reserved_tokens: int
    issued_at: int  # Unix seconds
    nonce: str


class AdmissionCodec:
    """Signs and checks admission ids with a key shared by the replicas (FLEET_ADMISSION_KEY)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

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
        )
        payload = base64.urlsafe_b64encode("|".join(fields).encode()).rstrip(b"=")
        return f"adm_{payload.decode()}.{self._sign(payload)}"

    def decode(self, admission_id: str) -> Admission | None:
        """The admission, or None when the id is malformed or not signed by this fleet."""
        if not admission_id.startswith("adm_") or len(admission_id) > 600:
            return None
        payload, _, signature = admission_id[4:].partition(".")
        if not hmac.compare_digest(signature, self._sign(payload.encode())):
            return None
        try:
            fields = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split("|")
            org, project, key, model, plan, reserved, issued, nonce = fields
            return Admission(org, project, key, model, plan, int(reserved), int(issued), nonce)
        except ValueError:
            return None

    def _sign(self, payload: bytes) -> str:
        digest = hmac.digest(self._key, payload, "sha256")[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_nonce() -> str:
    return secrets.token_hex(6)
