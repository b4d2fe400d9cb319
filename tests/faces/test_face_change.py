"""Changing an enrolled face happens at a branch only, never through an enrolment link.

The attack: staff (or anyone with a staff key) text an enrolment link to an enrolled
customer, and whoever holds the phone enrols their own face, silently. Now a link is
refused for an enrolled face (409: re-enrol at the counter), a link issued earlier
cannot overwrite a face enrolled since, and a re-enrolment at the counter is refused
on a locked account or while face checks are locked, audited as a face change, texted
to the customer, and followed by the cooling-off. Real DeepFace on real photos.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from quart.datastructures import FileStorage

from smsbank.core.clock import utcnow
from smsbank.core.models import (
    AuditEvent,
    CaptureToken,
    CaptureTokenStatus,
    Customer,
    CustomerStatus,
    OutboundMessage,
)
from smsbank.core.settings import Settings
from smsbank.faces.checks import compare_with_enrolled
from smsbank.requests.capture import issue_enrolment_link
from tests.faces.conftest import path_of
from tests.webhooks.handset import Handset


def photo(data: bytes) -> dict[str, FileStorage]:
    return {"photo": FileStorage(io.BytesIO(data), filename="photo.jpg", content_type="image/jpeg")}


async def put_face(client: Any, staff: dict[str, str], customer: Customer, data: bytes) -> Any:
    return await client.put(
        f"/api/v1/customers/{customer.id}/face", headers=staff, files=photo(data)
    )


async def post_selfie(client: Any, url: str, data: bytes) -> tuple[int, dict[str, Any]]:
    selfie = FileStorage(io.BytesIO(data), filename="selfie.jpg", content_type="image/jpeg")
    response = await client.post(path_of(url), files={"selfie": selfie})
    return response.status_code, await response.get_json()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests are about the single selfie of SPEC §9: liveness off."""
    return settings.with_overrides(liveness="off")


async def test_no_enrolment_link_for_an_enrolled_face(
    face_client: Any, staff: dict[str, str], make_customer: Any, enrol: Any, astronaut_jpeg: bytes
) -> None:
    customer = await enrol(await make_customer(), astronaut_jpeg)

    response = await face_client.post(
        f"/api/v1/customers/{customer.id}/enrolment-link", headers=staff
    )

    assert response.status_code == 409
    error = (await response.get_json())["error"]
    assert error["code"] == "face_enrolled"
    assert "PUT /api/v1/customers/" in error["message"] and "counter" in error["message"]
    assert await OutboundMessage.filter(template="enrolment_link").count() == 0


