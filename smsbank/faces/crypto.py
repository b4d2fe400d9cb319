"""Face embeddings at rest: AES-256-GCM with a key derived from the secret key.

The key is HKDF-SHA256(SMSBANK_SECRET_KEY) with a purpose label, so it is not the
key that signs or hashes anything else. The customer id is bound in as associated
data: an embedding copied onto another customer's row does not decrypt, so someone
with write access to the table cannot swap faces between accounts.

Layout: version byte (1) | 12-byte nonce | ciphertext of 128 little-endian doubles
| 16-byte tag. Changing the secret key makes enrolled faces unreadable: customers
then re-enrol (the error says so).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from smsbank.core.errors import Conflict

VERSION = 1
_INFO = b"smsbank/face-embedding/v1"


class EnrolmentUnreadable(Conflict):
    code = "face_enrolment_unreadable"


def _key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode("utf-8")
    )


def _aad(customer_id: int) -> bytes:
    return f"customer:{customer_id}".encode()


def encrypt_embedding(secret_key: str, customer_id: int, embedding: Sequence[float]) -> bytes:
    plain = struct.pack(f"<{len(embedding)}d", *embedding)
    nonce = os.urandom(12)
    sealed = AESGCM(_key(secret_key)).encrypt(nonce, plain, _aad(customer_id))
    return bytes([VERSION]) + nonce + sealed


def decrypt_embedding(secret_key: str, customer_id: int, blob: bytes) -> list[float]:
    unreadable = EnrolmentUnreadable(
        "the enrolled face cannot be read (the secret key changed?); re-enrol the customer"
    )
    blob = bytes(blob)
    if len(blob) < 1 + 12 + 16 or blob[0] != VERSION:
        raise unreadable
    try:
        plain = AESGCM(_key(secret_key)).decrypt(blob[1:13], blob[13:], _aad(customer_id))
    except InvalidTag as exc:
        raise unreadable from exc
    if len(plain) % 8:
        raise unreadable
    return list(struct.unpack(f"<{len(plain) // 8}d", plain))
