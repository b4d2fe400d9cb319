"""Putting a message in the outbox: in the caller's transaction, so a message exists
if and only if its cause was committed (see the package docstring)."""

from __future__ import annotations

import logging
from datetime import datetime

from smsbank.clock import utcnow
from smsbank.models import Customer, MessageChannel, OutboundMessage, OutboundStatus
from smsbank.outbox.claims import scrub
from smsbank.settings import Settings

log = logging.getLogger("smsbank.outbox")

# Messages that must reach a customer even after STOP: none. Twilio blocks them anyway
# and the customer asked; codes and links are only sent when they start a flow by SMS.


def sender_address(settings: Settings) -> str:
    """The `From` of everything the bank sends: its Twilio number (a label in console mode)."""
    return settings.twilio_phone_number or "SMSBANK"


async def enqueue_sms(
    settings: Settings,
    *,
    to: str,
    body: str,
    template: str,
    customer_id: int | None = None,
    respect_opt_out: bool = True,
    opted_out: bool | None = None,
    secret_expires_at: datetime | None = None,
) -> OutboundMessage:
    """Store an SMS for delivery (in the caller's transaction).

    `opted_out`: the customer's opt-out flag when the caller read their row in this
    same transaction (saves a query on the webhook's hot path); looked up otherwise.
    `secret_expires_at`: the body carries a code or link that works until then (see
    "Secrets at rest" above).
    """
    return await _enqueue(
        settings,
        MessageChannel.SMS,
        to,
        body,
        template,
        customer_id,
        respect_opt_out,
        opted_out,
        secret_expires_at,
    )


async def enqueue_call(
    settings: Settings,
    *,
    to: str,
    say: str,
    template: str,
    customer_id: int | None = None,
    secret_expires_at: datetime | None = None,
) -> OutboundMessage:
    """Store an outbound voice call; `say` is what the call reads out (a code until
    `secret_expires_at`, if it reads one)."""
    return await _enqueue(
        settings,
        MessageChannel.VOICE,
        to,
        say,
        template,
        customer_id,
        False,
        secret_expires_at=secret_expires_at,
    )


async def _enqueue(
    settings: Settings,
    channel: MessageChannel,
    to: str,
    body: str,
    template: str,
    customer_id: int | None,
    respect_opt_out: bool,
    opted_out: bool | None = None,
    secret_expires_at: datetime | None = None,
) -> OutboundMessage:
    status = OutboundStatus.QUEUED
    if respect_opt_out and customer_id is not None:
        if opted_out is None:
            opted_out = await Customer.filter(id=customer_id, phone=to, sms_opted_out=True).exists()
        if opted_out:
            status = OutboundStatus.SUPPRESSED
    now = utcnow()
    scrubbed_at = None
    if secret_expires_at is not None and status == OutboundStatus.SUPPRESSED:
        # Never sent, so nothing needs the secret: it is not stored at all.
        body, secret_expires_at, scrubbed_at = scrub(body), None, now
    return await OutboundMessage.create(
        channel=channel,
        to_phone=to,
        from_phone=sender_address(settings),
        body=body,
        template=template,
        customer_id=customer_id,
        status=status,
        next_attempt_at=now,
        secret_expires_at=secret_expires_at,
        scrubbed_at=scrubbed_at,
    )
