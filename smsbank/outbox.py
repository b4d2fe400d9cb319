"""The outbox: every SMS and call the bank sends is first a row here.

`enqueue_sms` / `enqueue_call` are called inside the transaction of the change that
caused the message, so a message exists if and only if its cause was committed. A
background worker (see `smsbank.outbox_worker`) delivers rows with retries and
backoff; a customer who opted out gets their row stored as `suppressed`, never sent.
"""

from __future__ import annotations

from smsbank.clock import utcnow
from smsbank.models import Customer, MessageChannel, OutboundMessage, OutboundStatus
from smsbank.settings import Settings

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
) -> OutboundMessage:
    """Store an SMS for delivery (in the caller's transaction).

    `opted_out`: the customer's opt-out flag when the caller read their row in this
    same transaction (saves a query on the webhook's hot path); looked up otherwise.
    """
    return await _enqueue(
        settings, MessageChannel.SMS, to, body, template, customer_id, respect_opt_out, opted_out
    )


async def enqueue_call(
    settings: Settings,
    *,
    to: str,
    say: str,
    template: str,
    customer_id: int | None = None,
) -> OutboundMessage:
    """Store an outbound voice call; `say` is what the call reads out."""
    return await _enqueue(settings, MessageChannel.VOICE, to, say, template, customer_id, False)


async def _enqueue(
    settings: Settings,
    channel: MessageChannel,
    to: str,
    body: str,
    template: str,
    customer_id: int | None,
    respect_opt_out: bool,
    opted_out: bool | None = None,
) -> OutboundMessage:
    status = OutboundStatus.QUEUED
    if respect_opt_out and customer_id is not None:
        if opted_out is None:
            opted_out = await Customer.filter(id=customer_id, phone=to, sms_opted_out=True).exists()
        if opted_out:
            status = OutboundStatus.SUPPRESSED
    return await OutboundMessage.create(
        channel=channel,
        to_phone=to,
        from_phone=sender_address(settings),
        body=body,
        template=template,
        customer_id=customer_id,
        status=status,
        next_attempt_at=utcnow(),
    )
