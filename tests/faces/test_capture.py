"""Capture links and the selfie they carry: tokens, attempts, lockout, and the
withdrawal or phone change a verified selfie completes."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from quart.datastructures import FileStorage

from smsbank.core.clock import utcnow
from smsbank.core.ledger import ledger_total_minor
from smsbank.core.models import (
    AuditEvent,
    CapturePurpose,
    CaptureToken,
    CaptureTokenStatus,
    Customer,
    LedgerEntry,
    OutboundMessage,
    PhoneChange,
    PhoneChangeStatus,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.core.settings import Settings
from smsbank.requests.capture import hash_token, issue_capture_link, issue_enrolment_link
from tests.faces.conftest import path_of, token_of


def selfie(data: bytes, field: str = "selfie") -> dict[str, FileStorage]:
    return {field: FileStorage(io.BytesIO(data), filename="selfie.jpg", content_type="image/jpeg")}


async def post_selfie(client: Any, url: str, data: bytes) -> tuple[int, dict[str, Any]]:
    response = await client.post(path_of(url), files=selfie(data))
    return response.status_code, await response.get_json()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests are about the single selfie of SPEC §9: liveness off."""
    return settings.with_overrides(liveness="off")


@pytest.fixture
async def astronaut_customer(
    face_app: Any, make_customer: Any, enrol: Any, astronaut_jpeg: bytes
) -> Customer:
    """$100 and the astronaut's face enrolled."""
    return await enrol(await make_customer(name="Eileen Collins"), astronaut_jpeg)


async def test_a_link_is_random_hashed_and_points_at_the_page(
    face_app: Any, settings: Settings, astronaut_customer: Customer, open_withdrawal: Any
) -> None:
    _, url = await open_withdrawal(astronaut_customer)
    token = token_of(url)
    assert url == f"{settings.base_url}/c/{token}"  # the short form, as texted
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)  # 16 random bytes (128 bits), URL-safe
    record = await CaptureToken.get(token_hash=hash_token(token))
    assert token not in record.token_hash
    assert record.max_attempts == 3
    lifetime = record.expires_at - record.created_at
    assert timedelta(minutes=9, seconds=59) <= lifetime <= timedelta(minutes=10, seconds=1)


async def test_the_page_shows_the_request_and_the_camera_controls(
    face_client: Any, astronaut_customer: Customer, open_withdrawal: Any
) -> None:
    _, url = await open_withdrawal(astronaut_customer, "20")
    response = await face_client.get(path_of(url))
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert "Confirm your withdrawal of $20.00" in html
    assert "Take selfie" in html and "Retake" in html and "Send" in html
    assert 'accept="image/*" capture="user"' in html
    assert 'data-attempts-left="3"' in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing from elsewhere
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    script = ""
    for name in ("page.js", "selfie.js", "capture.css"):
        assert f"/capture_static/{name}" in html
        static = await face_client.get(f"/capture_static/{name}")
        assert static.status_code == 200
        script += await static.get_data(as_text=True)
    assert "getUserMedia" in script and 'facingMode: "user"' in script


async def test_the_short_link_leads_to_the_page_which_posts_to_capture(
    face_client: Any, astronaut_customer: Customer, open_withdrawal: Any
) -> None:
    _, url = await open_withdrawal(astronaut_customer, "20")
    token = token_of(url)
    short = await face_client.get(f"/c/{token}")
    assert short.status_code == 302 and short.headers["Location"] == f"/capture/{token}"
    assert short.headers["Cache-Control"] == "no-store"
    page = await face_client.get(short.headers["Location"])
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert f'data-post-url="/capture/{token}"' in html
    # An unknown short link leads to the page's own "not valid" answer.
    unknown = await face_client.get(short.headers["Location"].replace(token, "B" * 22))
    assert unknown.status_code == 404


@pytest.mark.parametrize("token", ["nope", "A" * 22, "A" * 43, "A" * 200, "%2e%2e"])
async def test_an_unknown_link_is_404(face_client: Any, token: str, astronaut_jpeg: bytes) -> None:
    page = await face_client.get(f"/capture/{token}")
    assert page.status_code == 404
    assert "Link not valid" in await page.get_data(as_text=True)
    response = await face_client.post(f"/capture/{token}", files=selfie(astronaut_jpeg))
    assert response.status_code == 404
    body = await response.get_json()
    assert body["status"] == "expired" and body["error"]["code"] == "unknown_link"


