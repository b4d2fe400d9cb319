"""The database failing under Twilio's webhooks and the capture page.

tests/test_database_down.py covers the staff API and a ledger write failing midway.
Here: every public route answers a quick 503 when the database is unreachable, and an
inbound SMS whose transaction fails midway leaves nothing behind, so Twilio's retry of
the same MessageSid is processed in full instead of being dropped as a duplicate.
"""

from __future__ import annotations

import io
import time
from dataclasses import replace
from typing import Any

import pytest
from quart.datastructures import FileStorage
from tortoise import connections

from smsbank.app import create_app
from smsbank.models import (
    Conversation,
    ConversationState,
    Customer,
    InboundMessage,
    OneTimeCode,
    OutboundMessage,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.settings import Settings
from tests.fake_twilio import free_port
from tests.twilio_signing import TwilioSigner, new_sid, sms_form, voice_form
from tests.webhooks.handset import SMS_PATH, assert_empty_twiml, code_in

QUICK_SECONDS = 2.0
TOKEN = "A" * 43  # shaped like a capture token, so the lookup reaches the database


@pytest.fixture
def unreachable(settings: Settings) -> Settings:
    # Nothing listens on this port: every connection attempt is refused at once.
    return replace(settings, database_url=f"postgres://postgres@127.0.0.1:{free_port()}/none")


async def test_every_public_route_answers_a_quick_503_when_the_database_is_down(
    unreachable: Settings,
) -> None:
    signer = TwilioSigner(unreachable)
    phone = "+15550190001"
    signed = [
        ("/webhooks/twilio/sms", sms_form(phone, "BAL"), ""),
        ("/webhooks/twilio/voice", voice_form(phone), ""),
        ("/webhooks/twilio/voice/menu", voice_form(phone, Digits="1"), "caller=verified"),
        ("/webhooks/twilio/voice/menu", voice_form(phone, Digits="1"), "callback=7"),
        ("/webhooks/twilio/status", {"MessageSid": new_sid(), "MessageStatus": "sent"}, ""),
        (
            "/webhooks/twilio/status",
            {"MessageSid": new_sid(), "MessageStatus": "sent"},
            "outbox_id=7",
        ),
    ]
    selfie = {"selfie": FileStorage(io.BytesIO(b"\xff\xd8\xff"), filename="s.jpg")}
    app = create_app(unreachable)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        answers = []
        for path, form, query in signed:
            started = time.monotonic()
            response = await signer.post(client, path, form, query=query)
            answers.append((path, response, time.monotonic() - started))
        for method, path, kwargs in [
            ("GET", f"/capture/{TOKEN}", {}),
            ("POST", f"/capture/{TOKEN}", {"files": selfie}),
            ("GET", "/dev/messages?phone=%2B15550190001", {}),
        ]:
            started = time.monotonic()
            response = await client.open(path, method=method, **kwargs)  # type: ignore[arg-type]
            answers.append((path, response, time.monotonic() - started))

    for path, response, seconds in answers:
        assert response.status_code == 503, path
        assert (await response.get_json())["error"]["code"] == "service_unavailable", path
        assert response.headers["Retry-After"], path
        assert seconds < QUICK_SECONDS, (path, seconds)


async def test_an_sms_that_fails_midway_leaves_nothing_and_its_retry_is_processed(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer(balance="100.00")
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    form = sms_form(customer.phone, "W 20")
    signer = TwilioSigner(settings)
    database = connections.get("default")

    # The withdrawal and its code are written, then queueing the code SMS fails.
    await database.execute_script("ALTER TABLE outbound_message RENAME TO outbound_message_gone")
    try:
        failed = await signer.post(client, SMS_PATH, form)
    finally:
        await database.execute_script(
            "ALTER TABLE outbound_message_gone RENAME TO outbound_message"
        )
    assert failed.status_code >= 500  # Twilio sees a failure and may deliver it again
    assert await InboundMessage.filter(message_sid=form["MessageSid"]).count() == 0
    assert await Withdrawal.all().count() == 0
    assert await OneTimeCode.all().count() == 0
    conversation = await Conversation.get_or_none(customer_id=customer.id)
    assert conversation is None or conversation.state == ConversationState.IDLE

    # Twilio delivers the same message again: it is not a duplicate, it is handled.
    retried = await signer.post(client, SMS_PATH, form)
    assert_empty_twiml(retried, await retried.get_data())
    [withdrawal] = await Withdrawal.all()
    assert withdrawal.status == WithdrawalStatus.AWAITING_CODE
    assert await OutboundMessage.filter(template="withdrawal_code").count() == 1
    assert await InboundMessage.filter(message_sid=form["MessageSid"]).count() == 1
    # And only once: a third delivery is the duplicate.
    again = await signer.post(client, SMS_PATH, form)
    assert_empty_twiml(again, await again.get_data())
    assert await Withdrawal.all().count() == 1


@pytest.mark.parametrize("flow", ["withdrawal", "phone change"])
async def test_a_branch_code_check_failing_midway_does_not_use_up_the_code(
    client: Any, staff: dict[str, str], make_customer: Any, flow: str
) -> None:
    """The code is marked used and the request moves on in one transaction: when the
    second half fails, the customer's code still works on the next try."""
    customer = await make_customer(balance="100.00")
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    new_phone = "+15550197777"
    if flow == "withdrawal":
        started = await client.get(f"/request_otp_withdraw/{customer.id}?amount=20", headers=staff)
        request_id = (await started.get_json())["withdrawal_id"]
        code_to = customer.phone
        path, body = "/verify_otp_withdraw", {"withdrawal_id": request_id}
    else:
        started = await client.post(
            "/request_update_otp",
            headers=staff,
            json={"customer_id": customer.id, "new_phone_number": new_phone},
        )
        code_to = new_phone
        path, body = "/update_mobile", {"customer_id": customer.id, "new_phone_number": new_phone}
    assert started.status_code == 202, await started.get_data(as_text=True)
    code_sms = await OutboundMessage.filter(to_phone=code_to).order_by("-id").first()
    assert code_sms is not None
    body["otp"] = code_in(code_sms.body)
    database = connections.get("default")

    # The code checks out, then recording that fact in the audit trail fails.
    await database.execute_script("ALTER TABLE audit_event RENAME TO audit_event_gone")
    try:
        failed = await client.post(path, headers=staff, json=body)
    finally:
        await database.execute_script("ALTER TABLE audit_event_gone RENAME TO audit_event")
    assert failed.status_code == 503
    assert await OneTimeCode.filter(used_at__isnull=False).count() == 0

    retried = await client.post(path, headers=staff, json=body)
    assert retried.status_code == 200, await retried.get_json()
    if flow == "withdrawal":
        withdrawal = await Withdrawal.get(id=request_id)
        assert withdrawal.status == WithdrawalStatus.AWAITING_SELFIE
    else:
        assert (await Customer.get(id=customer.id)).phone == new_phone
