"""The outbox against a fake Twilio: the real twilio library over real HTTP on 127.0.0.1.

Time is never slept away: `deliver_due(now=...)` stands at the moment a retry falls
due, and the backoff is checked as a range on the stored `next_attempt_at`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import pytest

from smsbank.clock import utcnow
from smsbank.models import (
    Channel,
    LedgerEntry,
    MessageChannel,
    OutboundMessage,
    OutboundStatus,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.outbox import enqueue_call, enqueue_sms
from smsbank.outbox.claims import MAX_BACKOFF_SECONDS, backoff_seconds, claim_due
from smsbank.outbox.worker import deliver_due
from smsbank.settings import Settings
from smsbank.sms_backends import ConsoleBackend, TwilioBackend
from smsbank.withdrawals import start_withdrawal
from tests.fake_twilio import FakeTwilio
from tests.outbox.conftest import reload, wait_for

pytestmark = pytest.mark.usefixtures("db")
PHONE = "+15550107777"


async def queue_sms(settings: Settings, body: str = "Your balance is $10.00.") -> OutboundMessage:
    return await enqueue_sms(settings, to=PHONE, body=body, template="test")


async def test_a_claim_takes_the_oldest_due_rows_abandoned_ones_included_up_to_its_limit(
    settings: Settings,
) -> None:
    """Due: queued with its time come, or sending with its claim run out (the worker
    died). A claim takes the earliest-due of both kinds together, never more than its
    limit, and leaves alone what is not due yet or still claimed by a live worker."""
    now = utcnow()
    rows = {
        name: await queue_sms(settings, body=name)
        for name in ("queued-3", "abandoned-1", "queued-2", "live-claim", "later", "queued-4")
    }
    due_at = {
        "abandoned-1": now - timedelta(minutes=10),
        "queued-2": now - timedelta(minutes=8),
        "queued-3": now - timedelta(minutes=6),
        "queued-4": now - timedelta(minutes=4),
        "live-claim": now - timedelta(minutes=20),
        "later": now + timedelta(minutes=1),
    }
    for name, message in rows.items():
        await OutboundMessage.filter(id=message.id).update(next_attempt_at=due_at[name])
    await OutboundMessage.filter(id=rows["abandoned-1"].id).update(
        status=OutboundStatus.SENDING, claimed_until=now - timedelta(seconds=1)
    )
    await OutboundMessage.filter(id=rows["live-claim"].id).update(
        status=OutboundStatus.SENDING, claimed_until=now + timedelta(seconds=30)
    )

    first = await claim_due(settings, "worker-a", 3, now=now)
    second = await claim_due(settings, "worker-b", 3, now=now)

    assert sorted(m.body for m in first) == ["abandoned-1", "queued-2", "queued-3"]
    assert [m.body for m in second] == ["queued-4"]
    assert (await reload(rows["later"])).status == OutboundStatus.QUEUED
    assert (await reload(rows["live-claim"])).claimed_by is None  # not taken from its worker


async def test_accepted_sms_records_the_provider_sid(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    message = await queue_sms(twilio_settings)

    result = await deliver_due(twilio_settings, twilio)

    assert (result.claimed, result.sent) == (1, 1)
    [request] = fake.requests
    assert request.kind == "sms" and request.answered == 201
    assert request.form["To"] == PHONE
    assert request.form["From"] == twilio_settings.twilio_phone_number
    assert request.form["Body"] == "Your balance is $10.00."
    assert request.form["StatusCallback"] == (
        f"https://bank.example.test/webhooks/twilio/status?outbox_id={message.id}"
    )
    stored = await reload(message)
    assert stored.status == OutboundStatus.SENT
    assert stored.provider_sid == request.sid
    assert stored.attempts == 1
    assert stored.sent_at is not None and stored.claimed_by is None


async def test_call_reads_its_words_through_inline_twiml(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    message = await enqueue_call(
        twilio_settings, to=PHONE, say="Your code is 1, 2, 3, 4, 5, 6.", template="voice_code"
    )

    await deliver_due(twilio_settings, twilio)

    [request] = fake.requests
    assert request.kind == "call"
    # Our own TwiML, as received by the fake: trusted input.
    twiml = ElementTree.fromstring(request.form["Twiml"])  # noqa: S314
    assert twiml.tag == "Response"
    says = [element.text for element in twiml.iter("Say")]
    assert says and all(text == "Your code is 1, 2, 3, 4, 5, 6." for text in says)
    assert {element.get("language") for element in twiml.iter("Say")} == {"en-US"}
    stored = await reload(message)
    assert stored.channel == MessageChannel.VOICE
    assert stored.status == OutboundStatus.SENT and stored.provider_sid == request.sid
    assert stored.provider_sid is not None and stored.provider_sid.startswith("CA")


async def test_a_call_speaks_its_customers_language(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio, make_customer: Any
) -> None:
    customer = await make_customer(phone=PHONE, language="es")
    await enqueue_call(
        twilio_settings,
        to=PHONE,
        say="Su código de SMS Bank es 1, 2, 3, 4, 5, 6.",
        template="voice_code",
        customer_id=customer.id,
    )

    await deliver_due(twilio_settings, twilio)

    [request] = fake.requests
    twiml = ElementTree.fromstring(request.form["Twiml"])  # noqa: S314
    says = list(twiml.iter("Say"))
    assert says and all(say.text == "Su código de SMS Bank es 1, 2, 3, 4, 5, 6." for say in says)
    assert {(say.get("language"), say.get("voice")) for say in says} == {("es-MX", "Polly.Mia")}


async def test_500_and_429_are_retried_with_backoff_then_sent(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    fake.fail_next(500)
    fake.fail_next(429)
    message = await queue_sms(twilio_settings)

    before = utcnow()
    first = await deliver_due(twilio_settings, twilio)
    stored = await reload(message)
    assert first.retrying == 1
    assert stored.status == OutboundStatus.QUEUED and stored.attempts == 1
    assert stored.last_error is not None and "HTTP 500" in stored.last_error
    # Attempt 1 waits 1-2 s with the default 2 s base (the upper half of 2 * 2**0).
    assert before + timedelta(seconds=1) <= stored.next_attempt_at
    assert stored.next_attempt_at <= utcnow() + timedelta(seconds=2)

    # Not due yet: a pass right now leaves it alone.
    assert (await deliver_due(twilio_settings, twilio)).claimed == 0
    assert len(fake.requests) == 1

    second_time = stored.next_attempt_at + timedelta(milliseconds=1)
    second = await deliver_due(twilio_settings, twilio, now=second_time)
    stored = await reload(message)
    assert second.retrying == 1
    assert stored.attempts == 2 and "HTTP 429" in (stored.last_error or "")
    # Attempt 2 waits 2-4 s.
    assert second_time + timedelta(seconds=2) <= stored.next_attempt_at
    assert stored.next_attempt_at <= second_time + timedelta(seconds=4)

    third = await deliver_due(
        twilio_settings, twilio, now=stored.next_attempt_at + timedelta(milliseconds=1)
    )
    stored = await reload(message)
    assert third.sent == 1
    assert stored.status == OutboundStatus.SENT and stored.attempts == 3
    assert stored.last_error is None
    assert [r.answered for r in fake.requests] == [500, 429, 201]
    assert stored.provider_sid == fake.requests[-1].sid


async def test_invalid_number_is_a_permanent_failure(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    fake.fail_next(400, 21211)
    message = await queue_sms(twilio_settings)

    result = await deliver_due(twilio_settings, twilio)

    stored = await reload(message)
    assert result.failed == 1
    assert stored.status == OutboundStatus.FAILED and stored.attempts == 1
    assert stored.last_error is not None and "21211" in stored.last_error
    # Never tried again, however much later.
    later = utcnow() + timedelta(days=1)
    assert (await deliver_due(twilio_settings, twilio, now=later)).claimed == 0
    assert len(fake.requests) == 1


async def test_twilio_error_text_is_stored_with_the_number_masked(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    # The fake, like Twilio, quotes the refused number in its error message.
    too_long = "+1555012345678901"
    message = await enqueue_sms(twilio_settings, to=too_long, body="hi", template="test")

    await deliver_due(twilio_settings, twilio)

    stored = await reload(message)
    assert stored.status == OutboundStatus.FAILED
    assert stored.last_error is not None and "21211" in stored.last_error
    assert too_long not in stored.last_error and "8901" in stored.last_error


async def test_exhausted_attempts_fail_and_leave_the_customers_request_untouched(
    twilio_settings: Settings, fake: FakeTwilio, make_customer: Any
) -> None:
    settings = twilio_settings.with_overrides(outbox_max_attempts=3)
    customer = await make_customer(balance="100.00")
    customer.face_embedding = b"enrolled"
    await customer.save()
    withdrawal = await start_withdrawal(
        settings, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
    )
    [message] = await OutboundMessage.filter(customer_id=customer.id)
    fake.fail_next(503, times=10)

    backend = TwilioBackend(settings, timeout=2.0)
    try:
        moment = utcnow()
        for _ in range(3):
            await deliver_due(settings, backend, now=moment)
            stored = await reload(message)
            moment = stored.next_attempt_at + timedelta(milliseconds=1)
        assert (await deliver_due(settings, backend, now=moment + timedelta(days=1))).claimed == 0
    finally:
        await backend.close()

    stored = await reload(message)
    assert stored.status == OutboundStatus.FAILED
    assert stored.attempts == 3 and "HTTP 503" in (stored.last_error or "")
    assert [r.answered for r in fake.requests] == [503, 503, 503]
    # The request the code belonged to is exactly as it was: still waiting for a code
    # (the customer can ask again with CALL or a new WITHDRAW), no money moved.
    request = await Withdrawal.get(id=withdrawal.id)
    assert request.status == WithdrawalStatus.AWAITING_CODE
    assert request.code_failures == 0
    await customer.refresh_from_db()
    assert customer.balance == Decimal("100.00")
    assert await LedgerEntry.filter(customer_id=customer.id).count() == 1  # the deposit


async def test_twilio_down_the_message_waits_and_goes_when_it_is_back(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    message = await queue_sms(twilio_settings)
    await fake.stop()

    down = await deliver_due(twilio_settings, twilio)
    stored = await reload(message)
    assert down.retrying == 1
    assert stored.status == OutboundStatus.QUEUED
    assert "network error" in (stored.last_error or "")
    assert fake.requests == []

    await fake.start()
    back = await deliver_due(
        twilio_settings, twilio, now=stored.next_attempt_at + timedelta(milliseconds=1)
    )
    stored = await reload(message)
    assert back.sent == 1
    assert stored.status == OutboundStatus.SENT and stored.attempts == 2
    assert [r.answered for r in fake.requests] == [201]


async def test_slow_twilio_within_the_timeout_is_just_slow(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    fake.delay = 0.3  # well inside the backend's 2 s timeout
    message = await queue_sms(twilio_settings)

    await deliver_due(twilio_settings, twilio)

    assert (await reload(message)).status == OutboundStatus.SENT
    assert len(fake.requests) == 1


async def test_a_pass_stopped_mid_send_keeps_what_twilio_already_took(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    """stop() cancels a pass whose last send hangs: the sends Twilio answered are
    recorded `sent` (not left to be sent twice); the hanging one is reclaimed later."""
    quick = [
        await enqueue_sms(twilio_settings, to=f"+1555010800{i}", body="hi", template="t")
        for i in range(3)
    ]
    hanging = await enqueue_sms(twilio_settings, to="+15550108999", body="hi", template="t")
    fake.delay, fake.slow_for = 30, {hanging.to_phone}
    # Cancelled only once the bank has read Twilio's answers: the fake's own record of
    # answering comes earlier, and on a busy machine the answers may still be in transit.
    taken: list[str] = []
    send_sms = twilio.send_sms

    async def send_and_note(*args: Any, **kwargs: Any) -> str:
        sid = await send_sms(*args, **kwargs)
        taken.append(sid)
        return sid

    twilio.send_sms = send_and_note  # type: ignore[method-assign]

    pass_ = asyncio.create_task(deliver_due(twilio_settings, twilio))
    await wait_for(lambda: _noted(taken, 3))
    pass_.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pass_

    for message in quick:
        stored = await reload(message)
        assert stored.status == OutboundStatus.SENT and stored.provider_sid
    assert {r.sid for r in fake.accepted} == {(await reload(m)).provider_sid for m in quick}
    assert (await reload(hanging)).status == OutboundStatus.SENDING  # reclaimed later


async def test_twilio_slower_than_the_timeout_is_retried_at_least_once(
    twilio_settings: Settings, fake: FakeTwilio
) -> None:
    message = await queue_sms(twilio_settings)
    fake.delay = 1.5
    backend = TwilioBackend(twilio_settings, timeout=0.2)
    try:
        slow = await deliver_due(twilio_settings, backend)
        stored = await reload(message)
        assert slow.retrying == 1
        assert "did not answer" in (stored.last_error or "")

        fake.delay = 0
        await deliver_due(
            twilio_settings, backend, now=stored.next_attempt_at + timedelta(milliseconds=1)
        )
    finally:
        await backend.close()

    stored = await reload(message)
    assert stored.status == OutboundStatus.SENT
    # Twilio took the slow request too, after we had stopped waiting: the customer gets
    # this message twice. That is the documented price of at-least-once delivery.
    await wait_for(lambda: _answered(fake, 2))
    assert [r.body for r in fake.accepted] == [stored.body, stored.body]


async def _answered(fake: FakeTwilio, count: int) -> bool:
    return len(fake.accepted) == count


async def _noted(sids: list[str], count: int) -> bool:
    return len(sids) == count


async def test_opted_out_messages_are_never_sent(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio, make_customer: Any
) -> None:
    customer = await make_customer()
    customer.sms_opted_out = True
    await customer.save()
    message = await enqueue_sms(
        twilio_settings,
        to=customer.phone,
        body="Your balance is $100.00.",
        template="balance",
        customer_id=customer.id,
    )

    result = await deliver_due(twilio_settings, twilio, now=utcnow() + timedelta(days=1))

    assert result.claimed == 0
    assert (await reload(message)).status == OutboundStatus.SUPPRESSED
    assert fake.requests == []


async def test_console_backend_marks_messages_sent(settings: Settings) -> None:
    assert settings.effective_sms_backend == "console"
    sms = await queue_sms(settings)
    call = await enqueue_call(settings, to=PHONE, say="1, 2, 3", template="voice_code")

    result = await deliver_due(settings, ConsoleBackend())

    assert result.sent == 2
    for message, prefix in ((sms, "SM"), (call, "CA")):
        stored = await reload(message)
        assert stored.status == OutboundStatus.SENT
        assert stored.provider_sid is not None and stored.provider_sid.startswith(prefix)


async def test_one_bad_message_does_not_hold_up_the_others(
    twilio_settings: Settings, twilio: TwilioBackend, fake: FakeTwilio
) -> None:
    bad = await enqueue_sms(twilio_settings, to="not-a-number", body="hi", template="test")
    good = await queue_sms(twilio_settings)

    result = await deliver_due(twilio_settings, twilio)

    assert (result.sent, result.failed) == (1, 1)
    assert (await reload(bad)).status == OutboundStatus.FAILED
    assert (await reload(good)).status == OutboundStatus.SENT


class _BrokenBackend(ConsoleBackend):
    """A backend with a bug: it raises something that is not a SendError."""

    async def send_sms(self, to: str, from_: str, body: str, status_callback: str) -> str:
        raise KeyError("a bug")


async def test_a_backend_bug_is_retried_not_fatal(settings: Settings) -> None:
    message = await queue_sms(settings)

    result = await deliver_due(settings, _BrokenBackend())

    stored = await reload(message)
    assert result.retrying == 1
    assert stored.status == OutboundStatus.QUEUED and stored.claimed_by is None
    assert stored.last_error == "internal error: KeyError"


def test_backoff_doubles_with_jitter_and_is_capped(settings: Settings) -> None:
    for attempt in range(1, 8):
        full = settings.outbox_backoff_seconds * 2 ** (attempt - 1)
        for _ in range(50):
            assert full / 2 <= backoff_seconds(settings, attempt) <= full
    assert backoff_seconds(settings, 40) <= MAX_BACKOFF_SECONDS