async def test_an_expired_link_is_410(
    face_client: Any, astronaut_customer: Customer, open_withdrawal: Any, astronaut_jpeg: bytes
) -> None:
    _, url = await open_withdrawal(astronaut_customer)
    await CaptureToken.filter(token_hash=hash_token(token_of(url))).update(
        expires_at=utcnow() - timedelta(seconds=1)
    )
    page = await face_client.get(path_of(url))
    assert page.status_code == 410 and "Link expired" in await page.get_data(as_text=True)
    status, body = await post_selfie(face_client, url, astronaut_jpeg)
    assert (status, body["status"], body["error"]["code"]) == (410, "expired", "link_expired")
    assert await LedgerEntry.filter(kind="withdrawal").count() == 0


async def test_a_verified_selfie_records_the_withdrawal_once(
    face_client: Any,
    astronaut_customer: Customer,
    open_withdrawal: Any,
    astronaut: Any,
) -> None:
    from tests.faces.conftest import changed_copies

    withdrawal, url = await open_withdrawal(astronaut_customer, "20")
    status, body = await post_selfie(face_client, url, changed_copies(astronaut)["crop"])
    assert status == 200, body
    assert body["status"] == "verified" and body["attempts_left"] == 0
    assert "$20.00" in body["message"]

    withdrawal = await Withdrawal.get(id=withdrawal.id)
    assert withdrawal.status == WithdrawalStatus.COMPLETED
    assert withdrawal.face_distance is not None and withdrawal.face_distance <= 0.07
    entries = await LedgerEntry.filter(withdrawal_id=withdrawal.id)
    assert len(entries) == 1 and entries[0].amount_minor == 2000
    customer = await Customer.get(id=astronaut_customer.id)
    assert customer.balance_minor == 8000 == await ledger_total_minor(customer.id)
    texts = await OutboundMessage.filter(template="withdrawal_completed", to_phone=customer.phone)
    assert len(texts) == 1 and entries[0].reference in texts[0].body
    checked = await AuditEvent.get(action="face.checked", customer_id=customer.id)
    assert checked.details["verified"] is True and checked.details["purpose"] == "withdrawal"
    assert 0 <= checked.details["distance"] <= 0.07

    # The link is dead now: the page says so and a second selfie changes nothing.
    assert (await face_client.get(path_of(url))).status_code == 410
    status, body = await post_selfie(face_client, url, changed_copies(astronaut)["crop"])
    assert (status, body["status"]) == (410, "expired")
    assert await LedgerEntry.filter(withdrawal_id=withdrawal.id).count() == 1


async def test_two_selfies_posted_at_once_record_one_withdrawal(
    face_client: Any, astronaut_customer: Customer, open_withdrawal: Any, astronaut_jpeg: bytes
) -> None:
    withdrawal, url = await open_withdrawal(astronaut_customer, "20")
    results = await asyncio.gather(
        post_selfie(face_client, url, astronaut_jpeg),
        post_selfie(face_client, url, astronaut_jpeg),
    )
    statuses = sorted((status, body["status"]) for status, body in results)
    assert statuses == [(200, "verified"), (410, "expired")]
    assert await LedgerEntry.filter(withdrawal_id=withdrawal.id).count() == 1
    assert (await Customer.get(id=astronaut_customer.id)).balance_minor == 8000


async def test_two_mismatches_at_once_cannot_both_use_the_last_attempt(
    face_client: Any, astronaut_customer: Customer, open_withdrawal: Any, grace_jpeg: bytes
) -> None:
    withdrawal, url = await open_withdrawal(astronaut_customer)
    record = await CaptureToken.get(token_hash=hash_token(token_of(url)))
    await CaptureToken.filter(id=record.id).update(attempts_used=2)  # one attempt left
    results = await asyncio.gather(
        post_selfie(face_client, url, grace_jpeg), post_selfie(face_client, url, grace_jpeg)
    )
    statuses = sorted((status, body["status"]) for status, body in results)
    assert statuses == [(200, "failed"), (410, "expired")]
    record = await CaptureToken.get(id=record.id)
    assert (record.attempts_used, record.status) == (3, CaptureTokenStatus.FAILED)
    # Only the selfie that got the attempt counts toward the lockout.
    assert (await Customer.get(id=astronaut_customer.id)).face_failures == 1
    assert (await Withdrawal.get(id=withdrawal.id)).status == WithdrawalStatus.FAILED


