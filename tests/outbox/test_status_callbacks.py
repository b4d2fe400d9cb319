"""`POST /webhooks/twilio/status`: signed reports move a message forward, never back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from smsbank.models import OutboundMessage, OutboundStatus
from smsbank.outbox import enqueue_call, enqueue_sms
from smsbank.outbox.claims import claim_due
from smsbank.outbox.worker import deliver_due
from smsbank.settings import Settings
from smsbank.sms_backends import TwilioBackend
from tests.fake_twilio import FakeTwilio
from tests.outbox.conftest import reload
from tests.twilio_signing import TwilioSigner, new_sid

PATH = "/webhooks/twilio/status"
PHONE = "+15550108888"


async def sent_sms(settings: Settings, backend: TwilioBackend) -> OutboundMessage:
    message = await enqueue_sms(settings, to=PHONE, body="Your code is 123456.", template="t")
    assert (await deliver_due(settings, backend)).sent == 1
    return await reload(message)


async def test_delivered_callback_updates_the_message(
    app: Any, client: Any, twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    message = await sent_sms(twilio_settings, twilio)
    assert message.provider_sid is not None

    answered = await fake.send_status_callback(message.provider_sid, "delivered", client)

    assert answered == 200
    assert (await reload(message)).status == OutboundStatus.DELIVERED


async def test_delivered_never_goes_back(
    app: Any, client: Any, twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    message = await sent_sms(twilio_settings, twilio)
    sid = message.provider_sid
    assert sid is not None
    assert await fake.send_status_callback(sid, "delivered", client) == 200

    # Callbacks arrive out of order: a late "sent" or "queued" must not undo delivery.
    for late in ("sent", "queued", "sending", "undelivered", "failed"):
        url, form, signature = fake.status_callback(sid, late)
        response = await client.post(
            url.removeprefix("https://bank.example.test"),
            form=form,
            headers={"X-Twilio-Signature": signature},
        )
        assert response.status_code == 200
        assert (await response.get_json())["result"] == "unchanged"
    assert (await reload(message)).status == OutboundStatus.DELIVERED


async def test_failure_reports_keep_the_error_code(
    app: Any, client: Any, twilio_settings: Settings, twilio: TwilioBackend
) -> None:
    message = await sent_sms(twilio_settings, twilio)
    signer = TwilioSigner(twilio_settings)
    form = {
        "MessageSid": message.provider_sid,
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
    }

    response = await signer.post(client, PATH, form)

    assert response.status_code == 200
    stored = await reload(message)
    assert stored.status == OutboundStatus.UNDELIVERED
    assert stored.last_error is not None and "30003" in stored.last_error


async def test_call_status_callbacks(
    app: Any, client: Any, twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    answered = await enqueue_call(twilio_settings, to=PHONE, say="1 2 3", template="voice")
    busy = await enqueue_call(twilio_settings, to="+15550108889", say="4 5 6", template="voice")
    await deliver_due(twilio_settings, twilio)
    answered, busy = await reload(answered), await reload(busy)
    assert answered.provider_sid and busy.provider_sid

    assert await fake.send_status_callback(answered.provider_sid, "completed", client) == 200
    assert await fake.send_status_callback(busy.provider_sid, "busy", client) == 200

    assert (await reload(answered)).status == OutboundStatus.DELIVERED
    assert (await reload(busy)).status == OutboundStatus.UNDELIVERED


async def test_forged_or_missing_signature_is_refused_and_changes_nothing(
    app: Any, client: Any, twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    message = await sent_sms(twilio_settings, twilio)
    assert message.provider_sid is not None
    url, form, signature = fake.status_callback(message.provider_sid, "delivered")
    path_and_query = url.removeprefix("https://bank.example.test")
    forged = TwilioSigner(twilio_settings.with_overrides(twilio_auth_token="not-the-token"))

    for headers in (
        {},
        {"X-Twilio-Signature": ""},
        {"X-Twilio-Signature": forged.signature(PATH, form, f"outbox_id={message.id}")},
        # A genuine signature for other values does not cover these.
        {"X-Twilio-Signature": fake.status_callback(message.provider_sid, "failed")[2]},
    ):
        response = await client.post(path_and_query, form=form, headers=headers)
        assert response.status_code == 403
        assert (await response.get_json())["error"]["code"] == "invalid_signature"

    # The id in the query is signed too: moving a genuine callback to another row fails.
    response = await client.post(
        f"{PATH}?outbox_id={message.id + 1}", form=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    assert (await reload(message)).status == OutboundStatus.SENT


async def test_a_callback_that_beats_the_worker_settles_the_row(
    app: Any, client: Any, twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    """Twilio took the message but the worker died before storing the sid: the callback
    (found by the signed outbox id) settles the row, so it is not sent a second time."""
    message = await enqueue_sms(twilio_settings, to=PHONE, body="hello", template="t")
    [claimed] = await claim_due(twilio_settings, "worker-that-dies", 10)
    claimed_until = (await reload(message)).claimed_until
    sid = new_sid("SM")

    response = await TwilioSigner(twilio_settings).post(
        client,
        PATH,
        {"MessageSid": sid, "MessageStatus": "sent", "AccountSid": "ACtest"},
        query=f"outbox_id={message.id}",
    )

    assert response.status_code == 200
    stored = await reload(message)
    assert stored.status == OutboundStatus.SENT and stored.provider_sid == sid
    assert claimed.id == message.id and claimed_until is not None
    after_claim = claimed_until + timedelta(seconds=1)
    assert (await deliver_due(twilio_settings, twilio, now=after_claim)).claimed == 0
    assert fake.requests == []


async def test_a_callback_without_the_outbox_id_is_matched_by_its_sid(
    app: Any, client: Any, twilio_settings: Settings, twilio: TwilioBackend
) -> None:
    """As a status callback set up on the number in Twilio's console would come."""
    message = await sent_sms(twilio_settings, twilio)
    assert message.provider_sid is not None

    response = await TwilioSigner(twilio_settings).post(
        client, PATH, {"MessageSid": message.provider_sid, "MessageStatus": "delivered"}
    )

    assert (await response.get_json())["result"] == "updated"
    assert (await reload(message)).status == OutboundStatus.DELIVERED


