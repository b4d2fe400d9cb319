"""Withdrawal requests: the one state machine shared by SMS and branch staff.

Theory of operation
-------------------
    awaiting_code --code ok--> awaiting_selfie --face ok--> approved --record--> completed
         |                          |                                   (SMS: same step)
         +-- 5 wrong codes / ABORT / expiry / failed selfies --> cancelled | expired | failed

`start_withdrawal` checks the customer can withdraw (active, face enrolled and not
locked, not cooling off after a face or number change, amount within balance and
limits), creates the request and texts a code bound
to it and its amount. `verify_code` moves it to awaiting_selfie and, for the SMS
channel, texts a capture link. A verified selfie (`selfie_verified`) records the
withdrawal in the ledger at once for SMS requests; branch requests wait in `approved`
until staff call `record_withdrawal` (`POST /withdraw`), for at most
`conversation_timeout_seconds` from the approval: then they expire (410).

Every transition is a conditional UPDATE on the current status, so two callers racing
(two selfie posts at the same moment, a double-clicked `/withdraw`, a selfie and the
expiry sweep) cannot both win: the loser sees a Conflict. The ledger's unique key on
`withdrawal_id` is a second guard: a withdrawal can never be written twice. Messages
go to the outbox inside the same transaction as the transition that caused them.

A request past its `expires_at` is expired by whoever meets it first: a reader of it
(`open_withdrawal_for`, `request_lifecycle.live`) or the background sweep
(`smsbank.expiry`), both through `request_lifecycle.expire`. That module holds the
steps withdrawals share with phone changes; `KIND` tells it this is a withdrawal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from tortoise.transactions import in_transaction

from smsbank import audit, code_lock, cooling_off, ledger, messages, otp, request_lifecycle
from smsbank.clock import utcnow
from smsbank.customers import get_customer
from smsbank.errors import BankError, Conflict, Forbidden, InsufficientFunds
from smsbank.i18n import N_, Text
from smsbank.ledger import Limits
from smsbank.models import (
    CapturePurpose,
    Channel,
    CodePurpose,
    ConversationState,
    Customer,
    CustomerStatus,
    LedgerEntry,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.money import from_minor, to_minor
from smsbank.outbox import enqueue_sms
from smsbank.settings import Settings

OPEN_STATUSES = (
    WithdrawalStatus.AWAITING_CODE,
    WithdrawalStatus.AWAITING_SELFIE,
    WithdrawalStatus.APPROVED,
)
# Waiting on the customer. The expiry sweep ends only these: an approved request has
# passed both checks, and is recorded in the selfie's next statement (SMS) or by staff.
WAITING_STATUSES = (WithdrawalStatus.AWAITING_CODE, WithdrawalStatus.AWAITING_SELFIE)


@dataclass(frozen=True)
class CodeOutcome:
    ok: bool
    attempts_left: int
    withdrawal: Withdrawal
    message: str
    told: bool = False  # the customer was texted why (a lock)

    @property
    def request(self) -> Withdrawal:
        return self.withdrawal


@dataclass(frozen=True)
class SelfieOutcome:
    withdrawal: Withdrawal
    entry: LedgerEntry | None  # the ledger entry when the withdrawal was recorded
    failure: str | None = None  # why it could not be recorded (e.g. balance fell)


def limits_for(settings: Settings) -> Limits:
    return Limits(settings.withdrawal_limit, settings.daily_withdrawal_limit, settings.currency)


def code_subject(withdrawal: Withdrawal) -> str:
    """What a withdrawal code approves: this request, for this exact amount."""
    return f"withdrawal:{withdrawal.id}:{withdrawal.amount_minor}"


KIND = request_lifecycle.RequestKind(
    model=Withdrawal,
    name="withdrawal",
    id_field="withdrawal_id",
    code_purpose=CodePurpose.WITHDRAWAL,
    code_subject=code_subject,
    capture_purpose=CapturePurpose.WITHDRAWAL,
    selfie_state=ConversationState.AWAITING_WITHDRAWAL_SELFIE,
    expiry_details=lambda withdrawal: {"amount": str(withdrawal.amount)},
    open_statuses=OPEN_STATUSES,
    waiting_statuses=WAITING_STATUSES,
    awaiting_code=WithdrawalStatus.AWAITING_CODE,
    cancelled=WithdrawalStatus.CANCELLED,
    failed=WithdrawalStatus.FAILED,
    expired=WithdrawalStatus.EXPIRED,
    not_found=N_("withdrawal not found"),
    gone=N_("this withdrawal request has expired; start a new one"),
    finished=N_("this withdrawal has already ended ({status})"),
    code_used=N_("the code for this withdrawal was already accepted"),
    not_awaiting_code=N_("this withdrawal is not waiting for a code"),
    locked_out=N_("Too many wrong codes: the withdrawal is cancelled."),
)


async def check_can_withdraw(
    settings: Settings, customer: Customer, amount: Decimal, channel: Channel
) -> None:
    """Refuse early, with a message the customer can act on."""
    if customer.status != CustomerStatus.ACTIVE:
        raise Forbidden(request_lifecycle.ACCOUNT_LOCKED, code="account_locked")
    if not customer.face_enrolled:
        raise Conflict(
            Text("Withdrawals need a face enrolled first. Ask your branch for an enrolment link."),
            code="face_not_enrolled",
        )
    if customer.face_locked:
        raise Forbidden(request_lifecycle.FACE_LOCKED, code="face_locked")
    cooling_off.ensure_no_hold(customer)
    code_lock.ensure_unlocked(customer, channel)
    if customer.balance < amount:
        raise InsufficientFunds(ledger.NOT_ENOUGH_MONEY)
    await ledger.check_withdrawal_limits(customer.id, amount, limits_for(settings))


async def get_withdrawal(withdrawal_id: int) -> Withdrawal:
    return await request_lifecycle.get(KIND, withdrawal_id)


async def open_withdrawal_for(customer_id: int) -> Withdrawal | None:
    """The customer's live request, expiring it first if its time ran out."""
    return await request_lifecycle.open_for(KIND, customer_id)


