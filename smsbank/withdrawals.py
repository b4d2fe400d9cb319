"""Withdrawal requests: the one state machine shared by SMS and branch staff.

Theory of operation
-------------------
    awaiting_code --code ok--> awaiting_selfie --face ok--> approved --record--> completed
         |                          |                                   (SMS: same step)
         +-- 5 wrong codes / ABORT / expiry / failed selfies --> cancelled | expired | failed

`start_withdrawal` checks the customer can withdraw (active, face enrolled and not
locked, amount within balance and limits), creates the request and texts a code bound
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
(`open_withdrawal_for`, `_live`) or the background sweep (`smsbank.expiry`), both
through `expire_withdrawal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from smsbank import audit, ledger, messages, otp
from smsbank.capture import close_links, issue_capture_link, link_deadline
from smsbank.clock import utcnow
from smsbank.customers import MAX_ID, get_customer, mask_account
from smsbank.errors import BankError, Conflict, Forbidden, Gone, InsufficientFunds, NotFound
from smsbank.ledger import Limits
from smsbank.models import (
    CapturePurpose,
    Channel,
    CodePurpose,
    Conversation,
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


async def check_can_withdraw(settings: Settings, customer: Customer, amount: Decimal) -> None:
    """Refuse early, with a message the customer can act on."""
    if customer.status != CustomerStatus.ACTIVE:
        raise Forbidden("This account is locked. Please visit your branch.", code="account_locked")
    if not customer.face_enrolled:
        raise Conflict(
            "Withdrawals need a face enrolled first. Ask your branch for an enrolment link.",
            code="face_not_enrolled",
        )
    if customer.face_locked:
        raise Forbidden(
            "Selfie checks are locked after too many failures. Please visit your branch.",
            code="face_locked",
        )
    if customer.balance < amount:
        raise InsufficientFunds("There is not enough money in the account for that.")
    await ledger.check_withdrawal_limits(customer.id, amount, limits_for(settings))


async def get_withdrawal(withdrawal_id: int) -> Withdrawal:
    if not 1 <= withdrawal_id <= MAX_ID:
        raise NotFound("withdrawal not found", code="withdrawal_not_found")
    withdrawal = await Withdrawal.get_or_none(id=withdrawal_id)
    if withdrawal is None:
        raise NotFound("withdrawal not found", code="withdrawal_not_found")
    return withdrawal


async def open_withdrawal_for(customer_id: int) -> Withdrawal | None:
    """The customer's live request, expiring it first if its time ran out."""
    withdrawal = (
        await Withdrawal.filter(customer_id=customer_id, status__in=OPEN_STATUSES)
        .order_by("-id")
        .first()
    )
    if withdrawal is not None and withdrawal.expires_at <= utcnow():
        await expire_withdrawal(withdrawal)
        return None
    return withdrawal


async def expire_withdrawal(
    withdrawal: Withdrawal, *, only_from: tuple[WithdrawalStatus, ...] = OPEN_STATUSES
) -> bool:
    """End a request whose time ran out, once; True when this call expired it.

    Readers (`open_withdrawal_for`, `_live`) and the sweep (`expire_overdue`) all come
    here. Its codes are cancelled, its live capture links closed (they answer 410
    "expired"), the conversation row freed, and the expiry audited. The customer is not
    texted: a request they left alone ends silently, and their next text starts afresh.

    Codes and links are touched before the request's own conditional UPDATE, the order
    in which a code (code, then request) and a selfie (link, then request) take their
    locks, so on PostgreSQL an expiry racing either waits for it instead of deadlocking.
    When the request is no longer in `only_from` (the code or selfie won), everything
    here is rolled back.
    """
    if withdrawal.expires_at > utcnow():
        return False
    try:
        async with in_transaction():
            await otp.cancel_codes(code_subject(withdrawal))
            await close_links(withdrawal_id=withdrawal.id)
            if not await _finish(
                withdrawal, WithdrawalStatus.EXPIRED, "the request expired", only_from=only_from
            ):
                raise _NotExpired
            await audit.record(
                "withdrawal.expired",
                actor=audit.SYSTEM,
                customer_id=withdrawal.customer_id,  # type: ignore[attr-defined]
                withdrawal_id=withdrawal.id,
                amount=str(withdrawal.amount),
                channel=withdrawal.channel.value,
            )
    except _NotExpired:
        return False
    return True