async def test_a_callback_naming_another_messages_id_changes_nothing(
    app: Any, client: Any, twilio_settings: Settings, twilio: TwilioBackend
) -> None:
    first = await sent_sms(twilio_settings, twilio)
    second = await sent_sms(twilio_settings, twilio)
    assert first.provider_sid is not None

    response = await TwilioSigner(twilio_settings).post(
        client,
        PATH,
        {"MessageSid": first.provider_sid, "MessageStatus": "failed"},
        query=f"outbox_id={second.id}",
    )

    assert (await response.get_json())["result"] == "unknown"
    assert (await reload(first)).status == OutboundStatus.SENT
    assert (await reload(second)).status == OutboundStatus.SENT


async def test_unknown_message_is_acknowledged(app: Any, client: Any, settings: Settings) -> None:
    response = await TwilioSigner(settings).post(
        client, PATH, {"MessageSid": new_sid("SM"), "MessageStatus": "delivered"}
    )

    assert response.status_code == 200
    assert (await response.get_json())["result"] == "unknown"


async def test_bad_callbacks_get_a_clear_400(app: Any, client: Any, settings: Settings) -> None:
    signer = TwilioSigner(settings)
    sid = new_sid("SM")
    sent = {"MessageSid": sid, "MessageStatus": "sent"}
    cases: list[tuple[dict[str, str], str, str]] = [
        ({}, "", "missing_field"),
        ({"MessageSid": sid}, "", "missing_field"),
        ({"MessageStatus": "delivered"}, "", "missing_field"),
        ({"MessageSid": " ", "MessageStatus": "delivered"}, "", "missing_field"),
        ({"MessageSid": sid, "MessageStatus": "teleported"}, "", "unknown_status"),
        ({"MessageSid": "S" * 65, "MessageStatus": "sent"}, "", "invalid_sid"),
        (sent, "outbox_id=abc", "invalid_outbox_id"),
        (sent, "outbox_id=-1", "invalid_outbox_id"),
        (sent, "outbox_id=" + "9" * 30, "invalid_outbox_id"),
        (sent, "outbox_id=%C2%B2", "invalid_outbox_id"),
    ]
    for form, query, code in cases:
        response = await signer.post(client, PATH, form, query=query)
        assert response.status_code == 400, (form, query)
        assert (await response.get_json())["error"]["code"] == code
