"""Phone-number changes: code to the NEW number, answered from the OLD one, then a selfie.

Theory of operation
-------------------
    awaiting_code --code ok (SMS)--> awaiting_selfie --face ok--> completed
         |        --code ok (branch, customer present)---------> completed
         +-- 5 wrong codes / ABORT / expiry / failed selfies --> cancelled | expired | failed

By SMS (`PHONE +1555...` from the registered phone) the code goes to the new number
and the old phone is told; the customer replies with the code from the OLD phone,
which proves they hold both. A capture link then goes to the old phone, and only a
verified selfie moves the account. At a branch (`/request_update_otp`,
`/update_mobile`) staff have the customer in front of them, so the code alone
completes it. Both numbers are told when the number changes, so a SIM-swap victim
hears about it on the phone they still have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from smsbank import audit, messages, otp
from smsbank.capture import close_links, issue_capture_link, link_deadline
from smsbank.clock import utcnow
from smsbank.customers import MAX_ID, get_customer, mask_account
from smsbank.errors import Conflict, Forbidden, Gone, NotFound, ValidationFailed
from smsbank.models import (
    CapturePurpose,
    Channel,
    CodePurpose,
    Conversation,
    ConversationState,
    Customer,
    CustomerStatus,
    PhoneChange,
    PhoneChangeStatus,
)
from smsbank.outbox import enqueue_sms
from smsbank.phones import mask_phone
from smsbank.settings import Settings

OPEN_STATUSES = (PhoneChangeStatus.AWAITING_CODE, PhoneChangeStatus.AWAITING_SELFIE)


@dataclass(frozen=True)
class PhoneCodeOutcome:
    ok: bool
    attempts_left: int
    change: PhoneChange
    message: str


def code_subject(change: PhoneChange) -> str:
    """What a phone-change code approves: this request, to this exact number."""
    return f"phone_change:{change.id}:{change.new_phone}"


async def get_phone_change(change_id: int) -> PhoneChange:
    if not 1 <= change_id <= MAX_ID:
        raise NotFound("phone change not found", code="phone_change_not_found")
    change = await PhoneChange.get_or_none(id=change_id)
    if change is None:
        raise NotFound("phone change not found", code="phone_change_not_found")
    return change


async def open_phone_change_for(customer_id: int) -> PhoneChange | None:
    change = (
        await PhoneChange.filter(customer_id=customer_id, status__in=OPEN_STATUSES)
        .order_by("-id")
        .first()
    )
    if change is not None and change.expires_at <= utcnow():
        await expire_phone_change(change)
        return None
    return change


async def expire_phone_change(change: PhoneChange) -> bool:
    """End a change whose time ran out, once; True when this call expired it.

    Readers and the sweep (`expire_overdue`) both come here, as for withdrawals (see
    `withdrawals.expire_withdrawal` for the lock order): codes cancelled, live capture
    links closed, conversation row freed, audited, and no SMS to either number.
    """
    if change.expires_at > utcnow():
        return False
    try:
        async with in_transaction():
            await otp.cancel_codes(code_subject(change))
            await close_links(phone_change_id=change.id)
            if not await _finish(change, PhoneChangeStatus.EXPIRED, "the request expired"):
                raise _NotExpired
            await audit.record(
                "phone_change.expired",
                actor=audit.SYSTEM,
                customer_id=change.customer_id,  # type: ignore[attr-defined]
                phone_change_id=change.id,
                new_phone=mask_phone(change.new_phone),
                channel=change.channel.value,
            )
    except _NotExpired:
        return False
    return True


async def expire_overdue(limit: int) -> int:
    """Expire up to `limit` open changes past their time; returns how many this call did."""
    overdue = (
        await PhoneChange.filter(status__in=OPEN_STATUSES, expires_at__lte=utcnow())
        .order_by("expires_at", "id")
        .limit(limit)
    )
    expired = 0
    for change in overdue:
        if await expire_phone_change(change):
            expired += 1
    return expired


async def start_phone_change(
    settings: Settings, customer_id: int, new_phone: str, *, channel: Channel, actor: str
) -> PhoneChange:
    """Create the request, text a code to the new number and tell the old one."""
    customer = await get_customer(customer_id)
    if customer.status != CustomerStatus.ACTIVE:
        raise Forbidden("This account is locked. Please visit your branch.", code="account_locked")
    if new_phone == customer.phone:
        raise ValidationFailed("That is already your number.", code="same_phone")
    if await Customer.exists(phone=new_phone):
        raise Conflict("That number belongs to another customer.", code="phone_taken")
    if channel == Channel.SMS and not customer.face_enrolled:
        raise Conflict(
            "Changing your number by text needs a face enrolled. Please visit your branch.",
            code="face_not_enrolled",
        )
    if channel == Channel.SMS and customer.face_locked:
        raise Forbidden(
            "Selfie checks are locked after too many failures. Please visit your branch.",
            code="face_locked",
        )
    now = utcnow()
    async with in_transaction():
        for previous in await PhoneChange.filter(customer_id=customer.id, status__in=OPEN_STATUSES):
            await _finish(previous, PhoneChangeStatus.CANCELLED, "replaced by a new request")
        change = await PhoneChange.create(
            customer_id=customer.id,
            old_phone=customer.phone,
            new_phone=new_phone,
            status=PhoneChangeStatus.AWAITING_CODE,
            channel=channel,
            expires_at=now + timedelta(seconds=settings.conversation_timeout_seconds),
        )
        code = await otp.issue_code(
            settings,
            customer_id=customer.id,
            purpose=CodePurpose.PHONE_CHANGE,
            subject=code_subject(change),
        )
        await enqueue_sms(
            settings,
            to=new_phone,
            body=messages.phone_change_code(code, mask_account(customer.account_number)),
            template="phone_change_code",
            customer_id=customer.id,
            respect_opt_out=False,
        )
        await enqueue_sms(
            settings,
            to=customer.phone,
            body=messages.phone_change_code_sent(mask_phone(new_phone)),
            template="phone_change_code_sent",
            customer_id=customer.id,
            respect_opt_out=False,
        )
        await audit.record(
            "phone_change.started",
            actor=actor,
            customer_id=customer.id,
            phone_change_id=change.id,
            new_phone=mask_phone(new_phone),
            channel=channel.value,
        )
        await audit.record(
            "code.sent",
            actor=actor,
            customer_id=customer.id,
            purpose="phone_change",
            phone_change_id=change.id,
        )
    return change


async def resend_code(settings: Settings, change_id: int, *, actor: str) -> tuple[str, str]:
    """A fresh code for the pending change; returns (code, the new number to call)."""
    change = await _live(change_id)
    if change.status != PhoneChangeStatus.AWAITING_CODE:
        raise Conflict("this change is not waiting for a code", code="not_awaiting_code")
    code = await otp.issue_code(
        settings,
        customer_id=change.customer_id,  # type: ignore[attr-defined]
        purpose=CodePurpose.PHONE_CHANGE,
        subject=code_subject(change),
    )
    await audit.record(
        "code.sent",
        actor=actor,
        customer_id=change.customer_id,  # type: ignore[attr-defined]
        purpose="phone_change",
        phone_change_id=change.id,
    )
    return code, change.new_phone


async def verify_code(
    settings: Settings, change_id: int, code: str, *, actor: str
) -> PhoneCodeOutcome:
    """Check the code; SMS requests move on to the selfie, branch requests complete."""
    change = await _live(change_id)
    if change.status != PhoneChangeStatus.AWAITING_CODE:
        raise Conflict("the code for this change was already accepted", code="code_used")
    customer = await get_customer(change.customer_id)  # type: ignore[attr-defined]
    # Using the code and moving the request on commit together: should the second half
    # fail (the database, a crash), the customer's code still works on the next try.
    async with in_transaction():
        check = await otp.check_code(
            settings,
            customer_id=customer.id,
            purpose=CodePurpose.PHONE_CHANGE,
            subject=code_subject(change),
            code=code,
        )
        if check.ok:
            next_status = (
                PhoneChangeStatus.AWAITING_SELFIE
                if change.channel == Channel.SMS
                else PhoneChangeStatus.AWAITING_CODE
            )
            moved = await PhoneChange.filter(
                id=change.id, status=PhoneChangeStatus.AWAITING_CODE
            ).update(status=next_status, code_verified_at=utcnow())
            if not moved:
                raise Conflict("the code for this change was already accepted", code="code_used")
            await audit.record(
                "code.checked",
                actor=actor,
                customer_id=customer.id,
                phone_change_id=change.id,
                result="ok",
            )
            if change.channel == Channel.SMS:
                url = await issue_capture_link(
                    settings,
                    customer_id=customer.id,
                    purpose=CapturePurpose.PHONE_CHANGE,
                    phone_change_id=change.id,
                )
                await enqueue_sms(
                    settings,
                    to=customer.phone,
                    body=messages.phone_change_capture_link(url),
                    template="phone_change_capture_link",
                    customer_id=customer.id,
                    respect_opt_out=False,
                )
                # As for withdrawals: the request lives at least as long as its link.
                until = link_deadline(settings)
                await PhoneChange.filter(id=change.id, expires_at__lt=until).update(
                    expires_at=until
                )
                await Conversation.filter(phone_change_id=change.id).update(
                    state=ConversationState.AWAITING_PHONE_SELFIE, expires_at=until
                )
            else:
                await _complete(settings, change, customer, actor)
    if not check.ok:
        if check.reason == "no_code":
            await change.refresh_from_db()
            if change.code_verified_at is not None:
                # The right code, presented twice at the same moment: the other one won.
                raise Conflict("the code for this change was already accepted", code="code_used")
        return await _count_wrong_code(settings, change, customer, check.reason, actor)
    await change.refresh_from_db()
    return PhoneCodeOutcome(True, settings.otp_max_attempts - change.code_failures, change, "")


async def _count_wrong_code(
    settings: Settings, change: PhoneChange, customer: Customer, reason: str, actor: str
) -> PhoneCodeOutcome:
    async with in_transaction():
        await PhoneChange.filter(id=change.id).update(code_failures=F("code_failures") + 1)
        await change.refresh_from_db()
        attempts_left = max(settings.otp_max_attempts - change.code_failures, 0)
        await audit.record(
            "code.checked",
            actor=actor,
            customer_id=customer.id,
            phone_change_id=change.id,
            result=reason,
            attempts_left=attempts_left,
        )
        if attempts_left == 0:
            await _finish(change, PhoneChangeStatus.CANCELLED, "too many wrong codes")
            message = "Too many wrong codes: the number change is cancelled."
        elif reason == "expired":
            message = "That code has expired. Text CALL for a new code by phone, or start again."
        else:
            message = f"That code is not right. {attempts_left} tries left."
    await change.refresh_from_db()
    return PhoneCodeOutcome(False, attempts_left, change, message)


async def selfie_verified(
    settings: Settings, change_id: int, *, distance: float, actor: str
) -> PhoneChange:
    """The selfie matched: move the account to the new number (once) and tell both."""
    change = await get_phone_change(change_id)
    customer = await get_customer(change.customer_id)  # type: ignore[attr-defined]
    try:
        async with in_transaction():
            moved = await PhoneChange.filter(
                id=change.id, status=PhoneChangeStatus.AWAITING_SELFIE
            ).update(status=PhoneChangeStatus.COMPLETED, completed_at=utcnow())
            if not moved:
                raise Conflict("this change is no longer waiting for a selfie", code="already_done")
            await audit.record(
                "phone_change.face_verified",
                actor=actor,
                customer_id=customer.id,
                phone_change_id=change.id,
                distance=round(distance, 4),
            )
            await _complete(settings, change, customer, actor)
    except IntegrityError:
        # Someone registered the number while we waited for the selfie.
        await selfie_failed(
            settings, change.id, reason="that number now belongs to another customer", actor=actor
        )
    await change.refresh_from_db()
    return change


async def _complete(
    settings: Settings, change: PhoneChange, customer: Customer, actor: str
) -> None:
    """Inside a transaction: change the number, notify both numbers, audit."""
    await PhoneChange.filter(id=change.id).update(
        status=PhoneChangeStatus.COMPLETED, completed_at=utcnow()
    )
    await Customer.filter(id=customer.id).update(phone=change.new_phone, sms_opted_out=False)
    await _reset_conversation(change.id)
    await enqueue_sms(
        settings,
        to=change.old_phone,
        body=messages.phone_changed_old(mask_phone(change.new_phone)),
        template="phone_changed_old",
        customer_id=customer.id,
        respect_opt_out=False,
    )
    await enqueue_sms(
        settings,
        to=change.new_phone,
        body=messages.phone_changed_new(),
        template="phone_changed_new",
        customer_id=customer.id,
        respect_opt_out=False,
    )
    await audit.record(
        "phone_change.completed",
        actor=actor,
        customer_id=customer.id,
        phone_change_id=change.id,
        old_phone=mask_phone(change.old_phone),
        new_phone=mask_phone(change.new_phone),
    )


async def selfie_failed(settings: Settings, change_id: int, *, reason: str, actor: str) -> None:
    """The selfies ran out: the change fails and the customer is told on the old phone."""
    change = await get_phone_change(change_id)
    async with in_transaction():
        finished = await _finish(
            change, PhoneChangeStatus.FAILED, reason, only_from=(PhoneChangeStatus.AWAITING_SELFIE,)
        )
        if not finished:
            return
        await audit.record(
            "phone_change.failed",
            actor=actor,
            customer_id=change.customer_id,  # type: ignore[attr-defined]
            phone_change_id=change.id,
            reason=reason,
        )
        await enqueue_sms(
            settings,
            to=change.old_phone,
            body=messages.phone_change_failed(reason),
            template="phone_change_failed",
            customer_id=change.customer_id,  # type: ignore[attr-defined]
        )


async def cancel_phone_change(change_id: int, *, actor: str, reason: str = "cancelled") -> bool:
    change = await get_phone_change(change_id)
    async with in_transaction():
        finished = await _finish(change, PhoneChangeStatus.CANCELLED, reason)
        if finished:
            await audit.record(
                "phone_change.cancelled",
                actor=actor,
                customer_id=change.customer_id,  # type: ignore[attr-defined]
                phone_change_id=change.id,
                reason=reason,
            )
    return finished


async def _live(change_id: int) -> PhoneChange:
    change = await get_phone_change(change_id)
    if change.status in OPEN_STATUSES and change.expires_at <= utcnow():
        await expire_phone_change(change)
        await change.refresh_from_db()
    if change.status == PhoneChangeStatus.EXPIRED:
        raise Gone("this phone change has expired; start a new one", code="expired")
    if change.status not in OPEN_STATUSES:
        raise Conflict(f"this phone change is already {change.status.value}", code="finished")
    return change


async def _finish(
    change: PhoneChange,
    status: PhoneChangeStatus,
    reason: str,
    only_from: tuple[PhoneChangeStatus, ...] = OPEN_STATUSES,
) -> bool:
    # Codes first, then the request: the lock order of a code being checked.
    await otp.cancel_codes(code_subject(change))
    finished = await PhoneChange.filter(id=change.id, status__in=only_from).update(
        status=status, failure_reason=reason[:200]
    )
    if finished:
        await _reset_conversation(change.id)
        await change.refresh_from_db()
    return bool(finished)


class _NotExpired(Exception):
    """Rolls back an expiry that lost its race (the change moved on meanwhile)."""


async def _reset_conversation(change_id: int) -> None:
    await Conversation.filter(phone_change_id=change_id).update(
        state=ConversationState.IDLE, phone_change_id=None, expires_at=None
    )