async def test_mismatches_leave_attempts_then_fail_the_withdrawal(
    face_client: Any, astronaut_customer: Customer, open_withdrawal: Any, grace_jpeg: bytes
) -> None:
    withdrawal, url = await open_withdrawal(astronaut_customer, "20")
    for left in (2, 1):
        status, body = await post_selfie(face_client, url, grace_jpeg)
        assert (status, body["status"], body["attempts_left"]) == (200, "retry", left)
        assert "try again" in body["message"]  # how many are left: `attempts_left`
    status, body = await post_selfie(face_client, url, grace_jpeg)
    assert (status, body["status"], body["attempts_left"]) == (200, "failed", 0)

    withdrawal = await Withdrawal.get(id=withdrawal.id)
    assert withdrawal.status == WithdrawalStatus.FAILED
    assert await LedgerEntry.filter(withdrawal_id=withdrawal.id).count() == 0
    assert await OutboundMessage.filter(template="withdrawal_failed").count() == 1
    checks = await AuditEvent.filter(action="face.checked", customer_id=astronaut_customer.id)
    assert [c.details["verified"] for c in checks] == [False, False, False]
    assert all(c.details["distance"] > 0.07 for c in checks)
    status, body = await post_selfie(face_client, url, grace_jpeg)
    assert (status, body["status"]) == (410, "expired")


async def test_a_spanish_customer_reads_the_selfie_answers_in_spanish(
    face_client: Any,
    make_customer: Any,
    enrol: Any,
    astronaut_jpeg: bytes,
    open_withdrawal: Any,
    grace_jpeg: bytes,
) -> None:
    customer = await enrol(
        await make_customer(name="Eileen Collins", language="es"), astronaut_jpeg
    )
    _, url = await open_withdrawal(customer, "20")
    answers = [await post_selfie(face_client, url, grace_jpeg) for _ in range(3)]
    assert [body["status"] for _, body in answers] == ["retry", "retry", "failed"]
    assert "inténtelo de nuevo" in answers[0][1]["message"]
    assert "selfie did not match" not in answers[0][1]["message"]
    # The last answer ends the request: said in Spanish too, not in the catalog's English.
    assert answers[2][1]["message"].startswith("No quedan intentos")


@pytest.mark.parametrize(
    ("photo", "status", "code"),
    [
        ("no_face", 422, "no_face"),
        ("garbage", 415, "unsupported_photo_type"),
        ("truncated", 422, "photo_unreadable"),
        ("empty", 400, "photo_missing"),
        ("oversized", 413, "photo_too_large"),
    ],
)
async def test_an_unusable_photo_uses_no_attempt(
    face_client: Any,
    astronaut_customer: Customer,
    open_withdrawal: Any,
    no_face_jpeg: bytes,
    astronaut_jpeg: bytes,
    photo: str,
    status: int,
    code: str,
) -> None:
    _, url = await open_withdrawal(astronaut_customer)
    photos = {
        "no_face": no_face_jpeg,
        "garbage": b"GIF89a not what we take",
        "truncated": astronaut_jpeg[: len(astronaut_jpeg) // 3],
        "empty": b"",
        "oversized": b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024),
    }
    got, body = await post_selfie(face_client, url, photos[photo])
    assert (got, body["error"]["code"]) == (status, code)
    assert body["status"] == "retry" and body["attempts_left"] == 3 and body["message"]
    record = await CaptureToken.get(token_hash=hash_token(token_of(url)))
    assert (record.attempts_used, record.status) == (0, CaptureTokenStatus.ACTIVE)
    assert (await Customer.get(id=astronaut_customer.id)).face_failures == 0


async def test_a_post_without_a_selfie_is_a_clear_400(
    face_client: Any, astronaut_customer: Customer, open_withdrawal: Any, astronaut_jpeg: bytes
) -> None:
    _, url = await open_withdrawal(astronaut_customer)
    for kwargs in ({}, {"files": selfie(astronaut_jpeg, field="photo")}, {"json": {"x": 1}}):
        response = await face_client.post(path_of(url), **kwargs)
        assert response.status_code == 400
        body = await response.get_json()
        assert body["status"] == "retry" and body["error"]["code"] == "selfie_missing"


