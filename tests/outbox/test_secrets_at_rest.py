"""No live secret at rest in the outbox: codes, spoken codes and capture or enrolment
links are scrubbed from `outbound_message.body` once the provider took the text, once
it failed for good, or once the secret expired (the dev phone's texts), whichever comes
first; a scrubbed or expired text is never sent, not by a retry nor by a worker that
reclaims it after a crash. The real twilio library talks to the local fake Twilio.
"""

from __future__ import annotations

import os
import re
import signal
from datetime import timedelta
from typing import Any

from smsbank import expiry
from smsbank.clock import utcnow
from smsbank.models import Customer, MessageChannel, OutboundMessage, OutboundStatus
from smsbank.outbox import enqueue_sms
from smsbank.outbox.worker import deliver_due
from smsbank.settings import Settings
from smsbank.sms_backends import ConsoleBackend, TwilioBackend
from tests.fake_twilio import FakeTwilio
from tests.outbox.conftest import reload, spawn_worker, wait_for
from tests.webhooks.handset import CAPTURE_LINK_RE, Handset, code_in, digits_in_call

CODE_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")
SPOKEN_RE = re.compile(r"\d(?:, \d){5}")


def carries_no_secret(body: str) -> bool:
    return not (CODE_RE.search(body) or SPOKEN_RE.search(body) or CAPTURE_LINK_RE.search(body))


async def enrolled(make_customer: Any) -> Customer:
    customer: Customer = await make_customer()
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await customer.refresh_from_db()
    return customer


async def send_all(settings: Settings, backend: Any) -> None:
    while (await deliver_due(settings, backend)).claimed:
        pass


async def test_what_twilio_took_keeps_no_code_or_link_in_the_outbox(
    client: Any,
    settings: Settings,
    staff: dict[str, str],
    make_customer: Any,
    fake: FakeTwilio,
    twilio_settings: Settings,
    twilio: TwilioBackend,
) -> None:
    customer = await enrolled(make_customer)
    phone = Handset(client, settings, customer.phone)
    await phone.text("W 20")
    await phone.text("CALL")
    await send_all(twilio_settings, twilio)
    spoken = digits_in_call(next(r.form["Twiml"] for r in fake.accepted if r.kind == "call"))
    await phone.text(spoken)  # the code the call read
    newcomer = await make_customer(phone="+15550107001")
    await client.post(f"/api/v1/customers/{newcomer.id}/enrolment-link", headers=staff)
    await send_all(twilio_settings, twilio)

    # The phones got every secret...
    sent = " ".join(r.body or r.form.get("Twiml", "") for r in fake.accepted)
    assert len(CAPTURE_LINK_RE.findall(sent)) == 2 and CODE_RE.search(sent)
    # ...and the outbox keeps none of them: sent, scrubbed, and marked so.
    rows = await OutboundMessage.filter(
        template__in=[
            "withdrawal_code",
            "withdrawal_code_call",
            "withdrawal_capture_link",
            "enrolment_link",
        ]
    ).order_by("id")
    assert [r.template for r in rows] == [
        "withdrawal_code",
        "withdrawal_code_call",
        "withdrawal_capture_link",
        "enrolment_link",
    ]
    for row in rows:
        assert row.status == OutboundStatus.SENT
        assert carries_no_secret(row.body), row.body
        assert row.scrubbed_at is not None and row.secret_expires_at is None
    assert "<code> is your code to withdraw $20.00" in rows[0].body
    assert "/c/<token>" in rows[2].body and "/c/<token>" in rows[3].body
    # Texts without a secret are kept as they were sent.
    [calling] = await OutboundMessage.filter(template="reply.call_withdrawal_code")
    assert calling.scrubbed_at is None and "calling you now" in calling.body


