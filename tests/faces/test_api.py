"""Staff face endpoints over HTTP: enrol, enrolment link, /add_customer, /verify_face."""

from __future__ import annotations

import io
from typing import Any

import pytest
from quart.datastructures import FileStorage

from smsbank.core.ledger import ledger_total_minor
from smsbank.core.models import (
    AuditEvent,
    Channel,
    Customer,
    LedgerEntry,
    OutboundMessage,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.core.settings import Settings
from tests.faces.conftest import (
    noise_jpeg,
    path_of,
    png_header_only,
    requires_shared_faces,
    shared_photo,
)


def photo(data: bytes, field: str = "photo") -> dict[str, FileStorage]:
    return {field: FileStorage(io.BytesIO(data), filename="photo.jpg", content_type="image/jpeg")}


async def error_of(response: Any) -> tuple[int, str]:
    body = await response.get_json()
    assert body["error"]["message"], body
    return response.status_code, body["error"]["code"]


# -- PUT /api/v1/customers/{id}/face -------------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests are about the single selfie of SPEC §9: liveness off."""
    return settings.with_overrides(liveness="off")


async def test_staff_enrol_a_face(
    face_client: Any, staff: dict[str, str], make_customer: Any, astronaut_jpeg: bytes
) -> None:
    customer = await make_customer()
    response = await face_client.put(
        f"/api/v1/customers/{customer.id}/face", headers=staff, files=photo(astronaut_jpeg)
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert body["face_enrolled"] is True and body["face_model"] == "Dlib/dlib"
    assert "face_embedding" not in body
    event = await AuditEvent.get(action="face.enrolled", customer_id=customer.id)
    assert event.actor == "api_key:bootstrap" and event.details["source"] == "staff"


@pytest.mark.parametrize(
    ("upload", "status", "code"),
    [
        ("no_face", 422, "no_face"),
        ("garbage", 415, "unsupported_photo_type"),
        ("truncated", 422, "photo_unreadable"),
        ("oversized", 413, "photo_too_large"),
        ("way_oversized", 413, "request_entity_too_large"),
        ("huge_png", 413, "photo_too_large"),
        ("empty", 400, "photo_missing"),
        ("missing", 400, "photo_missing"),
        ("json", 400, "multipart_required"),
    ],
)
async def test_bad_photos_are_clear_4xx_and_change_nothing(
    face_client: Any,
    staff: dict[str, str],
    make_customer: Any,
    no_face_jpeg: bytes,
    astronaut_jpeg: bytes,
    upload: str,
    status: int,
    code: str,
) -> None:
    customer = await make_customer()
    uploads: dict[str, dict[str, Any]] = {
        "no_face": {"files": photo(no_face_jpeg)},
        "garbage": {"files": photo(b"this is not a photo" * 10)},
        "truncated": {"files": photo(astronaut_jpeg[:5000])},
        # Just over the photo limit (10 MB), and far over the request limit (12 MB).
        "oversized": {"files": photo(noise_jpeg(640, 480) + b"\x00" * (10 * 1024 * 1024))},
        "way_oversized": {"files": photo(b"\xff\xd8\xff" + b"\x00" * (13 * 1024 * 1024))},
        "huge_png": {"files": photo(png_header_only(50_000, 50_000))},
        "empty": {"files": photo(b"")},
        "missing": {"files": photo(astronaut_jpeg, field="picture")},
        "json": {"json": {"photo": "base64..."}},
    }
    response = await face_client.put(
        f"/api/v1/customers/{customer.id}/face", headers=staff, **uploads[upload]
    )
    assert await error_of(response) == (status, code)
    assert not (await Customer.get(id=customer.id)).face_enrolled


async def test_enrolling_an_unknown_customer_is_404(
    face_client: Any, staff: dict[str, str], astronaut_jpeg: bytes
) -> None:
    response = await face_client.put(
        "/api/v1/customers/999/face", headers=staff, files=photo(astronaut_jpeg)
    )
    assert await error_of(response) == (404, "customer_not_found")


@requires_shared_faces
@pytest.mark.faces
async def test_several_faces_are_refused_with_a_retry_message(
    face_client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await make_customer()
    response = await face_client.put(
        f"/api/v1/customers/{customer.id}/face",
        headers=staff,
        files=photo(shared_photo("multi_couple.jpg")),
    )
    assert await error_of(response) == (422, "several_faces")


# -- POST /api/v1/customers/{id}/enrolment-link ----------------------------------------------


async def test_an_enrolment_link_is_texted_not_shown(
    face_client: Any, staff: dict[str, str], make_customer: Any, grace_jpeg: bytes
) -> None:
    customer = await make_customer(phone="+15550104444")
    response = await face_client.post(
        f"/api/v1/customers/{customer.id}/enrolment-link", headers=staff
    )
    assert response.status_code == 202
    body = await response.get_json()
    assert body["sent_to"] != customer.phone and body["sent_to"].endswith("4444")
    assert "/capture/" not in str(body) and "/c/" not in str(body)
    texts = await OutboundMessage.filter(template="enrolment_link", to_phone=customer.phone)
    assert len(texts) == 1
    assert "valid 10 minutes" in texts[0].body
    url = next(word for word in texts[0].body.split() if "/c/" in word)
    enrolled = await face_client.post(path_of(url), files={"selfie": photo(grace_jpeg)["photo"]})
    assert (await enrolled.get_json())["status"] == "enrolled"
    assert (await Customer.get(id=customer.id)).face_enrolled


async def test_no_enrolment_link_for_an_opted_out_or_unknown_customer(
    face_client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await make_customer()
    await Customer.filter(id=customer.id).update(sms_opted_out=True)
    response = await face_client.post(
        f"/api/v1/customers/{customer.id}/enrolment-link", headers=staff
    )
    assert await error_of(response) == (409, "sms_opted_out")
    response = await face_client.post("/api/v1/customers/999/enrolment-link", headers=staff)
    assert await error_of(response) == (404, "customer_not_found")
    assert await OutboundMessage.all().count() == 0


# -- POST /add_customer ----------------------------------------------------------------------


async def test_add_customer_opens_an_account_with_a_face(
    face_client: Any, staff: dict[str, str], grace_jpeg: bytes
) -> None:
    response = await face_client.post(
        "/add_customer",
        headers=staff,
        form={
            "name": "Grace  Hopper",
            "phone_number": "(555) 010-7070",
            "initial_deposit": "$250",
            "language": "es",
        },
        files=photo(grace_jpeg),
    )
    assert response.status_code == 201
    body = await response.get_json()
    assert body["name"] == "Grace Hopper" and body["phone"] == "+15550107070"
    assert body["language"] == "es"
    assert body["balance"] == "250.00" and body["face_enrolled"] is True
    assert await ledger_total_minor(body["id"]) == 25000


@pytest.mark.parametrize(
    ("form", "upload", "status", "code"),
    [
        ({"name": "Ada", "phone_number": "+15550107071"}, "no_face", 422, "no_face"),
        ({"name": "Ada", "phone_number": "+15550107071"}, "garbage", 415, "unsupported_photo_type"),
        ({"name": "Ada", "phone_number": "not a phone"}, "grace", 400, "invalid_phone"),
        ({"name": "", "phone_number": "+15550107071"}, "grace", 400, "invalid_name"),
        ({"phone_number": "+15550107071"}, "grace", 400, "invalid_name"),
        (
            {"name": "Ada", "phone_number": "+15550107071", "initial_deposit": "-5"},
            "grace",
            400,
            "invalid_amount",
        ),
        ({"name": "Ada", "phone_number": "+15550107071"}, None, 400, "photo_missing"),
        (
            {"name": "Ada", "phone_number": "+15550107071", "language": "fr"},
            "grace",
            400,
            "invalid_language",
        ),
    ],
)
async def test_add_customer_refuses_bad_input_and_creates_nothing(
    face_client: Any,
    staff: dict[str, str],
    grace_jpeg: bytes,
    no_face_jpeg: bytes,
    form: dict[str, str],
    upload: str | None,
    status: int,
    code: str,
) -> None:
    uploads = {"no_face": no_face_jpeg, "garbage": b"nope" * 100, "grace": grace_jpeg}
    files = photo(uploads[upload]) if upload else {}
    response = await face_client.post("/add_customer", headers=staff, form=form, files=files)
    assert await error_of(response) == (status, code)
    assert await Customer.all().count() == 0
    assert await LedgerEntry.all().count() == 0


async def test_add_customer_with_a_taken_phone_is_409(
    face_client: Any, staff: dict[str, str], make_customer: Any, grace_jpeg: bytes
) -> None:
    await make_customer(phone="+15550107072")
    response = await face_client.post(
        "/add_customer",
        headers=staff,
        form={"name": "Grace", "phone_number": "+15550107072"},
        files=photo(grace_jpeg),
    )
    assert await error_of(response) == (409, "phone_taken")
    assert await Customer.all().count() == 1


# -- POST /verify_face --------------------------------------------------------------------------


@pytest.fixture
async def enrolled(
    face_app: Any, make_customer: Any, enrol: Any, astronaut_jpeg: bytes
) -> Customer:
    return await enrol(await make_customer(name="Eileen Collins"), astronaut_jpeg)


async def test_a_plain_check_is_audited_but_never_locks(
    face_client: Any,
    staff: dict[str, str],
    enrolled: Customer,
    astronaut_jpeg: bytes,
    grace_jpeg: bytes,
) -> None:
    same = await face_client.post(
        "/verify_face",
        headers=staff,
        form={"customer_id": str(enrolled.id)},
        files=photo(astronaut_jpeg),
    )
    assert same.status_code == 200
    body = await same.get_json()
    assert body["verified"] is True and body["threshold"] == 0.07
    assert body["distance"] is None  # the decision only (tests/faces/test_face_oracle.py)
    for _ in range(4):  # the hour's plain checks for one customer: 5
        other = await face_client.post(
            "/verify_face",
            headers=staff,
            form={"customer_id": str(enrolled.id)},
            files=photo(grace_jpeg),
        )
        body = await other.get_json()
        assert other.status_code == 200 and body["verified"] is False
    customer = await Customer.get(id=enrolled.id)
    assert not customer.face_locked and customer.face_failures == 0
    events = await AuditEvent.filter(action="face.checked", customer_id=enrolled.id)
    assert len(events) == 5
    assert all(e.details["purpose"] == "staff_check" for e in events)
    assert all(e.details["counts_toward_lockout"] is False for e in events)


async def test_a_branch_withdrawal_is_approved_by_the_face_then_recorded(
    face_client: Any,
    staff: dict[str, str],
    enrolled: Customer,
    open_withdrawal: Any,
    astronaut_jpeg: bytes,
    grace_jpeg: bytes,
) -> None:
    withdrawal, _ = await open_withdrawal(enrolled, "30", channel=Channel.BRANCH)
    wrong = await face_client.post(
        "/verify_face",
        headers=staff,
        form={"withdrawal_id": str(withdrawal.id)},
        files=photo(grace_jpeg),
    )
    body = await wrong.get_json()
    assert wrong.status_code == 200 and body["verified"] is False
    assert body["withdrawal_status"] == "awaiting_selfie"
    assert (await Customer.get(id=enrolled.id)).face_failures == 1  # it counts

    right = await face_client.post(
        "/verify_face",
        headers=staff,
        form={"withdrawal_id": str(withdrawal.id)},
        files=photo(astronaut_jpeg),
    )
    body = await right.get_json()
    assert right.status_code == 200 and body["verified"] is True
    assert body["withdrawal_status"] == "approved" and body["customer_id"] == enrolled.id
    assert (await Customer.get(id=enrolled.id)).face_failures == 0

    again = await face_client.post(
        "/verify_face",
        headers=staff,
        form={"withdrawal_id": str(withdrawal.id)},
        files=photo(astronaut_jpeg),
    )
    assert await error_of(again) == (409, "already_done")
    recorded = await face_client.post(
        "/withdraw", headers=staff, json={"withdrawal_id": withdrawal.id}
    )
    assert recorded.status_code in (200, 201), await recorded.get_json()
    assert await LedgerEntry.filter(withdrawal_id=withdrawal.id).count() == 1


async def test_five_staff_mismatches_lock_and_fail_the_withdrawal(
    face_client: Any,
    staff: dict[str, str],
    enrolled: Customer,
    open_withdrawal: Any,
    grace_jpeg: bytes,
) -> None:
    await Customer.filter(id=enrolled.id).update(face_failures=4)
    withdrawal, _ = await open_withdrawal(enrolled, channel=Channel.BRANCH)
    response = await face_client.post(
        "/verify_face",
        headers=staff,
        form={"withdrawal_id": str(withdrawal.id)},
        files=photo(grace_jpeg),
    )
    body = await response.get_json()
    assert response.status_code == 200 and body["face_locked"] is True
    assert body["withdrawal_status"] == "failed"
    assert (await Withdrawal.get(id=withdrawal.id)).status == WithdrawalStatus.FAILED
    another, _ = await open_withdrawal(enrolled, channel=Channel.BRANCH)
    locked = await face_client.post(
        "/verify_face",
        headers=staff,
        form={"withdrawal_id": str(another.id)},
        files=photo(grace_jpeg),
    )
    assert await error_of(locked) == (403, "face_locked")


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({}, 400, "invalid_request"),
        ({"customer_id": "abc"}, 400, "invalid_id"),
        ({"customer_id": "-3"}, 400, "invalid_id"),
        ({"customer_id": "99999999999"}, 400, "invalid_id"),
        ({"withdrawal_id": "0"}, 400, "invalid_id"),
        ({"customer_id": "999"}, 404, "customer_not_found"),
        ({"withdrawal_id": "999"}, 404, "withdrawal_not_found"),
    ],
)
async def test_verify_face_refuses_bad_ids(
    face_client: Any,
    staff: dict[str, str],
    enrolled: Customer,
    astronaut_jpeg: bytes,
    form: dict[str, str],
    status: int,
    code: str,
) -> None:
    response = await face_client.post(
        "/verify_face", headers=staff, form=form, files=photo(astronaut_jpeg)
    )
    assert await error_of(response) == (status, code)


async def test_verify_face_needs_an_enrolled_face_and_a_verified_code(
    face_client: Any,
    staff: dict[str, str],
    make_customer: Any,
    enrolled: Customer,
    open_withdrawal: Any,
    astronaut_jpeg: bytes,
    no_face_jpeg: bytes,
) -> None:
    bare = await make_customer(phone="+15550108080")
    response = await face_client.post(
        "/verify_face",
        headers=staff,
        form={"customer_id": str(bare.id)},
        files=photo(astronaut_jpeg),
    )
    assert await error_of(response) == (409, "face_not_enrolled")
    withdrawal, _ = await open_withdrawal(enrolled, channel=Channel.BRANCH)
    await Withdrawal.filter(id=withdrawal.id).update(status=WithdrawalStatus.AWAITING_CODE)
    response = await face_client.post(
        "/verify_face",
        headers=staff,
        form={"withdrawal_id": str(withdrawal.id)},
        files=photo(astronaut_jpeg),
    )
    assert await error_of(response) == (409, "code_not_verified")
    other = await make_customer(phone="+15550108081")
    await Withdrawal.filter(id=withdrawal.id).update(status=WithdrawalStatus.AWAITING_SELFIE)
    response = await face_client.post(
        "/verify_face",
        headers=staff,
        form={"withdrawal_id": str(withdrawal.id), "customer_id": str(other.id)},
        files=photo(astronaut_jpeg),
    )
    assert await error_of(response) == (400, "customer_mismatch")
    response = await face_client.post(
        "/verify_face",
        headers=staff,
        form={"customer_id": str(enrolled.id)},
        files=photo(no_face_jpeg),
    )
    assert await error_of(response) == (422, "no_face")
    assert await AuditEvent.filter(action="face.checked").count() == 0