async def test_five_failures_in_a_row_lock_until_staff_unlock(
    face_client: Any,
    staff: dict[str, str],
    astronaut_customer: Customer,
    open_withdrawal: Any,
    grace_jpeg: bytes,
    astronaut_jpeg: bytes,
) -> None:
    customer_id = astronaut_customer.id
    _, first = await open_withdrawal(astronaut_customer)
    for _ in range(3):
        await post_selfie(face_client, first, grace_jpeg)  # the third fails the withdrawal
    second_withdrawal, second = await open_withdrawal(astronaut_customer)
    status, body = await post_selfie(face_client, second, grace_jpeg)
    assert (status, body["status"]) == (200, "retry")
    status, body = await post_selfie(face_client, second, grace_jpeg)  # the fifth in a row
    assert (status, body["status"]) == (200, "failed")
    assert "locked" in body["message"]
    customer = await Customer.get(id=customer_id)
    assert customer.face_locked and customer.face_failures == 5
    assert (await Withdrawal.get(id=second_withdrawal.id)).status == WithdrawalStatus.FAILED
    assert await AuditEvent.filter(action="face.locked", customer_id=customer_id).count() == 1

    # Locked: a new link refuses even the right face, and the page says why.
    third_withdrawal, third = await open_withdrawal(astronaut_customer)
    page = await face_client.get(path_of(third))
    assert page.status_code == 403 and "locked" in await page.get_data(as_text=True)
    status, body = await post_selfie(face_client, third, astronaut_jpeg)
    assert (status, body["status"]) == (403, "failed")
    assert (await Withdrawal.get(id=third_withdrawal.id)).status == WithdrawalStatus.FAILED

    unlocked = await face_client.patch(
        f"/api/v1/customers/{customer_id}", headers=staff, json={"face_locked": False}
    )
    assert unlocked.status_code == 200
    customer = await Customer.get(id=customer_id)
    assert not customer.face_locked and customer.face_failures == 0
    _, fourth = await open_withdrawal(astronaut_customer)
    status, body = await post_selfie(face_client, fourth, astronaut_jpeg)
    assert (status, body["status"]) == (200, "verified")


async def test_a_match_resets_the_failure_count(
    face_client: Any,
    astronaut_customer: Customer,
    open_withdrawal: Any,
    grace_jpeg: bytes,
    astronaut_jpeg: bytes,
) -> None:
    _, url = await open_withdrawal(astronaut_customer)
    await post_selfie(face_client, url, grace_jpeg)
    assert (await Customer.get(id=astronaut_customer.id)).face_failures == 1
    status, body = await post_selfie(face_client, url, astronaut_jpeg)
    assert (status, body["status"]) == (200, "verified")
    assert (await Customer.get(id=astronaut_customer.id)).face_failures == 0


async def test_a_withdrawal_cancelled_meanwhile_is_not_recorded(
    face_client: Any, astronaut_customer: Customer, open_withdrawal: Any, astronaut_jpeg: bytes
) -> None:
    withdrawal, url = await open_withdrawal(astronaut_customer)
    await Withdrawal.filter(id=withdrawal.id).update(status=WithdrawalStatus.CANCELLED)
    page = await face_client.get(path_of(url))
    assert page.status_code == 410
    assert "cancelled or has already ended" in await page.get_data(as_text=True)
    status, body = await post_selfie(face_client, url, astronaut_jpeg)
    assert (status, body["status"]) == (409, "failed")
    assert await LedgerEntry.filter(kind="withdrawal").count() == 0
    assert (await Customer.get(id=astronaut_customer.id)).face_failures == 0


async def test_an_enrolment_link_enrols_the_face(
    face_client: Any,
    settings: Settings,
    make_customer: Any,
    grace_jpeg: bytes,
    no_face_jpeg: bytes,
    face_service: Any,
) -> None:
    customer = await make_customer(name="Grace Hopper")
    old = await issue_enrolment_link(settings, customer, actor="test")
    url = await issue_enrolment_link(settings, customer, actor="test")
    assert (await face_client.get(path_of(old))).status_code == 410  # only the newest works
    page = await face_client.get(path_of(url))
    assert page.status_code == 200 and "Enrol your face" in await page.get_data(as_text=True)

    status, body = await post_selfie(face_client, url, no_face_jpeg)
    assert (status, body["status"]) == (422, "retry")
    status, body = await post_selfie(face_client, url, grace_jpeg)
    assert (status, body["status"]) == (200, "enrolled")
    customer = await Customer.get(id=customer.id)
    assert customer.face_enrolled and customer.face_model == "Dlib/dlib"
    event = await AuditEvent.get(action="face.enrolled", customer_id=customer.id)
    assert event.details["source"] == "enrolment_link"
    status, body = await post_selfie(face_client, url, grace_jpeg)
    assert status == 410


