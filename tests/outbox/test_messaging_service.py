"""A Twilio Messaging Service (`TWILIO_MESSAGING_SERVICE_SID`): texts leave through the
service's sender pool, calls from the bank's voice number; a customer may text any
number of the pool. The real twilio library against the fake Twilio."""

from __future__ import annotations

from typing import Any

import pytest

from smsbank.models import OutboundMessage, OutboundStatus
from smsbank.outbox import enqueue_call, enqueue_sms
from smsbank.outbox.worker import deliver_due
from smsbank.settings import Settings
from smsbank.sms_backends import TwilioBackend
from tests.fake_twilio import FakeTwilio
from tests.twilio_signing import TwilioSigner, sms_form

SERVICE = "MG" + "5e" * 16
POOL = ["+15550002222", "+15550003333"]
CUSTOMER = "+15550107878"


@pytest.fixture
def service_settings(twilio_settings: Settings, fake: FakeTwilio) -> Settings:
    fake.add_service(SERVICE, numbers=POOL)
    return twilio_settings.with_overrides(twilio_messaging_service_sid=SERVICE)


@pytest.mark.usefixtures("db")
async def test_texts_name_the_service_and_no_sender_and_calls_come_from_the_number(
    service_settings: Settings, fake: FakeTwilio
) -> None:
    text = await enqueue_sms(service_settings, to=CUSTOMER, body="Your code...", template="t")
    call = await enqueue_call(service_settings, to=CUSTOMER, say="Your code is 1.", template="t")
    backend = TwilioBackend(service_settings, timeout=2.0)
    try:
        result = await deliver_due(service_settings, backend)
    finally:
        await backend.close()
    assert (result.sent, result.failed, result.retrying) == (2, 0, 0)

    [sms] = [r for r in fake.accepted if r.kind == "sms"]
    assert sms.form["MessagingServiceSid"] == SERVICE
    assert "From" not in sms.form
    assert (sms.form["To"], sms.form["Body"]) == (CUSTOMER, "Your code...")
    [voice] = [r for r in fake.accepted if r.kind == "call"]
    assert voice.form["From"] == service_settings.twilio_phone_number
    assert "MessagingServiceSid" not in voice.form
    stored = {row.id: row for row in await OutboundMessage.all()}
    assert stored[text.id].status == OutboundStatus.SENT
    assert stored[text.id].provider_sid == sms.sid
    assert stored[call.id].provider_sid == voice.sid


@pytest.mark.usefixtures("db")
async def test_a_service_twilio_does_not_know_fails_the_text_with_the_reason(
    twilio_settings: Settings, fake: FakeTwilio
) -> None:
    unknown = twilio_settings.with_overrides(twilio_messaging_service_sid="MG" + "0" * 32)
    text = await enqueue_sms(unknown, to=CUSTOMER, body="hello", template="t")
    backend = TwilioBackend(unknown, timeout=2.0)
    try:
        result = await deliver_due(unknown, backend)
    finally:
        await backend.close()
    assert result.failed == 1
    row = await OutboundMessage.get(id=text.id)
    assert row.status == OutboundStatus.FAILED and "21705" in (row.last_error or "")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(twilio_messaging_service_sid=SERVICE)


@pytest.mark.parametrize("pool_number", POOL)
async def test_a_text_to_any_number_of_the_pool_is_answered(
    client: Any, settings: Settings, make_customer: Any, pool_number: str
) -> None:
    """Twilio posts the service's inbound webhook with `To` the pool number texted and
    `MessagingServiceSid`; the bank answers the customer whichever number it was."""
    customer = await make_customer(phone=CUSTOMER)
    form = sms_form(CUSTOMER, "BAL", to=pool_number, MessagingServiceSid=SERVICE)
    response = await TwilioSigner(settings).post(client, "/webhooks/twilio/sms", form)
    assert response.status_code == 200
    [reply] = await OutboundMessage.filter(to_phone=customer.phone)
    assert "balance" in reply.body


def test_a_service_sid_must_look_like_one() -> None:
    with pytest.raises(ValueError, match="TWILIO_MESSAGING_SERVICE_SID"):
        Settings(twilio_messaging_service_sid="PN" + "5e" * 16).validate()


def test_a_service_without_a_voice_number_is_refused_naming_it() -> None:
    """Calls (CALL, call-backs) need a voice-capable number; a service has none."""
    with pytest.raises(ValueError, match="TWILIO_PHONE_NUMBER") as refused:
        Settings(
            twilio_account_sid="ACtest",
            twilio_auth_token="token",
            twilio_messaging_service_sid=SERVICE,
        ).validate()
    assert "voice" in str(refused.value)
