"""Admission ids: signed, so any replica can settle a reservation, and nobody can forge or alter one."""

from __future__ import annotations

import base64

import pytest

from app.fleet.tokens import Admission, AdmissionCodec, new_nonce

ADMISSION = Admission("org_1", "proj_1", "key_1", "gpt-oss-120b", "paygo", 1_200, 1_796_284_246, new_nonce())


def test_an_id_says_what_was_admitted() -> None:
    codec = AdmissionCodec(b"a shared secret of any length" * 5)
    admission_id = codec.encode(ADMISSION)
    assert admission_id.startswith("adm_") and admission_id.isascii()
    assert codec.decode(admission_id) == ADMISSION
    assert AdmissionCodec(b"a shared secret of any length" * 5).decode(admission_id) == ADMISSION  # a replica


def test_a_forged_or_altered_id_is_refused() -> None:
    codec = AdmissionCodec(b"secret")
    admission_id = codec.encode(ADMISSION)
    payload, signature = admission_id.split(".")
    bigger = AdmissionCodec(b"secret").encode(ADMISSION._replace(reserved_tokens=1))
    assert AdmissionCodec(b"another secret").decode(admission_id) is None
    assert codec.decode(f"{payload}.{bigger.split('.')[1]}") is None  # someone else's signature
    altered = payload[:-1] + ("B" if payload[-1] != "B" else "C")
    assert codec.decode(f"{altered}.{signature}") is None  # an altered payload


@pytest.mark.parametrize("garbage", ["", "adm_", "adm_.", "adm_x.y", "adm_é.x", "nope", "adm_" + "A" * 700])
def test_garbage_is_refused(garbage: str) -> None:
    assert AdmissionCodec(b"secret").decode(garbage) is None


def test_after_a_rotation_ids_signed_with_the_previous_key_still_verify() -> None:
    old = AdmissionCodec(b"first key")
    signed_before = old.encode(ADMISSION)
    rotated = AdmissionCodec(b"second key", previous=[b"first key"])
    assert rotated.decode(signed_before) == ADMISSION
    assert rotated.decode(rotated.encode(ADMISSION)) == ADMISSION
    assert old.decode(rotated.encode(ADMISSION)) is None  # the new key is not the old one
    rotated.use(b"second key")  # the previous key's lifetime is over
    assert rotated.decode(signed_before) is None


def test_ids_signed_before_credit_holds_still_decode() -> None:
    codec = AdmissionCodec(b"secret")
    fields = "org_1|proj_1|key_1|gpt-oss-120b|paygo|1200|1796284246|abc"  # eight fields: no hold
    payload = base64.urlsafe_b64encode(fields.encode()).rstrip(b"=")
    signature = codec._sign(payload, codec._key).decode()
    decoded = codec.decode(f"adm_{payload.decode()}.{signature}")
    assert decoded is not None and decoded.held_micros == 0 and decoded.reserved_tokens == 1200
