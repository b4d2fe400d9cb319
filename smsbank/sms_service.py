"""Banking by phone, the I/O side: inbound SMS through the conversation machine, and
the voice menu.

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
2. The gates (`smsbank.sms_gates`, shared with the group commit): a flood is stored
   and ignored (opt-out/opt-in keywords are always honoured); an unregistered number
   gets one "not registered" reply per 24 hours (counted from the outbox), none after
   it texted STOP, and learns nothing else; an opted-out customer gets nothing until
   they opt in.
3. Load the customer's `Conversation` row and bring it in line with the request it
   points at: the withdrawal and phone-change modules end requests on their own (a
   selfie verified on the capture page, five wrong codes, expiry) and reset the row,
   and a request past its time is expired here. The request row is the authority.
4. Run the pure machine (`smsbank.conversation`): each action it asks for is carried
   out through `smsbank.withdrawals`, `smsbank.phone_changes` or the ledger, and what
   happened goes back into the machine as an outcome event.
5. Save the conversation (state, linked request, expiry) and put every reply in the
   outbox, all in the same transaction: a reply exists if and only if its cause was
   committed.

A command that only reads (BAL, ME, HELP, an unknown word: `batchable`) from an idle
customer may take the same steps in a group commit with the others arriving at the same
moment (`smsbank.sms_batch`, hand-written SQL); `smsbank.sms_router` decides which path
a text takes, and the batch gives way to this one for anything it must not decide, so
both answer alike (tests/webhooks/test_sms_batch).

Codes never appear in logs or replies here (the modules that issue them text them);
phone numbers in logs are masked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from smsbank import (
    audit,
    conversation_row,
    destinations,
    messages,
    phone_changes,
    quotas,
    sms_gates,
    sms_requests,
    sql,
    withdrawals,
)
from smsbank.clock import utcnow
from smsbank.conversation import Action, Event, Kind, parse, pending_request, step
from smsbank.errors import BankError, Gone
from smsbank.i18n import DEFAULT_LANGUAGE
from smsbank.inbound_sms import Handled, InboundSms, Result, storable_body
from smsbank.models import (
    Channel,
    Conversation,
    ConversationState,
    Customer,
    InboundMessage,
    MessageChannel,
    OutboundMessage,
)
from smsbank.outbox import enqueue_sms
from smsbank.phones import mask_phone
from smsbank.quotas import Quota
from smsbank.settings import Settings
from smsbank.sms_replies import balance_text, history_text, profile_text
from smsbank.sms_requests import ACTOR_SMS

log = logging.getLogger("smsbank.sms")

S = ConversationState
UNREGISTERED_TEMPLATE = "unregistered_number"
UNREGISTERED_REPLY_EVERY = timedelta(hours=24)
RECENT_FROM_SQL = f"SELECT {sms_gates.RECENT_FROM_SQL.format(phone='?')} AS recent"
STRANGER_KEYWORD_LOOKBACK = 50  # recent messages searched for a stranger's STOP
# The actions on the pending request: (what to do, to which kind), one path for both.
REQUEST_ACTIONS = {
    Action.CHECK_WITHDRAWAL_CODE: ("check", sms_requests.WITHDRAWAL),
    Action.CHECK_PHONE_CODE: ("check", sms_requests.PHONE_CHANGE),
    Action.CANCEL_WITHDRAWAL: ("cancel", sms_requests.WITHDRAWAL),
    Action.CANCEL_PHONE_CHANGE: ("cancel", sms_requests.PHONE_CHANGE),
    Action.CALL_WITHDRAWAL_CODE: ("call", sms_requests.WITHDRAWAL),
    Action.CALL_PHONE_CODE: ("call", sms_requests.PHONE_CHANGE),
}
# Actions `_perform` carries out from the customer's row alone, without a statement.
READ_ONLY_ACTIONS = frozenset({Action.SEND_BALANCE, Action.SEND_PROFILE})


# --- inbound SMS ---------------------------------------------------------------------


async def handle_alone(settings: Settings, sms: InboundSms, event: Event) -> Result:
    """The one-message path: one transaction for this text (steps 1-5 of the docstring).

    `smsbank.sms_router` decides which texts take it; it logs and counts the result.
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


def batchable(event: Event) -> bool:
    """Whether `event`, from an idle customer, only reads: it leaves the conversation
    idle and asks for no action but a reply built from the customer's row."""
    outcome = step(S.IDLE, event)
    return outcome.state == S.IDLE and set(outcome.actions) <= READ_ONLY_ACTIONS


async def _handle(
    connection: BaseDBAsyncClient,
    settings: Settings,
    sms: InboundSms,
    event: Event,
    customer: Customer | None,
    inbound: InboundMessage,
) -> Result:
    keyword = sms_gates.is_opt_keyword(event)
    # An opt-out or opt-in keyword passes the flood gate whatever the count: not counted.
    recent = 0 if keyword else await _recent_from(connection, settings, sms.from_phone)
    stop = sms_gates.stopped_by(
        settings,
        event,
        customer=customer is not None,
        opted_out=customer is not None and customer.sms_opted_out,
        recent=recent,
    )
    if stop == Handled.THROTTLED:
        sms_gates.log_flood_onset(settings, sms.from_phone, recent)
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
    since = utcnow() - sms_gates.RATE_WINDOW
    values = [phone, since, sms_gates.flood_count_cap(settings)]
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


@dataclass
class Turn:
    """What one inbound message did to the conversation, gathered while it runs."""

    customer: Customer
    state: ConversationState
    withdrawal_id: int | None
    phone_change_id: int | None
    expires_at: datetime | None
    replies: list[tuple[str, str]] = field(default_factory=list)  # (template, text)


