"""Twilio failing past the retry limit, in the middle of a customer's withdrawal.

tests/outbox/test_delivery.py shows a code SMS ending `failed` with its request left
waiting for a code. Here the customer goes on: the request is still usable (CALL
reads a fresh code that approves it), and when the capture link is lost too, a new
WITHDRAW cancels the stuck request cleanly. No money moves at any point.

The real twilio library talks to a fake Twilio on 127.0.0.1; retries are not slept
away: each pass stands at the moment the retry falls due (`deliver_due(now=...)`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from smsbank.app import create_app
from smsbank.clock import utcnow
from smsbank.models import (
    Customer,
    LedgerEntry,
    OutboundMessage,
    OutboundStatus,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.outbox.worker import deliver_due
from smsbank.settings import Settings
from smsbank.sms_backends import TwilioBackend
from tests.conftest import reset_database
from tests.faces.conftest import path_of
from tests.fake_twilio import FakeTwilio
from tests.webhooks.handset import CAPTURE_LINK_RE, Handset, code_in, digits_in_call

MAX_ATTEMPTS = 2


@pytest.fixture
async def bank(twilio_settings: Settings) -> AsyncIterator[tuple[Any, Settings]]:
    """The app with the twilio backend aimed at the fake; the test drives the outbox."""
    settings = twilio_settings.with_overrides(outbox_max_attempts=MAX_ATTEMPTS)
    await reset_database(settings.database_url)
    app = create_app(settings)
    async with app.test_app() as test_app:
        yield test_app.test_client(), settings


async def drain(settings: Settings, backend: TwilioBackend) -> None:
    """Deliver until nothing is queued, standing at each retry's due time."""
    moment = utcnow()
    for _ in range(20):
        await deliver_due(settings, backend, now=moment)
        queued = (
            await OutboundMessage.filter(status=OutboundStatus.QUEUED)
            .order_by("next_attempt_at")
            .first()
        )
        if queued is None:
            return
        moment = max(moment, queued.next_attempt_at) + timedelta(milliseconds=1)
    raise AssertionError("the outbox did not drain")


async def test_messages_lost_past_the_retry_limit_leave_the_withdrawal_usable_or_cleanly_replaced(
    bank: tuple[Any, Settings], fake: FakeTwilio, make_customer: Any
) -> None:
    client, settings = bank
    customer = await make_customer(balance="100.00")
    customer.face_embedding = b"enrolled"  # enrolment itself is the face tests' business
    await customer.save()
    phone = Handset(client, settings, customer.phone)
    backend = TwilioBackend(settings, timeout=2.0)
    try:
        # The code SMS: Twilio answers 503 to every attempt, so it ends failed.
        fake.fail_next(503, times=MAX_ATTEMPTS)
        await phone.text("W 20")
        await drain(settings, backend)
        code_sms = await OutboundMessage.get(template="withdrawal_code")
        assert (code_sms.status, code_sms.attempts) == (OutboundStatus.FAILED, MAX_ATTEMPTS)
        assert "HTTP 503" in (code_sms.last_error or "")
        withdrawal = await Withdrawal.get(customer_id=customer.id)
        assert withdrawal.status == WithdrawalStatus.AWAITING_CODE

        # Still usable: CALL rings with a fresh code, and that code approves the request.
        await phone.text("CALL")
        await drain(settings, backend)
        [call] = [r for r in fake.accepted if r.kind == "call"]
        await phone.text(digits_in_call(call.form["Twiml"]))
        assert (await Withdrawal.get(id=withdrawal.id)).status == WithdrawalStatus.AWAITING_SELFIE

        # The capture link is lost the same way: the request waits for a selfie the
        # customer cannot take...
        link_sms = await OutboundMessage.get(template="withdrawal_capture_link")
        assert link_sms.status == OutboundStatus.QUEUED
        lost_link = CAPTURE_LINK_RE.search(link_sms.body)
        assert lost_link is not None
        fake.fail_next(500, times=MAX_ATTEMPTS)
        await drain(settings, backend)
        link_sms = await OutboundMessage.get(id=link_sms.id)
        assert (link_sms.status, link_sms.attempts) == (OutboundStatus.FAILED, MAX_ATTEMPTS)
        assert (await Withdrawal.get(id=withdrawal.id)).status == WithdrawalStatus.AWAITING_SELFIE

        # ...so they start again: the stuck request is cancelled and a new code arrives.
        await phone.text("W 20")
        await drain(settings, backend)
        old = await Withdrawal.get(id=withdrawal.id)
        assert (old.status, old.failure_reason) == (
            WithdrawalStatus.CANCELLED,
            "replaced by a new request",
        )
        new = await Withdrawal.filter(customer_id=customer.id).order_by("-id").first()
        assert new is not None and new.status == WithdrawalStatus.AWAITING_CODE
        new_code = await OutboundMessage.filter(template="withdrawal_code").order_by("-id").first()
        assert new_code is not None and new_code.status == OutboundStatus.SENT
        [texted] = [
            r
            for r in fake.accepted
            if r.form.get("StatusCallback", "").endswith(f"outbox_id={new_code.id}")
        ]
        assert code_in(texted.body) and "$20.00" in texted.body
        # The link that never arrived is dead, and not kept: it failed for good.
        assert CAPTURE_LINK_RE.search(link_sms.body) is None
        assert (await client.get(path_of(lost_link.group(0)))).status_code == 410
    finally:
        await backend.close()

    fresh = await Customer.get(id=customer.id)
    assert fresh.balance == Decimal("100.00")
    assert await LedgerEntry.filter(customer_id=customer.id).count() == 1  # the deposit
    failed = await OutboundMessage.filter(status=OutboundStatus.FAILED).values_list(
        "template", flat=True
    )
    assert sorted(failed) == ["withdrawal_capture_link", "withdrawal_code"]