async def expire_overdue(limit: int) -> int:
    """Expire up to `limit` requests still waiting on the customer past their time.

    The expiry sweep's half for withdrawals; returns how many this call expired. Any
    number of callers may run it at once: each request is expired by exactly one.
    """
    overdue = (
        await Withdrawal.filter(status__in=WAITING_STATUSES, expires_at__lte=utcnow())
        .order_by("expires_at", "id")
        .limit(limit)
    )
    expired = 0
    for withdrawal in overdue:
        if await expire_withdrawal(withdrawal, only_from=WAITING_STATUSES):
            expired += 1
    return expired


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
    await check_can_withdraw(settings, customer, amount)
    now = utcnow()
    async with in_transaction():
        # One request at a time: a new WITHDRAW replaces the previous one.
        for previous in await Withdrawal.filter(customer_id=customer.id, status__in=OPEN_STATUSES):
            await _finish(previous, WithdrawalStatus.CANCELLED, "replaced by a new request")
        withdrawal = await Withdrawal.create(
            customer_id=customer.id,
            amount_minor=to_minor(amount),
            status=WithdrawalStatus.AWAITING_CODE,
            channel=channel,
            expires_at=now + timedelta(seconds=settings.conversation_timeout_seconds),
        )
        code = await otp.issue_code(
            settings,
            customer_id=customer.id,
            purpose=CodePurpose.WITHDRAWAL,
            subject=code_subject(withdrawal),
        )
        await enqueue_sms(
            settings,
            to=customer.phone,
            body=messages.withdrawal_code(
                code, amount, customer.currency, mask_account(customer.account_number)
            ),
            template="withdrawal_code",
            customer_id=customer.id,
            respect_opt_out=False,  # the customer just asked for it
        )
        await audit.record(
            "withdrawal.started",
            actor=actor,
            customer_id=customer.id,
            withdrawal_id=withdrawal.id,
            amount=str(amount),
            channel=channel.value,
        )
        await audit.record(
            "code.sent",
            actor=actor,
            customer_id=customer.id,
            purpose="withdrawal",
            withdrawal_id=withdrawal.id,
        )
    return withdrawal


async def resend_code(settings: Settings, withdrawal_id: int, *, actor: str) -> str:
    """A fresh code for a request still waiting for one (the `CALL` command reads it).

    The request's failure count carries over: a new code is not a new set of guesses.
    """
    withdrawal = await _live(withdrawal_id)
    if withdrawal.status != WithdrawalStatus.AWAITING_CODE:
        raise Conflict("this withdrawal is not waiting for a code", code="not_awaiting_code")
    code = await otp.issue_code(
        settings,
        customer_id=withdrawal.customer_id,  # type: ignore[attr-defined]
        purpose=CodePurpose.WITHDRAWAL,
        subject=code_subject(withdrawal),
    )
    await audit.record(
        "code.sent",
        actor=actor,
        customer_id=withdrawal.customer_id,  # type: ignore[attr-defined]
        purpose="withdrawal",
        withdrawal_id=withdrawal.id,
    )
    return code