async def _converse(settings: Settings, customer: Customer, event: Event) -> Result:
    conversation = await conversation_row.load(customer.id)
    before = (
        conversation.state,
        conversation.withdrawal_id,  # type: ignore[attr-defined]
        conversation.phone_change_id,  # type: ignore[attr-defined]
        conversation.expires_at,
    )
    turn = Turn(
        customer,
        await sms_requests.reconciled_state(
            pending_request(conversation.state),
            _linked_request(conversation),
            conversation.expires_at,
        ),
        conversation.withdrawal_id,  # type: ignore[attr-defined]
        conversation.phone_change_id,  # type: ignore[attr-defined]
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


async def run_machine(settings: Settings, turn: Turn, event: Event) -> None:
    """Feed `event`, then the outcome of each action it causes, through the machine."""
    # Each entry: an event and the name its replies are filed under in the outbox (the
    # command, or the action whose outcome it is), e.g. "reply.send_balance".
    queue: list[tuple[Event, str]] = [(event, event.kind.value)]
    while queue:
        current, source = queue.pop(0)
        result = step(turn.state, current, turn.customer.language)
        if not result.legal:
            log.info(
                "illegal event",
                extra={"state": turn.state.value, "event": current.kind.value},
            )
        turn.state = result.state
        turn.replies.extend((f"reply.{source}", text) for text in result.replies)
        for action in result.actions:
            queue.append((await _perform(settings, turn, action, current), action.value))


def _linked_request(conversation: Conversation) -> int | None:
    """The id of the request the conversation's state is tied to, if any."""
    entry = sms_requests.BY_NAME.get(pending_request(conversation.state) or "")
    return None if entry is None else getattr(conversation, entry.kind.id_field)


async def _perform(settings: Settings, turn: Turn, action: Action, event: Event) -> Event:
    """Carry out one action; report what happened as an outcome event."""
    customer = turn.customer
    language = customer.language
    try:
        if action == Action.SEND_BALANCE:
            return Event(Kind.DONE, detail=balance_text(customer))
        if action == Action.SEND_PROFILE:
            return Event(Kind.DONE, detail=profile_text(customer))
        if action == Action.SEND_HISTORY:
            return Event(Kind.DONE, detail=await history_text(customer))
        if action == Action.SET_LANGUAGE:
            assert event.language is not None
            await _set_language(customer, event.language)
            return Event(Kind.DONE, detail=messages.language_set(event.language))
        if action in (Action.RECORD_OPT_OUT, Action.RECORD_OPT_IN):
            await _record_opt(customer, opted_out=action == Action.RECORD_OPT_OUT)
            return Event(Kind.DONE)
        if action == Action.START_WITHDRAWAL:
            assert event.amount is not None
            withdrawal = await withdrawals.start_withdrawal(
                settings, customer.id, event.amount, channel=Channel.SMS, actor=ACTOR_SMS
            )
            turn.withdrawal_id, turn.expires_at = withdrawal.id, withdrawal.expires_at
            return Event(Kind.WITHDRAWAL_STARTED, request_id=withdrawal.id)
        if action == Action.START_PHONE_CHANGE:
            assert event.phone is not None
            change = await phone_changes.start_phone_change(
                settings, customer.id, event.phone, channel=Channel.SMS, actor=ACTOR_SMS
            )
            turn.phone_change_id, turn.expires_at = change.id, change.expires_at
            return Event(Kind.PHONE_CHANGE_STARTED, request_id=change.id)
        if action in REQUEST_ACTIONS:
            verb, entry = REQUEST_ACTIONS[action]
            return await _act_on_request(settings, turn, verb, entry, event)
    except Gone as exc:  # the request ran out of time while we looked at it
        return Event(Kind.REQUEST_ENDED, detail=messages.notice(language, exc.message))
    except BankError as exc:
        kind = Kind.REQUEST_ENDED if exc.code == "finished" else Kind.REFUSED
        return Event(kind, detail=messages.refusal(language, exc.message, exc.code))
    raise AssertionError(f"no handler for {action}")  # pragma: no cover - table and code agree


async def _act_on_request(
    settings: Settings, turn: Turn, verb: str, entry: sms_requests.SmsRequestKind, event: Event
) -> Event:
    """CHECK, CANCEL or CALL on the pending request, whichever its kind."""
    request_id = getattr(turn, entry.kind.id_field)
    assert request_id is not None  # the machine asks only while one is pending
    customer = turn.customer
    if verb == "check":
        result = await sms_requests.check_code(
            settings, entry, request_id, customer, event.code or ""
        )
        if result.accepted:
            turn.expires_at = result.expires_at
            return Event(Kind.CODE_ACCEPTED)
        return Event(
            Kind.REQUEST_ENDED if result.ended else Kind.CODE_REJECTED, detail=result.reply
        )
    if verb == "cancel":
        return Event(
            Kind.REQUEST_ENDED, detail=await sms_requests.cancel(entry, request_id, customer)
        )
    request = await sms_requests.call_with_code(
        settings, entry, request_id, customer, actor=ACTOR_SMS
    )
    return Event(Kind.DONE, detail=entry.calling_reply(customer.language, request))


async def _set_language(customer: Customer, language: str) -> None:
    await Customer.filter(id=customer.id).update(language=language)
    customer.language = language  # type: ignore[assignment]
    await audit.record(
        "customer.language_set", actor=ACTOR_SMS, customer_id=customer.id, language=language
    )


async def _record_opt(customer: Customer, *, opted_out: bool) -> None:
    await Customer.filter(id=customer.id).update(sms_opted_out=opted_out)
    customer.sms_opted_out = opted_out
    await audit.record(
        "sms.opted_out" if opted_out else "sms.opted_in",
        actor=ACTOR_SMS,
        customer_id=customer.id,
    )
