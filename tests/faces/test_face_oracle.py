"""`/verify_face` by customer id is not an oracle for tuning a spoof: it answers the
decision only (`distance` is null; the exact distance goes to the audit event) and a
plain check is rate-limited per customer and per API key, counted in the database."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
from quart.datastructures import FileStorage

from smsbank.api.apikeys import create_api_key
from smsbank.core.models import AuditEvent, Customer
from smsbank.core.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, face_checks_per_customer_per_hour=3, face_checks_per_key_per_hour=4
    )


def photo(data: bytes) -> dict[str, FileStorage]:
    return {"photo": FileStorage(io.BytesIO(data), filename="photo.jpg", content_type="image/jpeg")}


async def plain_check(client: Any, headers: dict[str, str], customer: Customer, data: bytes) -> Any:
    return await client.post(
        "/verify_face", headers=headers, form={"customer_id": str(customer.id)}, files=photo(data)
    )


async def test_a_plain_check_answers_the_decision_only_and_audits_the_distance(
    face_client: Any,
    staff: dict[str, str],
    make_customer: Any,
    enrol: Any,
    astronaut_jpeg: bytes,
    grace_jpeg: bytes,
) -> None:
    customer = await enrol(await make_customer(), astronaut_jpeg)

    same = await (await plain_check(face_client, staff, customer, astronaut_jpeg)).get_json()
    other = await (await plain_check(face_client, staff, customer, grace_jpeg)).get_json()

    assert (same["verified"], other["verified"]) == (True, False)
    assert same["distance"] is None and other["distance"] is None  # keys kept, no value
    assert same["threshold"] == other["threshold"] == 0.07  # the bank's setting, no secret
    events = await AuditEvent.filter(action="face.checked", customer_id=customer.id).order_by("id")
    assert [e.details["verified"] for e in events] == [True, False]
    assert 0 <= events[0].details["distance"] <= 0.07 < events[1].details["distance"]


async def test_plain_checks_are_limited_per_customer(
    face_client: Any, staff: dict[str, str], make_customer: Any, enrol: Any, grace_jpeg: bytes
) -> None:
    customer = await enrol(await make_customer(), grace_jpeg)
    statuses = [
        (await plain_check(face_client, staff, customer, grace_jpeg)).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    refused = await plain_check(face_client, staff, customer, grace_jpeg)
    error = (await refused.get_json())["error"]
    assert error["code"] == "too_many_face_checks" and "hour" in error["message"]
    # Refused before the face was looked at: nothing more audited.
    assert await AuditEvent.filter(action="face.checked", customer_id=customer.id).count() == 3


async def test_plain_checks_are_limited_per_api_key(
    face_client: Any,
    staff: dict[str, str],
    make_customer: Any,
    enrol: Any,
    grace_jpeg: bytes,
) -> None:
    customers = [
        await enrol(await make_customer(phone=f"+155501077{n:02d}"), grace_jpeg) for n in range(3)
    ]
    answers = [
        (await plain_check(face_client, staff, customer, grace_jpeg)).status_code
        for customer in customers
        for _ in range(2)
    ]
    assert answers == [200, 200, 200, 200, 429, 429]  # the key's four, across customers
    _, key = await create_api_key("another desk")
    other_key = {"Authorization": f"Bearer {key}"}
    assert (await plain_check(face_client, other_key, customers[2], grace_jpeg)).status_code == 200


async def test_a_photo_the_model_cannot_use_is_not_counted(
    face_client: Any,
    staff: dict[str, str],
    make_customer: Any,
    enrol: Any,
    grace_jpeg: bytes,
    no_face_jpeg: bytes,
) -> None:
    customer = await enrol(await make_customer(), grace_jpeg)
    for _ in range(5):
        refused = await plain_check(face_client, staff, customer, no_face_jpeg)
        assert refused.status_code == 422
    checks = [await plain_check(face_client, staff, customer, grace_jpeg) for _ in range(3)]
    assert [response.status_code for response in checks] == [200, 200, 200]