async def verify_code(
    settings: Settings, withdrawal_id: int, code: str, *, actor: str
) -> CodeOutcome:
    """Check the customer's code; on success, move on to the selfie."""
    withdrawal = await _live(withdrawal_id)
    if withdrawal.status != WithdrawalStatus.AWAITING_CODE:
        raise Conflict("the code for this withdrawal was already accepted", code="code_used")
    customer = await get_customer(withdrawal.customer_id)  # type: ignore[attr-defined]
    # Using the code and moving the request on commit together: should the second half
    # fail (the database, a crash), the customer's code still works on the next try.
    async with in_transaction():
        check = await otp.check_code(
            settings,
            customer_id=customer.id,
            purpose=CodePurpose.WITHDRAWAL,
            subject=code_subject(withdrawal),
            code=code,
        )
        if check.ok:
            moved = await Withdrawal.filter(
                id=withdrawal.id, status=WithdrawalStatus.AWAITING_CODE
            ).update(status=WithdrawalStatus.AWAITING_SELFIE, code_verified_at=utcnow())
            if not moved:
                raise Conflict("the code for this withdrawal was already accepted")
            await audit.record(
                "code.checked",
                actor=actor,
                customer_id=customer.id,
                withdrawal_id=withdrawal.id,
                result="ok",
            )
            if withdrawal.channel == Channel.SMS:
                url = await issue_capture_link(
                    settings,
                    customer_id=customer.id,
                    purpose=CapturePurpose.WITHDRAWAL,
                    withdrawal_id=withdrawal.id,
                )
                await enqueue_sms(
                    settings,
                    to=customer.phone,
                    body=messages.withdrawal_capture_link(
                        url, withdrawal.amount, customer.currency
                    ),
                    template="withdrawal_capture_link",
                    customer_id=customer.id,
                    respect_opt_out=False,
                )
                # The SMS says the link is valid 10 minutes: the request lives at least
                # as long, or a selfie taken in time would meet an expired request.
                until = link_deadline(settings)
                await Withdrawal.filter(id=withdrawal.id, expires_at__lt=until).update(
                    expires_at=until
                )
                await Conversation.filter(withdrawal_id=withdrawal.id).update(
                    state=ConversationState.AWAITING_WITHDRAWAL_SELFIE, expires_at=until
                )
    if check.ok:
        await withdrawal.refresh_from_db()
        return CodeOutcome(
            True, settings.otp_max_attempts - withdrawal.code_failures, withdrawal, ""
        )

    if check.reason == "no_code":
        await withdrawal.refresh_from_db()
        if withdrawal.code_verified_at is not None:
            # The right code, presented twice at the same moment: the other one won.
            # Not a wrong try; the same answer as a code sent after acceptance.
            raise Conflict("the code for this withdrawal was already accepted", code="code_used")
    return await _count_wrong_code(settings, withdrawal, customer, check.reason, actor)


async def _count_wrong_code(
    settings: Settings, withdrawal: Withdrawal, customer: Customer, reason: str, actor: str
) -> CodeOutcome:
    async with in_transaction():
        await Withdrawal.filter(id=withdrawal.id).update(code_failures=F("code_failures") + 1)
        await withdrawal.refresh_from_db()
        attempts_left = max(settings.otp_max_attempts - withdrawal.code_failures, 0)
        await audit.record(
            "code.checked",
            actor=actor,
            customer_id=customer.id,
            withdrawal_id=withdrawal.id,
            result=reason,
            attempts_left=attempts_left,
        )
        if attempts_left == 0:
            await _finish(withdrawal, WithdrawalStatus.CANCELLED, "too many wrong codes")
            if withdrawal.channel == Channel.SMS:
                await enqueue_sms(
                    settings,
                    to=customer.phone,
                    body=messages.withdrawal_failed(
                        withdrawal.amount, customer.currency, "too many wrong codes."
                    ),
                    template="withdrawal_failed",
                    customer_id=customer.id,
                )
            message = "Too many wrong codes: the withdrawal is cancelled."
        elif reason == "expired":
            message = "That code has expired. Text CALL for a new code by phone, or start again."
        else:
            message = f"That code is not right. {attempts_left} tries left."
    await withdrawal.refresh_from_db()
    return CodeOutcome(False, attempts_left, withdrawal, message)


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
            customer_id=withdrawal.customer_id,  # type: ignore[attr-defined]
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
        await selfie_failed(settings, withdrawal_id, reason=exc.message, actor=actor)
        return SelfieOutcome(await get_withdrawal(withdrawal_id), None, exc.message)
    return SelfieOutcome(await get_withdrawal(withdrawal_id), entry)