async def expire_withdrawal(
    withdrawal: Withdrawal, *, only_from: tuple[WithdrawalStatus, ...] = OPEN_STATUSES
) -> bool:
    """End a request whose time ran out, once; True when this call expired it.

    Its codes are cancelled, its live capture links closed, the conversation row freed
    and the expiry audited; the customer is not texted (see `request_lifecycle.expire`,
    also for the lock order against a code or selfie racing it).
    """
    return await request_lifecycle.expire(KIND, withdrawal, only_from=only_from)


async def expire_overdue(limit: int) -> int:
    """Expire up to `limit` requests still waiting on the customer past their time.

    The expiry sweep's half for withdrawals; returns how many this call expired. Any
    number of callers may run it at once: each request is expired by exactly one.
    """
    return await request_lifecycle.expire_overdue(KIND, limit)


async def start_withdrawal(
    settings: Settings,
    customer_id: int,
    amount: Decimal,
    *,
    channel: Channel,
    actor: str,
) -> Withdrawal:
    """Create a withdrawal request and text its code to the customer's phone."""
    customer = await get_customer(customer_id)
    await check_can_withdraw(settings, customer, amount, channel)
    now = utcnow()
    async with in_transaction():
        await request_lifecycle.replace_open(KIND, customer.id)
        withdrawal = await Withdrawal.create(
            customer_id=customer.id,
            amount_minor=to_minor(amount),
            status=WithdrawalStatus.AWAITING_CODE,
            channel=channel,
            expires_at=now + timedelta(seconds=settings.conversation_timeout_seconds),
        )
        code = await request_lifecycle.issue_code(KIND, settings, withdrawal)
        await enqueue_sms(
            settings,
            to=customer.phone,
            body=messages.withdrawal_code(
                customer.language,
                code,
                amount,
                customer.currency,
                customer.account_number,
                settings.otp_ttl_seconds,
            ),
            template="withdrawal_code",
            customer_id=customer.id,
            respect_opt_out=False,  # the customer just asked for it
            secret_expires_at=otp.code_deadline(settings),
        )
        await audit.record(
            "withdrawal.started",
            actor=actor,
            customer_id=customer.id,
            withdrawal_id=withdrawal.id,
            amount=str(amount),
            channel=channel.value,
        )
        await request_lifecycle.record_code_sent(KIND, withdrawal, actor=actor)
    return withdrawal


async def resend_code(settings: Settings, withdrawal_id: int, *, actor: str) -> str:
    """A fresh code for a request still waiting for one (the `CALL` command reads it).

    The request's failure count carries over: a new code is not a new set of guesses.
    """
    _, code = await request_lifecycle.issue_new_code(KIND, settings, withdrawal_id, actor=actor)
    return code


