"""The one-message path of an inbound SMS: one transaction a text, every gate, any
command. (Which texts take it: `smsbank.sms.router`; the voice menu:
`smsbank.sms.voice_menu`.)

Theory of operation
-------------------
One inbound SMS is one database transaction:

1. Insert the `InboundMessage` row. Its `message_sid` is unique, so a webhook Twilio
   delivers twice (even twice at the same moment, to two workers) is processed once:
   the second insert waits for the first transaction and then fails, and the whole
   second attempt rolls back. Before the insert, PostgreSQL takes a transaction-level
   advisory lock on the sender's number, so one number's messages are handled one at
   a time (its conversation, rate limit and "not registered" reply cannot race); on
   SQLite the transaction takes the database write lock as it begins (BEGIN
   IMMEDIATE, `smsbank.sqlite_engine`), which does the same.
2. The gates (`smsbank.sms.gates`, shared with the group commit): a flood is stored
   and ignored (opt-out/opt-in keywords are always honoured); an unregistered number
   gets one "not registered" reply per 24 hours (counted from the outbox), none after
   it texted STOP, and learns nothing else; an opted-out customer gets nothing until
   they opt in.
3. Load the customer's `Conversation` row (`smsbank.sms.conversation_row`, its one
   writer) and bring it in line with the request it points at
   (`request_steps.reconciled_state`): the withdrawal and phone-change modules end
   requests on their own (a selfie verified on the capture page, five wrong codes,
   expiry) and free the row, and a request past its time is expired here. The
   request row is the authority.
4. Run one turn (`smsbank.sms.turn`): the pure machine (`smsbank.sms.conversation`), each
   action it asks for carried out (the pending request's through
   `smsbank.sms.request_steps`, one path for both kinds), and what happened fed back in.
5. Save the conversation (state, linked request, expiry) and put every reply in the
   outbox, all in the same transaction: a reply exists if and only if its cause was
   committed.

A command that only reads (BAL, ME, HELP, an unknown word: `batchable`) from an idle
customer may take the same steps in a group commit with the others arriving at the same
moment (`smsbank.sms.group_commit`, hand-written SQL); `smsbank.sms.router` decides which path
a text takes, and the batch gives way to this one for anything it must not decide, so
both answer alike (tests/webhooks/test_sms_batch).

Codes never appear in logs or replies here (the modules that issue them text them);
phone numbers in logs are masked.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from smsbank import destinations, messages, quotas, sql
from smsbank.clock import utcnow
from smsbank.i18n import DEFAULT_LANGUAGE
from smsbank.models import (
    Conversation,
    Customer,
    InboundMessage,
    MessageChannel,
    OutboundMessage,
)
from smsbank.outbox import enqueue_sms
from smsbank.phones import mask_phone
from smsbank.quotas import Quota
from smsbank.settings import Settings
from smsbank.sms import conversation_row, gates, request_steps
from smsbank.sms.conversation import Event, Kind, parse, pending_request
from smsbank.sms.inbound import Handled, InboundSms, Result, storable_body
from smsbank.sms.turn import Turn, run_machine

log = logging.getLogger("smsbank.sms")

UNREGISTERED_TEMPLATE = "unregistered_number"
UNREGISTERED_REPLY_EVERY = timedelta(hours=24)
RECENT_FROM_SQL = f"SELECT {gates.RECENT_FROM_SQL.format(phone='?')} AS recent"
STRANGER_KEYWORD_LOOKBACK = 50  # recent messages searched for a stranger's STOP


# --- inbound SMS ---------------------------------------------------------------------


async def handle_alone(settings: Settings, sms: InboundSms, event: Event) -> Result:
    """The one-message path: one transaction for this text (steps 1-5 of the docstring).

    `smsbank.sms.router` decides which texts take it; it logs and counts the result.
    """
    try:
        async with in_transaction() as connection:
            await sql.serialize_senders(connection, [sms.from_phone])
            customer = await Customer.get_or_none(phone=sms.from_phone)
            inbound = await InboundMessage.create(
                message_sid=sms.message_sid,
                channel=MessageChannel.SMS,
                from_phone=sms.from_phone,
                to_phone=sms.to_phone,
                body=storable_body(sms.body),
                customer_id=customer.id if customer else None,
            )
            return await _handle(connection, settings, sms, event, customer, inbound)
    except IntegrityError:
        if await InboundMessage.exists(message_sid=sms.message_sid):
            return Result(Handled.DUPLICATE)
        raise


async def _handle(
    connection: BaseDBAsyncClient,
    settings: Settings,
    sms: InboundSms,
    event: Event,
    customer: Customer | None,
    inbound: InboundMessage,
) -> Result:
    keyword = gates.is_opt_keyword(event)
    # An opt-out or opt-in keyword passes the flood gate whatever the count: not counted.
    recent = 0 if keyword else await _recent_from(connection, settings, sms.from_phone)
    stop = gates.stopped_by(
        settings,
        event,
        customer=customer is not None,
        opted_out=customer is not None and customer.sms_opted_out,
        recent=recent,
    )
    if stop == Handled.THROTTLED:
        gates.log_flood_onset(settings, sms.from_phone, recent)
        return Result(Handled.THROTTLED)
    if stop == Handled.UNREGISTERED:
        if not keyword and await _may_answer_stranger(settings, sms.from_phone, inbound):
            # A stranger has no language of their own yet: the bank's default.
            text = messages.unregistered_number(DEFAULT_LANGUAGE)
            await enqueue_sms(
                settings, to=sms.from_phone, body=text, template=UNREGISTERED_TEMPLATE
            )
            return Result(Handled.UNREGISTERED, [text])
        return Result(Handled.UNREGISTERED)
    if stop is not None:
        return Result(stop)
    assert customer is not None  # a number that is no customer's stopped above
    return await _converse(settings, customer, event)


async def _recent_from(connection: BaseDBAsyncClient, settings: Settings, phone: str) -> int:
    """This number's texts in the last minute, this one included (it is stored first),
    counted as far as the flood gate needs."""
    since = utcnow() - gates.RATE_WINDOW
    values = [phone, since, gates.flood_count_cap(settings)]
    [row] = await sql.fetch(connection, RECENT_FROM_SQL, values)
    return int(row["recent"])


async def _may_answer_stranger(settings: Settings, phone: str, inbound: InboundMessage) -> bool:
    """Whether a number that is no customer's gets the "not registered" reply.

    Not from outside the allowed countries or a premium-rate number (SMS pumping earns
    its money from our replies), not twice a day, not after it said STOP, and not once
    the bank sent its hourly cap of such replies, all numbers together; the cap is
    counted last, so only a reply that goes out uses it.
    """
    if destinations.refusal(settings, phone) is not None:
        return False
    if not await _first_unregistered_reply_today(phone):
        return False
    if await _stranger_opted_out(settings, phone, inbound):
        return False
    if not await quotas.take(_stranger_replies(settings)):
        log.warning("replies to strangers capped", extra={"from": mask_phone(phone)})
        return False
    return True


def _stranger_replies(settings: Settings) -> Quota:
    return Quota("stranger_reply", settings.stranger_replies_per_hour)


async def _stranger_opted_out(settings: Settings, phone: str, inbound: InboundMessage) -> bool:
    """Whether a number with no customer said STOP (and not START since).

    There is no customer row to keep the flag on, so it is read from what the number
    sent: the latest opt-out or opt-in keyword among its recent messages decides.
    """
    bodies = (
        await InboundMessage.filter(from_phone=phone, channel=MessageChannel.SMS)
        .exclude(id=inbound.id)
        .order_by("-id")
        .limit(STRANGER_KEYWORD_LOOKBACK)
        .values_list("body", flat=True)
    )
    for body in bodies:
        kind = parse(body, default_region=settings.default_region).kind
        if kind in (Kind.OPT_OUT, Kind.OPT_IN):
            return kind == Kind.OPT_OUT
    return False


async def _first_unregistered_reply_today(phone: str) -> bool:
    since = utcnow() - UNREGISTERED_REPLY_EVERY
    return not await OutboundMessage.filter(
        to_phone=phone, template=UNREGISTERED_TEMPLATE, created_at__gte=since
    ).exists()


async def _converse(settings: Settings, customer: Customer, event: Event) -> Result:
    conversation = await conversation_row.load(customer.id)
    before = (
        conversation.state,
        conversation.withdrawal_id,
        conversation.phone_change_id,
        conversation.expires_at,
    )
    turn = Turn(
        customer,
        await request_steps.reconciled_state(
            pending_request(conversation.state),
            _linked_request(conversation),
            conversation.expires_at,
        ),
        conversation.withdrawal_id,
        conversation.phone_change_id,
        conversation.expires_at,
    )
    await run_machine(settings, turn, event)

    pending = pending_request(turn.state)
    if pending is None:
        turn.withdrawal_id = turn.phone_change_id = None
        turn.expires_at = None
    elif pending == "withdrawal":
        turn.phone_change_id = None
    else:
        turn.withdrawal_id = None
    after = (turn.state, turn.withdrawal_id, turn.phone_change_id, turn.expires_at)
    if after != before:  # most messages (BAL, ME, HELP...) leave the conversation as it was
        await conversation_row.save(
            conversation.id,
            state=turn.state,
            withdrawal_id=turn.withdrawal_id,
            phone_change_id=turn.phone_change_id,
            expires_at=turn.expires_at,
        )
    for template, text in turn.replies:
        await enqueue_sms(
            settings,
            to=customer.phone,
            body=text,
            template=template,
            customer_id=customer.id,
            # The row was read in this transaction and `_record_opt` keeps it current.
            opted_out=customer.sms_opted_out,
        )
    return Result(Handled.PROCESSED, [text for _, text in turn.replies], turn.state)


def _linked_request(conversation: Conversation) -> int | None:
    """The id of the request the conversation's state is tied to, if any."""
    entry = request_steps.BY_NAME.get(pending_request(conversation.state) or "")
    return None if entry is None else getattr(conversation, entry.kind.id_field)