async def test_a_verified_selfie_completes_a_phone_change(
    face_client: Any, settings: Settings, astronaut_customer: Customer, astronaut_jpeg: bytes
) -> None:
    old_phone = astronaut_customer.phone
    change = await PhoneChange.create(
        customer_id=astronaut_customer.id,
        old_phone=old_phone,
        new_phone="+15550199999",
        status=PhoneChangeStatus.AWAITING_SELFIE,
        code_verified_at=utcnow(),
        expires_at=utcnow() + timedelta(minutes=15),
    )
    url = await issue_capture_link(
        settings,
        customer_id=astronaut_customer.id,
        purpose=CapturePurpose.PHONE_CHANGE,
        phone_change_id=change.id,
    )
    page = await face_client.get(path_of(url))
    assert "Confirm your new phone number" in await page.get_data(as_text=True)
    status, body = await post_selfie(face_client, url, astronaut_jpeg)
    assert (status, body["status"]) == (200, "verified")
    assert (await Customer.get(id=astronaut_customer.id)).phone == "+15550199999"
    assert (await PhoneChange.get(id=change.id)).status == PhoneChangeStatus.COMPLETED
    notified = await OutboundMessage.filter(template__in=["phone_changed_old", "phone_changed_new"])
    assert {m.to_phone for m in notified} == {old_phone, "+15550199999"}


async def test_a_locked_account_cannot_approve_by_selfie(
    face_client: Any, astronaut_customer: Customer, open_withdrawal: Any, astronaut_jpeg: bytes
) -> None:
    from smsbank.core.models import CustomerStatus

    withdrawal, url = await open_withdrawal(astronaut_customer)
    await Customer.filter(id=astronaut_customer.id).update(status=CustomerStatus.LOCKED)
    page = await face_client.get(path_of(url))
    assert page.status_code == 403 and "Account locked" in await page.get_data(as_text=True)
    status, body = await post_selfie(face_client, url, astronaut_jpeg)
    assert (status, body["status"]) == (403, "failed")
    assert (await Withdrawal.get(id=withdrawal.id)).status == WithdrawalStatus.FAILED
    assert await LedgerEntry.filter(kind="withdrawal").count() == 0


async def test_a_face_that_cannot_be_compared_fails_rather_than_retries(
    face_client: Any, make_customer: Any, open_withdrawal: Any, astronaut_jpeg: bytes
) -> None:
    customer = await make_customer()  # no face enrolled
    _, url = await open_withdrawal(customer)
    status, body = await post_selfie(face_client, url, astronaut_jpeg)
    assert (status, body["status"], body["error"]["code"]) == (409, "failed", "face_not_enrolled")


async def test_a_busy_face_check_asks_to_retry_and_keeps_the_link(
    face_client: Any,
    face_service: Any,
    astronaut_customer: Customer,
    open_withdrawal: Any,
    astronaut_jpeg: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool full (one photo allowed in flight here): the second selfie posted at
    the same moment gets 503 "retry", not "failed", which would end the page while the
    link is still good; the link then still takes the selfie."""
    withdrawal, url = await open_withdrawal(astronaut_customer, "20")
    monkeypatch.setattr(face_service, "max_pending", 1)
    results = await asyncio.gather(
        post_selfie(face_client, url, astronaut_jpeg),
        post_selfie(face_client, url, astronaut_jpeg),
    )
    busy = [body for status, body in results if status == 503]
    assert len(busy) == 1, results
    assert busy[0]["status"] == "retry" and "try again" in busy[0]["message"]
    assert sorted(status for status, _ in results) == [200, 503]
    assert await LedgerEntry.filter(withdrawal_id=withdrawal.id).count() == 1


async def test_a_busy_face_check_leaves_the_link_for_the_next_selfie(
    face_client: Any,
    face_service: Any,
    astronaut_customer: Customer,
    open_withdrawal: Any,
    astronaut_jpeg: bytes,
    no_face_jpeg: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    withdrawal, url = await open_withdrawal(astronaut_customer, "20")
    monkeypatch.setattr(face_service, "max_pending", 1)
    # Two unusable photos at once: one is looked at (422, no attempt used), the other
    # is turned away unseen (503); both ask for another selfie.
    results = await asyncio.gather(
        post_selfie(face_client, url, no_face_jpeg),
        post_selfie(face_client, url, no_face_jpeg),
    )
    assert sorted(status for status, _ in results) == [422, 503], results
    assert all(body["status"] == "retry" for _, body in results)
    monkeypatch.undo()
    assert (await face_client.get(path_of(url))).status_code == 200
    status, body = await post_selfie(face_client, url, astronaut_jpeg)
    assert (status, body["status"]) == (200, "verified"), body
    assert await LedgerEntry.filter(withdrawal_id=withdrawal.id).count() == 1
