"""What a text does to the customer's pending request, one path for both kinds.

A withdrawal and a number change are driven by SMS the same way: a code is checked, an
ABORT cancels, CALL has the code read by phone, and the conversation's state is read
off the request row. `request_lifecycle.RequestKind` already says what tells the two
apart in the steps they share; `SmsRequestKind` adds the little the SMS side needs on
top (which number a code call goes to, what the customer is told), so each step here
is written once and looks its kind up in `BY_NAME`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from smsbank import calls, messages, otp, phone_changes, request_lifecycle, withdrawals
from smsbank.clock import utcnow
from smsbank.errors import Conflict
from smsbank.i18n import Text
from smsbank.models import (
    Channel,
    ConversationState,
    Customer,
    PhoneChange,
    PhoneChangeStatus,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.outbox import enqueue_call
from smsbank.settings import Settings

S = ConversationState
ACTOR_SMS = "customer:sms"
NOTHING_LEFT_TO_CANCEL = Text("There was nothing left to cancel.")
TIMED_OUT = "the conversation timed out"


class CodeVerdict(Protocol):
    """What `withdrawals.verify_code` and `phone_changes.verify_code` both return."""

    @property
    def ok(self) -> bool: ...

    @property
    def message(self) -> str: ...

    @property
    def told(self) -> bool: ...

    @property
    def request(self) -> Any: ...


@dataclass(frozen=True)
class SmsRequestKind:
    """What the SMS side needs of one kind of request, beyond its `RequestKind`."""

    kind: request_lifecycle.RequestKind[Any]
    verify_code: Callable[..., Awaitable[CodeVerdict]]
    # A lock-out by wrong codes is texted by the kind's own module: no reply repeats it.
    texts_its_lock_out: bool
    call_template: str
    # The number a code call goes to: the one the code proves the customer holds.
    code_phone: Callable[[Any, Customer], str]
    calling_reply: Callable[[str, Any], str]  # (language, request) -> the SMS reply
    cancelled_reply: Callable[[str, Any, Customer], str]
    state_of: Callable[[Any], ConversationState]  # an open request's conversation state

    @property
    def name(self) -> str:
        return self.kind.name


def _withdrawal_state(withdrawal: Withdrawal) -> ConversationState:
    if withdrawal.status == WithdrawalStatus.AWAITING_CODE:
        return S.AWAITING_WITHDRAWAL_CODE
    return S.AWAITING_WITHDRAWAL_SELFIE


def _phone_change_state(change: PhoneChange) -> ConversationState:
    if change.status != PhoneChangeStatus.AWAITING_CODE:
        return S.AWAITING_PHONE_SELFIE
    return S.BRANCH_PHONE_CHANGE if change.channel == Channel.BRANCH else S.AWAITING_PHONE_CODE


WITHDRAWAL = SmsRequestKind(
    kind=withdrawals.KIND,
    verify_code=withdrawals.verify_code,
    texts_its_lock_out=True,
    call_template="withdrawal_code_call",
    code_phone=lambda _withdrawal, customer: customer.phone,
    calling_reply=lambda language, _withdrawal: messages.calling_with_code(language),
    cancelled_reply=lambda language, withdrawal, customer: messages.withdrawal_cancelled(
        language, withdrawal.amount, customer.currency
    ),
    state_of=_withdrawal_state,
)
PHONE_CHANGE = SmsRequestKind(
    kind=phone_changes.KIND,
    verify_code=phone_changes.verify_code,
    texts_its_lock_out=False,
    call_template="phone_change_code_call",
    # To the NEW number: the code proves the customer holds it.
    code_phone=lambda change, _customer: change.new_phone,
    calling_reply=lambda language, change: messages.calling_new_phone_with_code(
        language, change.new_phone
    ),
    cancelled_reply=lambda language, change, _customer: messages.phone_change_cancelled(
        language, change.new_phone
    ),
    state_of=_phone_change_state,
)
# By `RequestKind.name`, which is also what `conversation.pending_request` answers.
BY_NAME = {entry.name: entry for entry in (WITHDRAWAL, PHONE_CHANGE)}


@dataclass(frozen=True)
class CodeResult:
    """What a code check means for the conversation."""

    accepted: bool
    ended: bool  # not accepted, and the request is over
    reply: str  # what to tell the customer ("": nothing, or told already)
    expires_at: datetime | None = None  # when accepted: the request's new deadline


async def check_code(
    settings: Settings, entry: SmsRequestKind, request_id: int, customer: Customer, code: str
) -> CodeResult:
    outcome = await entry.verify_code(settings, request_id, code, actor=ACTOR_SMS)
    if outcome.ok:
        # Now as long as the capture link.
        return CodeResult(True, False, "", outcome.request.expires_at)
    detail = messages.notice(customer.language, outcome.message)
    if outcome.request.status in entry.kind.open_statuses:
        return CodeResult(False, False, detail)
    told = outcome.told or entry.texts_its_lock_out
    return CodeResult(False, True, "" if told else detail)


async def cancel(entry: SmsRequestKind, request_id: int, customer: Customer) -> str:
    """ABORT by text: the reply, or 409 `finished` when nothing was left to cancel."""
    request = await request_lifecycle.get(entry.kind, request_id)
    cancelled = await request_lifecycle.cancel(
        entry.kind, request.id, actor=ACTOR_SMS, reason=request_lifecycle.CANCELLED_BY_CUSTOMER
    )
    if not cancelled:
        raise Conflict(NOTHING_LEFT_TO_CANCEL, code="finished")
    return entry.cancelled_reply(customer.language, request, customer)


async def call_with_code(
    settings: Settings, entry: SmsRequestKind, request_id: int, customer: Customer, *, actor: str
) -> Any:
    """A fresh code, read by a call the bank places to the number it proves; the request."""
    request = await request_lifecycle.get(entry.kind, request_id)
    to = entry.code_phone(request, customer)
    await calls.reserve_call(settings, to)
    request, code = await request_lifecycle.issue_new_code(
        entry.kind, settings, request_id, actor=actor
    )
    await enqueue_call(
        settings,
        to=to,
        say=messages.voice_code(customer.language, code),
        template=entry.call_template,
        customer_id=customer.id,
        secret_expires_at=otp.code_deadline(settings),
    )
    return request


async def reconciled_state(
    pending: str | None, request_id: int | None, conversation_expires_at: datetime | None
) -> ConversationState:
    """The state the linked request says the conversation is in; a request past its
    time is expired, and one whose conversation timed out is cancelled, here."""
    entry = BY_NAME.get(pending or "")
    if entry is None or request_id is None:
        return S.IDLE
    kind = entry.kind
    request = await kind.model.get_or_none(id=request_id)
    if request is None or request.status not in kind.open_statuses:
        return S.IDLE
    now = utcnow()
    if request.expires_at <= now:
        # Marks it expired (and frees the conversation row) the way every reader does.
        await request_lifecycle.open_for(kind, request.customer_id)
        return S.IDLE
    if conversation_expires_at is not None and conversation_expires_at <= now:
        await request_lifecycle.cancel(kind, request.id, actor=ACTOR_SMS, reason=TIMED_OUT)
        return S.IDLE
    return entry.state_of(request)
