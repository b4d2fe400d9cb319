"""The voice menu: what a caller hears after pressing a key, and the record of their call.

Who the caller is (caller ID attested, or a call-back by the bank) is decided by
`smsbank.calls.menu_customer`; the webhook (`webhooks/voice.py`) turns the answer into
TwiML.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from smsbank import ledger, messages, phone_changes, withdrawals
from smsbank.errors import BankError
from smsbank.i18n import DEFAULT_LANGUAGE
from smsbank.models import (
    Customer,
    InboundMessage,
    MessageChannel,
    PhoneChangeStatus,
    WithdrawalStatus,
)
from smsbank.settings import Settings
from smsbank.sms import request_steps
from smsbank.sms.replies import HISTORY_SIZE

ACTOR_VOICE = "customer:voice"


@dataclass(frozen=True)
class VoiceAnswer:
    """What a call hears: sentences to say, in which language, and whether to offer the
    menu again."""

    say: list[str]
    language: str = DEFAULT_LANGUAGE
    menu_again: bool = True


async def record_call(call_sid: str, from_phone: str, to_phone: str) -> Customer | None:
    """Store an inbound call (once per CallSid) and return the caller, if a customer."""
    customer = await Customer.get_or_none(phone=from_phone)
    try:
        async with in_transaction():
            await InboundMessage.create(
                message_sid=call_sid,
                channel=MessageChannel.VOICE,
                from_phone=from_phone,
                to_phone=to_phone,
                body="(incoming call)",
                customer_id=customer.id if customer else None,
            )
    except IntegrityError:
        pass  # Twilio asked for the same call's TwiML again (a redirect or a retry)
    return customer


async def voice_menu_choice(settings: Settings, customer: Customer, digit: str) -> VoiceAnswer:
    """What a customer hears after pressing `digit` in the menu (who the customer is,
    `smsbank.calls.menu_customer` decided)."""
    language = customer.language
    if digit == "1":
        said = [messages.voice_balance(language, customer.balance, customer.currency)]
    elif digit == "2":
        entries = await ledger.recent_entries(customer.id, HISTORY_SIZE)
        said = messages.voice_history(
            language,
            [
                (entry.kind.value, entry.amount, entry.created_at.day, entry.created_at.month)
                for entry in entries
            ],
            customer.currency,
        )
    elif digit == "3":
        async with in_transaction():
            said = [await _voice_code(settings, customer)]
    else:
        said = [messages.voice_not_a_choice(language)]
    return VoiceAnswer(said, language)


async def _voice_code(settings: Settings, customer: Customer) -> str:
    """Option 3: a fresh code for the pending step.

    A withdrawal code is read on this call: the caller is on the registered phone (its
    caller ID attested, or the bank called it back), the same phone the SMS code went
    to. A phone-change code is never read here: it must prove the customer holds the
    NEW number, so the bank calls that number instead.
    """
    language = customer.language
    withdrawal = await withdrawals.open_withdrawal_for(customer.id)
    try:
        if withdrawal is not None and withdrawal.status == WithdrawalStatus.AWAITING_CODE:
            code = await withdrawals.resend_code(settings, withdrawal.id, actor=ACTOR_VOICE)
            return messages.voice_code(language, code)
        change = await phone_changes.open_phone_change_for(customer.id)
        if change is not None and change.status == PhoneChangeStatus.AWAITING_CODE:
            await request_steps.call_with_code(
                settings, request_steps.PHONE_CHANGE, change.id, customer, actor=ACTOR_VOICE
            )
            return messages.voice_calling_new_number(language)
    except BankError as exc:
        return messages.voice_notice(language, exc.message)
    return messages.voice_no_code_waiting(language)
