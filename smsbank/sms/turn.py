"""One turn of the conversation: an event through the pure machine
(`smsbank.sms.conversation`), each action it asks for carried out, and what happened fed
back into the machine as an outcome event, until it asks for nothing more.

Both paths run it the same way: the one-message path (`smsbank.sms.one_message_path`) and the
group commit (`smsbank.sms.group_commit`), which takes only what `batchable` says reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from smsbank import audit, messages, phone_changes, withdrawals
from smsbank.errors import BankError, Gone
from smsbank.models import Channel, ConversationState, Customer
from smsbank.settings import Settings
from smsbank.sms import request_steps
from smsbank.sms.conversation import Action, Event, Kind, step
from smsbank.sms.replies import balance_text, history_text, profile_text
from smsbank.sms.request_steps import ACTOR_SMS

log = logging.getLogger("smsbank.sms")

S = ConversationState
# The actions on the pending request: (what to do, to which kind), one path for both.
REQUEST_ACTIONS = {
    Action.CHECK_WITHDRAWAL_CODE: ("check", request_steps.WITHDRAWAL),
    Action.CHECK_PHONE_CODE: ("check", request_steps.PHONE_CHANGE),
    Action.CANCEL_WITHDRAWAL: ("cancel", request_steps.WITHDRAWAL),
    Action.CANCEL_PHONE_CHANGE: ("cancel", request_steps.PHONE_CHANGE),
    Action.CALL_WITHDRAWAL_CODE: ("call", request_steps.WITHDRAWAL),
    Action.CALL_PHONE_CODE: ("call", request_steps.PHONE_CHANGE),
}
# Actions `_perform` carries out from the customer's row alone, without a statement.
READ_ONLY_ACTIONS = frozenset({Action.SEND_BALANCE, Action.SEND_PROFILE})


@dataclass
class Turn:
    """What one inbound message did to the conversation, gathered while it runs."""

    customer: Customer
    state: ConversationState
    withdrawal_id: int | None
    phone_change_id: int | None
    expires_at: datetime | None
    replies: list[tuple[str, str]] = field(default_factory=list)  # (template, text)


def batchable(event: Event) -> bool:
    """Whether `event`, from an idle customer, only reads: it leaves the conversation
    idle and asks for no action but a reply built from the customer's row."""
    outcome = step(S.IDLE, event)
    return outcome.state == S.IDLE and set(outcome.actions) <= READ_ONLY_ACTIONS


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
    settings: Settings, turn: Turn, verb: str, entry: request_steps.SmsRequestKind, event: Event
) -> Event:
    """CHECK, CANCEL or CALL on the pending request, whichever its kind."""
    request_id = getattr(turn, entry.kind.id_field)
    assert request_id is not None  # the machine asks only while one is pending
    customer = turn.customer
    if verb == "check":
        result = await request_steps.check_code(
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
            Kind.REQUEST_ENDED, detail=await request_steps.cancel(entry, request_id, customer)
        )
    request = await request_steps.call_with_code(
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