async def face_checked_by_staff(
    settings: Settings, withdrawal_id: int, *, verified: bool, distance: float, actor: str
) -> Withdrawal:
    """`POST /verify_face` for a withdrawal: a match approves it (staff then record it)."""
    withdrawal = await _live(withdrawal_id)
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
        withdrawal = await _live(withdrawal_id)
    if withdrawal.status != WithdrawalStatus.APPROVED:
        raise Conflict(
            "the withdrawal can be recorded only after its code and face checks passed",
            code="not_approved",
        )
    customer = await get_customer(withdrawal.customer_id)  # type: ignore[attr-defined]
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
        await _reset_conversation(withdrawal.id)
        await enqueue_sms(
            settings,
            to=customer.phone,
            body=messages.withdrawal_completed(
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


async def selfie_failed(settings: Settings, withdrawal_id: int, *, reason: str, actor: str) -> None:
    """The selfies ran out (or the customer got locked): the request fails, by SMS too."""
    withdrawal = await get_withdrawal(withdrawal_id)
    customer = await get_customer(withdrawal.customer_id)  # type: ignore[attr-defined]
    async with in_transaction():
        finished = await _finish(
            withdrawal,
            WithdrawalStatus.FAILED,
            reason,
            only_from=(WithdrawalStatus.AWAITING_SELFIE, WithdrawalStatus.APPROVED),
        )
        if not finished:
            return
        await audit.record(
            "withdrawal.failed",
            actor=actor,
            customer_id=customer.id,
            withdrawal_id=withdrawal.id,
            reason=reason,
        )
        if withdrawal.channel == Channel.SMS:
            await enqueue_sms(
                settings,
                to=customer.phone,
                body=messages.withdrawal_failed(withdrawal.amount, customer.currency, reason),
                template="withdrawal_failed",
                customer_id=customer.id,
            )


async def cancel_withdrawal(withdrawal_id: int, *, actor: str, reason: str = "cancelled") -> bool:
    """ABORT: cancel a request that is not finished. True when something was cancelled."""
    withdrawal = await get_withdrawal(withdrawal_id)
    async with in_transaction():
        finished = await _finish(withdrawal, WithdrawalStatus.CANCELLED, reason)
        if finished:
            await audit.record(
                "withdrawal.cancelled",
                actor=actor,
                customer_id=withdrawal.customer_id,  # type: ignore[attr-defined]
                withdrawal_id=withdrawal.id,
                reason=reason,
            )
    return finished


async def _live(withdrawal_id: int) -> Withdrawal:
    """An open request, or 409 (finished) / 410 (expired)."""
    withdrawal = await get_withdrawal(withdrawal_id)
    if withdrawal.status in OPEN_STATUSES and withdrawal.expires_at <= utcnow():
        await expire_withdrawal(withdrawal)
        await withdrawal.refresh_from_db()
    if withdrawal.status == WithdrawalStatus.EXPIRED:
        raise Gone("this withdrawal request has expired; start a new one", code="expired")
    if withdrawal.status not in OPEN_STATUSES:
        raise Conflict(f"this withdrawal is already {withdrawal.status.value}", code="finished")
    return withdrawal


async def _finish(
    withdrawal: Withdrawal,
    status: WithdrawalStatus,
    reason: str,
    only_from: tuple[WithdrawalStatus, ...] = OPEN_STATUSES,
) -> bool:
    """Move an open request to a final state (once) and free the conversation."""
    # Codes first, then the request: the lock order of a code being checked (see
    # `expire_withdrawal`). A request that is no longer open has no live code anyway.
    await otp.cancel_codes(code_subject(withdrawal))
    finished = await Withdrawal.filter(id=withdrawal.id, status__in=only_from).update(
        status=status, failure_reason=reason[:200]
    )
    if finished:
        await _reset_conversation(withdrawal.id)
        await withdrawal.refresh_from_db()
    return bool(finished)


class _NotExpired(Exception):
    """Rolls back an expiry that lost its race (the request moved on meanwhile)."""


async def _reset_conversation(withdrawal_id: int) -> None:
    await Conversation.filter(withdrawal_id=withdrawal_id).update(
        state=ConversationState.IDLE, withdrawal_id=None, expires_at=None
    )