async def test_the_dev_phone_shows_a_code_while_it_lives_and_masked_after(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = Handset(client, settings, customer.phone)
    await phone.text("W 20")
    await send_all(settings, ConsoleBackend())  # sent, in console mode: nothing scrubbed

    async def shown() -> str:
        answer = await client.get("/dev/messages", query_string={"phone": customer.phone})
        return [m["body"] for m in (await answer.get_json())["messages"]][-1]

    live = await shown()
    assert code_in(live)
    await expiry.sweep()
    assert await shown() == live  # not expired yet: the sweep leaves it

    await OutboundMessage.filter(template="withdrawal_code").update(
        secret_expires_at=utcnow() - timedelta(seconds=1)
    )
    result = await expiry.sweep()

    assert result.secrets_scrubbed == 1
    masked = await shown()
    assert carries_no_secret(masked) and "<code> is your code" in masked


async def test_a_text_whose_secret_died_before_it_was_sent_is_never_sent(
    db: None, fake: FakeTwilio, twilio_settings: Settings, twilio: TwilioBackend
) -> None:
    later = utcnow() + timedelta(minutes=5)
    expired = await enqueue_sms(
        twilio_settings,
        to="+15550107002",
        body="123456 is your SMS Bank code.",
        template="withdrawal_code",
        secret_expires_at=utcnow() - timedelta(seconds=1),  # Twilio was down until now
    )
    resent = await enqueue_sms(
        twilio_settings,
        to="+15550107003",
        body="654321 is your SMS Bank code.",
        template="withdrawal_code",
        secret_expires_at=later,
    )
    # Scrubbed (the sweep after a failure, say), then queued again by hand as the
    # operations notes show: it must not go out masked.
    await OutboundMessage.filter(id=resent.id).update(
        body="<code> is your SMS Bank code.", scrubbed_at=utcnow(), secret_expires_at=None
    )

    result = await deliver_due(twilio_settings, twilio)

    assert (result.claimed, result.sent, result.failed) == (2, 0, 2)
    assert fake.requests == []
    for row in (await reload(expired), await reload(resent)):
        assert row.status == OutboundStatus.FAILED and "expired" in (row.last_error or "")
        assert carries_no_secret(row.body)


async def test_a_text_that_failed_for_good_keeps_no_secret(
    db: None, fake: FakeTwilio, twilio_settings: Settings, twilio: TwilioBackend
) -> None:
    message = await enqueue_sms(
        twilio_settings,
        to="+15550107004",
        body="SMS Bank: take a selfie here: https://bank.example.test/capture/" + "A" * 43,
        template="withdrawal_capture_link",
        secret_expires_at=utcnow() + timedelta(minutes=10),
    )
    fake.fail_next(400, 21211)  # not a valid number: permanent

    await deliver_due(twilio_settings, twilio)

    stored = await reload(message)
    assert stored.status == OutboundStatus.FAILED
    assert carries_no_secret(stored.body) and stored.scrubbed_at is not None


async def test_a_retry_sends_the_live_text_and_a_suppressed_one_is_stored_scrubbed(
    db: None, make_customer: Any, fake: FakeTwilio, twilio_settings: Settings, twilio: TwilioBackend
) -> None:
    message = await enqueue_sms(
        twilio_settings,
        to="+15550107005",
        body="123456 is your SMS Bank code.",
        template="withdrawal_code",
        secret_expires_at=utcnow() + timedelta(minutes=5),
    )
    fake.fail_next(500)
    await deliver_due(twilio_settings, twilio)
    assert code_in((await reload(message)).body)  # a retryable failure keeps it live

    await deliver_due(twilio_settings, twilio, now=utcnow() + timedelta(seconds=10))

    assert [r.body for r in fake.accepted] == ["123456 is your SMS Bank code."]
    assert carries_no_secret((await reload(message)).body)
    opted_out = await make_customer(phone="+15550107006")
    await Customer.filter(id=opted_out.id).update(sms_opted_out=True)
    suppressed = await enqueue_sms(
        twilio_settings,
        to=opted_out.phone,
        body="SMS Bank: enrol here: https://bank.example.test/capture/" + "B" * 43,
        template="enrolment_link",
        customer_id=opted_out.id,
        secret_expires_at=utcnow() + timedelta(minutes=10),
    )
    assert suppressed.status == OutboundStatus.SUPPRESSED and carries_no_secret(suppressed.body)


async def test_a_worker_killed_between_send_and_scrub(
    shared_settings: Settings, fake: FakeTwilio
) -> None:
    """SIGKILL while Twilio holds the request: the row keeps its live text (it must be
    sent again: at-least-once), is re-sent once its claim runs out, then scrubbed. Had
    the code expired meanwhile, the reclaim would not send it at all."""
    live = await enqueue_sms(
        shared_settings,
        to="+15550110101",
        body="123456 is your SMS Bank code.",
        template="withdrawal_code",
        secret_expires_at=utcnow() + timedelta(minutes=5),
    )
    dying = await enqueue_sms(
        shared_settings,
        to="+15550110102",
        body="654321 is your SMS Bank code.",
        template="withdrawal_code",
        secret_expires_at=utcnow() + timedelta(seconds=30),
    )
    fake.delay = 60
    worker = await spawn_worker(shared_settings, "--mode", "once")
    await wait_for(lambda: _received(fake, 2), within=30)
    os.kill(worker.pid, signal.SIGKILL)
    await worker.wait()

    for row in (await reload(live), await reload(dying)):
        assert row.status == OutboundStatus.SENDING and code_in(row.body)
    fake.delay = 0
    claimed_until = (await reload(live)).claimed_until
    assert claimed_until is not None
    backend = TwilioBackend(shared_settings, timeout=5)
    try:
        # The claim runs out a minute after the kill: past the short-lived code's life.
        await deliver_due(shared_settings, backend, now=claimed_until + timedelta(seconds=1))
    finally:
        await backend.close()

    stored_live, stored_dying = await reload(live), await reload(dying)
    assert stored_live.status == OutboundStatus.SENT and carries_no_secret(stored_live.body)
    assert stored_dying.status == OutboundStatus.FAILED and carries_no_secret(stored_dying.body)
    sent = [r.body for r in fake.requests]
    assert sent.count("123456 is your SMS Bank code.") == 2  # the killed send, and again
    assert sent.count("654321 is your SMS Bank code.") == 1  # only the killed one
    assert all(m.channel == MessageChannel.SMS for m in (stored_live, stored_dying))


async def _received(fake: FakeTwilio, count: int) -> bool:
    return len(fake.requests) >= count