async def verify_code(
    settings: Settings, withdrawal_id: int, code: str, *, actor: str
) -> CodeOutcome:
    """Check the customer's code; on success, move on to the selfie."""
    withdrawal = await request_lifecycle.awaiting_code(KIND, withdrawal_id)
    customer = await get_customer(withdrawal.customer_id)
    check = await request_lifecycle.check_code(
        KIND,
        settings,
        withdrawal,
        customer,
        code,
        actor=actor,
        on_accepted=_await_selfie,
        on_locked_out=_text_locked_out,
    )
    return CodeOutcome(check.ok, check.attempts_left, withdrawal, check.message, check.told)


async def _await_selfie(
    settings: Settings, withdrawal: Withdrawal, customer: Customer, actor: str
) -> None:
    """Inside the code's transaction: on to the selfie, by capture link for SMS requests."""
    await request_lifecycle.accept_code(
        KIND, withdrawal, WithdrawalStatus.AWAITING_SELFIE, customer_id=customer.id, actor=actor
    )
    if withdrawal.channel == Channel.SMS:
        await request_lifecycle.send_capture_link(
            KIND,
            settings,
            withdrawal,
            customer,
            text=lambda url: messages.withdrawal_capture_link(
                customer.language,
                url,
                withdrawal.amount,
                customer.currency,
                settings.capture_ttl_seconds,
            ),
            template="withdrawal_capture_link",
        )


async def _text_locked_out(settings: Settings, withdrawal: Withdrawal, customer: Customer) -> None:
    """Too many wrong codes cancelled the request: an SMS customer is told why."""
    if withdrawal.channel == Channel.SMS:
        await enqueue_sms(
            settings,
            to=customer.phone,
            body=messages.withdrawal_failed(
                customer.language,
                withdrawal.amount,
                customer.currency,
                TOO_MANY_WRONG_CODES,
                messages.RETRY_WITHDRAWAL,
            ),
            template="withdrawal_failed",
            customer_id=customer.id,
        )


async def selfie_verified(
    settings: Settings, withdrawal_id: int, *, distance: float, actor: str
) -> SelfieOutcome:
    """The selfie matched. SMS requests are recorded now; branch requests become approved.

    Safe under concurrency: only the caller whose conditional UPDATE moves the request
    out of awaiting_selfie proceeds; any other gets Conflict (code "already_done").
    """
    async with in_transaction():
        moved = await Withdrawal.filter(
            id=withdrawal_id, status=WithdrawalStatus.AWAITING_SELFIE
        ).update(
            status=WithdrawalStatus.APPROVED, face_verified_at=utcnow(), face_distance=distance
        )
        withdrawal = await get_withdrawal(withdrawal_id)
        if not moved:
            raise Conflict("this withdrawal is no longer waiting for a selfie", code="already_done")
        await audit.record(
            "withdrawal.face_verified",
            actor=actor,
            customer_id=withdrawal.customer_id,
            withdrawal_id=withdrawal.id,
            distance=round(distance, 4),
        )
        if withdrawal.channel == Channel.BRANCH:
            # Staff hand the cash over and record it next. However late in its request
            # the face passed, the approval lasts a whole conversation timeout from now;
            # after that `record_withdrawal` refuses it (410) and the request expires.
            until = utcnow() + timedelta(seconds=settings.conversation_timeout_seconds)
            await Withdrawal.filter(id=withdrawal.id, expires_at__lt=until).update(expires_at=until)
            return SelfieOutcome(await get_withdrawal(withdrawal_id), None)
    try:
        entry = await record_withdrawal(settings, withdrawal_id, actor=actor)
    except BankError as exc:  # balance or daily limit changed since the request started
        await selfie_failed(
            settings,
            withdrawal_id,
            reason=exc.message,
            actor=actor,
            # A limit says what is still possible; too little money: see the balance.
            next_step=messages.NEXT_STEPS.get(exc.code),
        )
        return SelfieOutcome(await get_withdrawal(withdrawal_id), None, exc.message)
    return SelfieOutcome(await get_withdrawal(withdrawal_id), entry)


