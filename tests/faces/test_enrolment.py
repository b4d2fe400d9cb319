"""Enrolment keeps only an encrypted embedding, computed once, bound to its customer."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from smsbank.core.errors import BankError
from smsbank.core.models import AuditEvent, Customer, LedgerEntry
from smsbank.core.settings import Settings
from smsbank.faces.crypto import EnrolmentUnreadable, decrypt_embedding, encrypt_embedding
from smsbank.faces.enrolment import (
    create_customer_with_photo,
    enrolled_embedding,
    store_embedding,
)
from smsbank.faces.service import FaceService


def test_the_embedding_is_encrypted_and_bound_to_its_customer() -> None:
    vector = [0.125 * i for i in range(128)]
    blob = encrypt_embedding("k" * 40, 7, vector)
    assert struct.pack("<128d", *vector) not in blob
    assert decrypt_embedding("k" * 40, 7, blob) == vector
    # A fresh nonce each time: the same face never gives the same bytes twice.
    assert encrypt_embedding("k" * 40, 7, vector) != blob
    for secret, customer_id, data in [
        ("another-secret-key-entirely-000000000", 7, blob),  # the key changed
        ("k" * 40, 8, blob),  # copied onto another customer's row
        ("k" * 40, 7, blob[:-1] + bytes([blob[-1] ^ 1])),  # tampered with
        ("k" * 40, 7, b"\x02" + blob[1:]),  # unknown format version
        ("k" * 40, 7, b"short"),
    ]:
        with pytest.raises(EnrolmentUnreadable):
            decrypt_embedding(secret, customer_id, data)


async def test_enrolment_stores_only_the_encrypted_embedding(
    db: None,
    settings: Settings,
    face_service: FaceService,
    make_customer: Any,
    enrol: Any,
    astronaut_jpeg: bytes,
) -> None:
    customer = await enrol(await make_customer(), astronaut_jpeg)
    assert customer.face_enrolled and customer.face_model == "Dlib/dlib"
    assert customer.face_enrolled_at is not None
    blob = bytes(customer.face_embedding or b"")
    assert len(blob) == 1 + 12 + 128 * 8 + 16  # version, nonce, 128 doubles, tag
    assert astronaut_jpeg[:64] not in blob
    embedding = enrolled_embedding(settings, customer, face_service)
    assert len(embedding) == 128
    events = await AuditEvent.filter(customer_id=customer.id, action="face.enrolled")
    assert len(events) == 1 and events[0].details["model"] == "Dlib/dlib"


async def test_verification_compares_with_the_stored_embedding(
    db: None,
    settings: Settings,
    face_service: FaceService,
    make_customer: Any,
    enrol: Any,
    astronaut_jpeg: bytes,
    grace_jpeg: bytes,
) -> None:
    """Enrolled from the astronaut, then the stored embedding replaced by Grace's: the
    astronaut's selfie now fails and Grace's passes, so verification uses what is
    stored and never recomputes it from anything else."""
    from smsbank.faces.checks import compare_with_enrolled

    customer = await enrol(await make_customer(), astronaut_jpeg)
    assert (await compare_with_enrolled(settings, face_service, customer, astronaut_jpeg)).verified
    grace = await face_service.analyse(grace_jpeg)
    customer = await store_embedding(
        settings, customer.id, grace, model="Dlib/dlib", actor="test", source="test", replacing=True
    )
    assert not (
        await compare_with_enrolled(settings, face_service, customer, astronaut_jpeg)
    ).verified
    assert (await compare_with_enrolled(settings, face_service, customer, grace_jpeg)).verified


async def test_a_face_from_another_model_must_be_re_enrolled(
    db: None,
    settings: Settings,
    face_service: FaceService,
    make_customer: Any,
    enrol: Any,
    astronaut_jpeg: bytes,
) -> None:
    customer = await enrol(await make_customer(), astronaut_jpeg)
    await Customer.filter(id=customer.id).update(face_model="ArcFace/retinaface")
    customer = await Customer.get(id=customer.id)
    with pytest.raises(BankError) as caught:
        enrolled_embedding(settings, customer, face_service)
    assert (caught.value.status, caught.value.code) == (409, "face_model_changed")
    not_enrolled = await make_customer(phone="+15550109999")
    with pytest.raises(BankError) as caught:
        enrolled_embedding(settings, not_enrolled, face_service)
    assert (caught.value.status, caught.value.code) == (409, "face_not_enrolled")


async def test_a_new_customer_with_a_photo_is_all_or_nothing(
    db: None,
    settings: Settings,
    face_service: FaceService,
    no_face_jpeg: bytes,
    grace_jpeg: bytes,
) -> None:
    from decimal import Decimal

    with pytest.raises(BankError) as caught:
        await create_customer_with_photo(
            settings,
            name="Nobody Here",
            phone="+15550107001",
            photo=no_face_jpeg,
            initial_deposit=Decimal("50"),
            actor="test",
            faces=face_service,
        )
    assert caught.value.code == "no_face"
    assert await Customer.all().count() == 0
    assert await LedgerEntry.all().count() == 0
    customer = await create_customer_with_photo(
        settings,
        name="Grace Hopper",
        phone="+15550107001",
        photo=grace_jpeg,
        initial_deposit=Decimal("50"),
        actor="test",
        faces=face_service,
    )
    assert customer.face_enrolled and customer.balance == Decimal("50.00")
