"""Calls the bank places: where, how many, and the call-back that stands in for a caller
ID nobody vouched for (SPEC §8).

Theory of operation
-------------------
Every call costs the bank money and rings someone's phone, so before one is queued
`reserve_call` refuses a destination the bank must not call (`smsbank.destinations`)
and counts it against the bank's hourly cap for all calls
(`SMSBANK_OUTBOUND_CALLS_PER_HOUR`, in the database, so every worker shares it).
Callers reserve *before* issuing the code a call reads: a refused call then leaves the
code the customer already has alive.

Caller ID can be spoofed, so an inbound call reads nothing private unless Twilio
attests the number (`StirVerstat` = `TN-Validation-Passed-A`, `caller_verified`).
Otherwise `call_back` queues an outbound call (through the outbox, like every message)
to the number registered for it, which offers the same menu: the bank dialled that
number, so whoever answers holds the customer's phone. Its `<Gather>` posts the keys
to `VOICE_MENU_PATH?callback=<outbox id>` (`callback_menu_url`); Twilio signs the URL
with its query, so the id cannot be altered, and `menu_customer` finds the customer
from that row (a call-back answers for an hour, and only while the number called is
still the customer's). An attested inbound call's menu carries `?caller=verified`
instead. A menu request with neither reads nothing. Call-backs are capped per customer
(`SMSBANK_CALLBACKS_PER_CUSTOMER_PER_HOUR`) and count toward the bank's cap, so
calling in again and again cannot be used to ring a customer's phone without end.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from tortoise.transactions import in_transaction

from smsbank import audit, destinations, messages, quotas
from smsbank.clock import utcnow
from smsbank.errors import TooManyRequests
from smsbank.models import Customer, MessageChannel, OutboundMessage
from smsbank.outbox import enqueue_call
from smsbank.phones import mask_phone
from smsbank.quotas import Quota
from smsbank.settings import Settings

log = logging.getLogger("smsbank.calls")

VOICE_MENU_PATH = "/webhooks/twilio/voice/menu"
CALLBACK_TEMPLATE = "voice_callback"
VERIFIED_CALLER = "TN-Validation-Passed-A"  # SHAKEN/STIR: the carrier vouches for the number
VERIFIED_QUERY = "caller=verified"
# How long after it was queued a call-back's menu still answers (the call is placed in
# seconds and lasts minutes; an old signed request replayed later reads nothing).
CALLBACK_MENU_VALID = timedelta(hours=1)
ACTOR = "customer:voice"


def outbound_calls(settings: Settings) -> Quota:
    return Quota("outbound_call", settings.outbound_calls_per_hour)


def callbacks(settings: Settings) -> Quota:
    return Quota("callback", settings.callbacks_per_customer_per_hour)


def caller_verified(stir_verstat: str) -> bool:
    """Whether Twilio attests that the caller owns the number they call from."""
    return stir_verstat.strip() == VERIFIED_CALLER


def callback_menu_url(settings: Settings, outbox_id: int) -> str:
    """Where a call-back's menu posts the key pressed (signed by Twilio, query included)."""
    return f"{settings.base_url}{VOICE_MENU_PATH}?callback={outbox_id}"


async def reserve_call(settings: Settings, to: str) -> None:
    """Before a call to `to` is queued: 400 for a destination the bank must not call,
    429 when the bank placed its hourly cap of calls already."""
    destinations.ensure_allowed(settings, to)
    if not await quotas.take(outbound_calls(settings)):
        log.warning("outbound calls capped", extra={"to": mask_phone(to)})
        raise TooManyRequests(messages.calls_busy(), code="too_many_calls")


async def call_back(settings: Settings, customer: Customer | None) -> bool:
    """An inbound call whose caller ID is not attested: call the customer registered for
    that number back, with the menu. True when a call was queued.

    Strangers are never called; nor is a customer past their hourly call-backs, or when
    the bank's calls are capped (the caller was told only that a registered number is
    called back, so nothing here tells a spoofer whether the number is a customer's).
    """
    if customer is None or destinations.refusal(settings, customer.phone) is not None:
        return False
    async with in_transaction():
        allowed = await quotas.take_all(
            (callbacks(settings), customer.id), (outbound_calls(settings), "all")
        )
        if not allowed:
            log.warning("call-back capped", extra={"to": mask_phone(customer.phone)})
            return False
        call = await enqueue_call(
            settings,
            to=customer.phone,
            say=messages.voice_callback_menu(customer.language),
            template=CALLBACK_TEMPLATE,
            customer_id=customer.id,
        )
        await audit.record(
            "voice.call_back", actor=ACTOR, customer_id=customer.id, outbox_id=call.id
        )
    return True


async def menu_customer(
    settings: Settings, *, caller: str, callee: str, verified: bool, callback_id: int | None
) -> Customer | None:
    """Whose menu a key press is for, or None: read nothing private.

    `callback_id` (from a call-back's menu URL) names the call the bank placed; else
    `verified` (an attested inbound call's menu URL) lets the caller ID name them.
    """
    if callback_id is not None:
        call = await OutboundMessage.get_or_none(
            id=callback_id, template=CALLBACK_TEMPLATE, channel=MessageChannel.VOICE
        )
        if call is None or call.customer_id is None:
            return None
        if call.created_at < utcnow() - CALLBACK_MENU_VALID:
            return None
        customer = await Customer.get_or_none(id=call.customer_id)
        # The number called must still be the customer's, and the one on this call.
        if customer is None or customer.phone != call.to_phone or callee != call.to_phone:
            return None
        return customer
    if verified:
        return await Customer.get_or_none(phone=caller)
    return None