async def face_checked_by_staff(
    settings: Settings, withdrawal_id: int, *, verified: bool, distance: float, actor: str
) -> Withdrawal:
    """`POST /verify_face` for a withdrawal: a match approves it (staff then record it)."""
    withdrawal = await request_lifecycle.live(KIND, withdrawal_id)
    if withdrawal.status == WithdrawalStatus.AWAITING_CODE:
        raise Conflict("the code must be verified before the face", code="code_not_verified")
    if withdrawal.status != WithdrawalStatus.AWAITING_SELFIE:
        raise Conflict("this withdrawal's face check is already done", code="already_done")
    if verified:
        await selfie_verified(settings, withdrawal_id, distance=distance, actor=actor)
    return await get_withdrawal(withdrawal_id)


async def record_withdrawal(settings: Settings, withdrawal_id: int, *, actor: str) -> LedgerEntry:
    """Write an approved withdrawal to the ledger, exactly once; confirm it by SMS."""
    withdrawal = await get_withdrawal(withdrawal_id)
    if withdrawal.status == WithdrawalStatus.COMPLETED:
        raise Conflict("this withdrawal is already recorded", code="already_recorded")
    if withdrawal.channel == Channel.BRANCH and withdrawal.status == WithdrawalStatus.APPROVED:
        # An approval not used in time ends (410) rather than paying out hours later.
        # (An SMS withdrawal is recorded in the same breath as its selfie is approved.)
        withdrawal = await request_lifecycle.live(KIND, withdrawal_id)
    if withdrawal.status != WithdrawalStatus.APPROVED:
        raise Conflict(
            "the withdrawal can be recorded only after its code and face checks passed",
            code="not_approved",
        )
    customer = await get_customer(withdrawal.customer_id)
    # A face or number change since the request started pauses it too (cooling-off).
    cooling_off.ensure_no_hold(customer)
    async with in_transaction():
        now = utcnow()
        moved = await Withdrawal.filter(id=withdrawal.id, status=WithdrawalStatus.APPROVED).update(
            status=WithdrawalStatus.COMPLETED, completed_at=now
        )
        if not moved:
            raise Conflict("this withdrawal is already recorded", code="already_recorded")
        entry = await ledger.withdraw(
            customer.id, withdrawal.amount, limits_for(settings), withdrawal_id=withdrawal.id
        )
        await Withdrawal.filter(id=withdrawal.id).update(reference=entry.reference)
        await request_lifecycle.reset_conversation(KIND, withdrawal.id)
        await enqueue_sms(
            settings,
            to=customer.phone,
            body=messages.withdrawal_completed(
                customer.language,
                withdrawal.amount,
                customer.currency,
                entry.reference,
                from_minor(entry.balance_after_minor),
            ),
            template="withdrawal_completed",
            customer_id=customer.id,
        )
        await audit.record(
            "withdrawal.recorded",
            actor=actor,
            customer_id=customer.id,
            withdrawal_id=withdrawal.id,
            reference=entry.reference,
            amount=str(withdrawal.amount),
        )
    return entry


async def selfie_failed(
    settings: Settings,
    withdrawal_id: int,
    *,
    reason: str,
    actor: str,
    next_step: str | None = messages.RETRY_WITHDRAWAL,
) -> None:
    """The selfies ran out (or the customer got locked): the request fails, by SMS too.

    The text ends with `next_step`, except for a customer who cannot simply try again
    (account or selfie checks locked: the reason sends them to their branch).
    """
    withdrawal = await get_withdrawal(withdrawal_id)
    customer = await get_customer(withdrawal.customer_id)
    async with in_transaction():
        failed = await request_lifecycle.fail(
            KIND,
            withdrawal,
            reason,
            actor=actor,
            only_from=(WithdrawalStatus.AWAITING_SELFIE, WithdrawalStatus.APPROVED),
        )
        if failed and withdrawal.channel == Channel.SMS:
            await enqueue_sms(
                settings,
                to=customer.phone,
                body=messages.withdrawal_failed(
                    customer.language,
                    withdrawal.amount,
                    customer.currency,
                    reason,
                    next_step if request_lifecycle.can_try_again(customer) else None,
                ),
                template="withdrawal_failed",
                customer_id=customer.id,
            )


TOO_MANY_WRONG_CODES = Text("Too many wrong codes.")


async def cancel_withdrawal(withdrawal_id: int, *, actor: str, reason: str = "cancelled") -> bool:
    """ABORT: cancel a request that is not finished. True when something was cancelled."""
    return await request_lifecycle.cancel(KIND, withdrawal_id, actor=actor, reason=reason)