async def test_no_enrolment_link_for_a_locked_account(
    face_client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await make_customer()
    await Customer.filter(id=customer.id).update(status=CustomerStatus.LOCKED)
    response = await face_client.post(
        f"/api/v1/customers/{customer.id}/enrolment-link", headers=staff
    )
    assert response.status_code == 403
    assert (await response.get_json())["error"]["code"] == "account_locked"


async def test_an_earlier_link_cannot_replace_a_face_enrolled_since(
    face_client: Any,
    settings: Settings,
    staff: dict[str, str],
    make_customer: Any,
    face_service: Any,
    astronaut_jpeg: bytes,
    grace_jpeg: bytes,
) -> None:
    customer = await make_customer()
    url = await issue_enrolment_link(settings, customer, actor="test")  # sent, not yet used
    assert (await put_face(face_client, staff, customer, astronaut_jpeg)).status_code == 200

    page = await face_client.get(path_of(url))
    status, body = await post_selfie(face_client, url, grace_jpeg)  # someone else's face

    assert page.status_code == 410
    assert (status, body["status"]) == (410, "expired")  # enrolling closed the link
    customer = await Customer.get(id=customer.id)
    assert (await compare_with_enrolled(settings, face_service, customer, astronaut_jpeg)).verified
    assert await AuditEvent.filter(action="face.enrolled", customer_id=customer.id).count() == 1


async def test_a_live_link_meeting_an_enrolled_face_is_refused_and_closed(
    face_client: Any,
    settings: Settings,
    make_customer: Any,
    enrol: Any,
    face_service: Any,
    astronaut_jpeg: bytes,
    grace_jpeg: bytes,
) -> None:
    """A face enrolled by a path that closes no link (a database edit, an old release)."""
    customer = await make_customer()
    url = await issue_enrolment_link(settings, customer, actor="test")
    enrolled = await enrol(customer, astronaut_jpeg)
    await CaptureToken.filter(customer_id=customer.id).update(status=CaptureTokenStatus.ACTIVE)

    page = await face_client.get(path_of(url))
    status, body = await post_selfie(face_client, url, grace_jpeg)

    assert page.status_code == 410 and "already enrolled" in await page.get_data(as_text=True)
    assert (status, body["status"]) == (409, "failed")
    assert "branch" in body["message"]
    [token] = await CaptureToken.filter(customer_id=customer.id)
    assert token.status == CaptureTokenStatus.FAILED
    after = await Customer.get(id=customer.id)
    assert after.face_embedding == enrolled.face_embedding


async def test_re_enrolment_at_the_counter_is_audited_told_and_pauses_withdrawals(
    face_client: Any,
    settings: Settings,
    staff: dict[str, str],
    make_customer: Any,
    enrol: Any,
    face_service: Any,
    astronaut_jpeg: bytes,
    grace_jpeg: bytes,
) -> None:
    customer = await enrol(await make_customer(), astronaut_jpeg)
    assert (await Customer.get(id=customer.id)).withdrawals_held_until is None  # first: no hold

    response = await put_face(face_client, staff, customer, grace_jpeg)

    assert response.status_code == 200
    customer = await Customer.get(id=customer.id)
    assert (await compare_with_enrolled(settings, face_service, customer, grace_jpeg)).verified
    event = await AuditEvent.get(action="face.changed", customer_id=customer.id)
    assert event.actor == "api_key:bootstrap"
    [notice] = await OutboundMessage.filter(to_phone=customer.phone, template="face_changed")
    assert "face was changed at a branch" in notice.body and "not you" in notice.body
    held = customer.withdrawals_held_until
    assert held is not None and held - utcnow() > timedelta(hours=23)
    [reply] = await Handset(face_client, settings, customer.phone).ask("W 20")
    assert "paused until" in reply


@pytest.mark.parametrize(
    ("lock", "code"),
    [({"status": CustomerStatus.LOCKED}, "account_locked"), ({"face_locked": True}, "face_locked")],
)
async def test_no_re_enrolment_on_a_locked_account_or_locked_face_checks(
    face_client: Any,
    settings: Settings,
    staff: dict[str, str],
    make_customer: Any,
    enrol: Any,
    face_service: Any,
    astronaut_jpeg: bytes,
    grace_jpeg: bytes,
    lock: dict[str, Any],
    code: str,
) -> None:
    customer = await enrol(await make_customer(), astronaut_jpeg)
    await Customer.filter(id=customer.id).update(**lock)

    response = await put_face(face_client, staff, customer, grace_jpeg)

    assert response.status_code == 403
    error = (await response.get_json())["error"]
    assert error["code"] == code and "PATCH /api/v1/customers/" in error["message"]
    customer = await Customer.get(id=customer.id)
    assert (await compare_with_enrolled(settings, face_service, customer, astronaut_jpeg)).verified
    assert await OutboundMessage.filter(template="face_changed").count() == 0
    # Staff lift the lock (an audited act of its own), then the re-enrolment goes through.
    lift = {"status": "active"} if "status" in lock else {"face_locked": False}
    patched = await face_client.patch(f"/api/v1/customers/{customer.id}", json=lift, headers=staff)
    assert patched.status_code == 200
    assert (await put_face(face_client, staff, customer, grace_jpeg)).status_code == 200
