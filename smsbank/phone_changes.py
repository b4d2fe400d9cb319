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
completes it; but someone with a forged ID could stand there instead, so the old
phone is told a change was started at a branch, and its ABORT cancels the change: the
customer's conversation is pointed at it (state `branch_phone_change`). Both numbers
are told when the number changes, so a SIM-swap victim hears about it on the phone
they still have, and withdrawals then wait out the cooling-off (`smsbank.cooling_off`).

Lookup, expiry, cancelling, failing and the counting of wrong codes are the steps a
change shares with a withdrawal: they live in `request_lifecycle`, told by `KIND`
that this is a phone change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from smsbank import (
    audit,
    code_lock,
    cooling_off,
    destinations,
    messages,
    otp,
    request_lifecycle,
    sql,
    withdrawals,
)
from smsbank.clock import utcnow
from smsbank.customers import get_customer
from smsbank.errors import Conflict, Forbidden, NotFound, ValidationFailed
from smsbank.i18n import N_, Text
from smsbank.models import (
    CapturePurpose,
    Channel,
    CodePurpose,
    ConversationState,
    Customer,
    CustomerStatus,
    PhoneChange,
    PhoneChangeStatus,
    Withdrawal,
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
    told: bool = False  # the customer was texted why (a lock)

    @property
    def request(self) -> PhoneChange:
        return self.change


def code_subject(change: PhoneChange) -> str:
    """What a phone-change code approves: this request, to this exact number."""
    return f"phone_change:{change.id}:{change.new_phone}"


KIND = request_lifecycle.RequestKind(
    model=PhoneChange,
    name="phone_change",
    id_field="phone_change_id",
    code_purpose=CodePurpose.PHONE_CHANGE,
    code_subject=code_subject,
    capture_purpose=CapturePurpose.PHONE_CHANGE,
    selfie_state=ConversationState.AWAITING_PHONE_SELFIE,
    expiry_details=lambda change: {"new_phone": mask_phone(change.new_phone)},
    open_statuses=OPEN_STATUSES,
    waiting_statuses=OPEN_STATUSES,
    awaiting_code=PhoneChangeStatus.AWAITING_CODE,
    cancelled=PhoneChangeStatus.CANCELLED,
    failed=PhoneChangeStatus.FAILED,
    expired=PhoneChangeStatus.EXPIRED,
    not_found=N_("phone change not found"),
    gone=N_("this phone change has expired; start a new one"),
    finished=N_("this phone change has already ended ({status})"),
    code_used=N_("the code for this change was already accepted"),
    not_awaiting_code=N_("this change is not waiting for a code"),
    locked_out=N_(
        "Too many wrong codes: the number change is cancelled. To try again, text PHONE "
        "and the new number."
    ),
)
NUMBER_TAKEN_MEANWHILE = Text("That number now belongs to another customer.")


async def get_phone_change(change_id: int) -> PhoneChange:
    return await request_lifecycle.get(KIND, change_id)


async def open_phone_change_for(customer_id: int) -> PhoneChange | None:
    return await request_lifecycle.open_for(KIND, customer_id)


async def expire_phone_change(change: PhoneChange) -> bool:
    """End a change whose time ran out, once; True when this call expired it.

    As for withdrawals (see `request_lifecycle.expire`, also for the lock order): codes
    cancelled, live capture links closed, conversation row freed, audited, and no SMS
    to either number.
    """
    return await request_lifecycle.expire(KIND, change)


async def expire_overdue(limit: int) -> int:
    """Expire up to `limit` open changes past their time; returns how many this call did."""
    return await request_lifecycle.expire_overdue(KIND, limit)


async def start_phone_change(
    settings: Settings, customer_id: int, new_phone: str, *, channel: Channel, actor: str
) -> PhoneChange:
    """Create the request, text a code to the new number and tell the old one."""
    customer = await get_customer(customer_id)
    if customer.status != CustomerStatus.ACTIVE:
        raise Forbidden(request_lifecycle.ACCOUNT_LOCKED, code="account_locked")
    if new_phone == customer.phone:
        raise ValidationFailed(Text("That is already your number."), code="same_phone")
    if await Customer.exists(phone=new_phone):
        raise Conflict(
            Text("That number belongs to another customer. Check the number and try again."),
            code="phone_taken",
        )
    # The code is texted there: never to a country the bank does not serve, nor to a
    # premium-rate number (SMS pumping).
    destinations.ensure_allowed(settings, new_phone)
    if channel == Channel.SMS and not customer.face_enrolled:
        raise Conflict(
            Text("Changing your number by text needs a face enrolled. Please visit your branch."),
            code="face_not_enrolled",
        )
    code_lock.ensure_unlocked(customer, channel)
    if channel == Channel.SMS and customer.face_locked:
        raise Forbidden(request_lifecycle.FACE_LOCKED, code="face_locked")
    if channel == Channel.BRANCH:
        await _no_withdrawal_by_text_waiting(customer.id)
    now = utcnow()
    async with in_transaction() as connection:
        # The customer's own texts are handled under this lock too: none of them can
        # overwrite the conversation pointed at the change below meanwhile.
        await sql.serialize_senders(connection, [customer.phone])
        await request_lifecycle.replace_open(KIND, customer.id)
        change = await PhoneChange.create(
            customer_id=customer.id,
            old_phone=customer.phone,
            new_phone=new_phone,
            status=PhoneChangeStatus.AWAITING_CODE,
            channel=channel,
            expires_at=now + timedelta(seconds=settings.conversation_timeout_seconds),
        )
        code = await request_lifecycle.issue_code(KIND, settings, change)
        at_branch = channel == Channel.BRANCH
        language, account = customer.language, customer.account_number
        ttl = settings.otp_ttl_seconds
        await enqueue_sms(
            settings,
            to=new_phone,
            body=messages.phone_change_code_at_branch(language, code, account, ttl)
            if at_branch
            else messages.phone_change_code(language, code, account, ttl),
            template="phone_change_code",
            customer_id=customer.id,
            respect_opt_out=False,
            secret_expires_at=otp.code_deadline(settings),
        )
        await enqueue_sms(
            settings,
            to=customer.phone,
            body=messages.phone_change_started_at_branch(language, new_phone)
            if at_branch
            else messages.phone_change_code_sent(language, new_phone),
            template="phone_change_started_at_branch" if at_branch else "phone_change_code_sent",
            customer_id=customer.id,
            respect_opt_out=False,
        )
        if at_branch:
            await request_lifecycle.point_conversation(
                KIND, change, ConversationState.BRANCH_PHONE_CHANGE
            )
        await audit.record(
            "phone_change.started",
            actor=actor,
            customer_id=customer.id,
            phone_change_id=change.id,
            new_phone=mask_phone(new_phone),
            channel=channel.value,
        )
        await request_lifecycle.record_code_sent(KIND, change, actor=actor)
    return change


async def _no_withdrawal_by_text_waiting(customer_id: int) -> None:
    """One request at a time, as by SMS: a withdrawal the customer started by text
    keeps their conversation until it ends (their ABORT must reach this change)."""
    waiting = await Withdrawal.filter(
        customer_id=customer_id,
        channel=Channel.SMS,
        status__in=withdrawals.OPEN_STATUSES,
        expires_at__gt=utcnow(),
    ).exists()
    if waiting:
        raise Conflict(
            "the customer has a withdrawal by text waiting: it must be finished, cancelled "
            "(ABORT from their phone) or expire before the number can change",
            code="withdrawal_pending",
        )


async def branch_change_awaiting_code(customer_id: int, new_phone: str) -> PhoneChange:
    """The branch change to `new_phone` waiting for its code (`/update_mobile`).

    404 when there is none; 409 `cancelled_by_customer` when the customer's registered
    phone stopped it (ABORT): staff should know the phone's owner said no.
    """
    to_that_number = PhoneChange.filter(
        customer_id=customer_id, new_phone=new_phone, channel=Channel.BRANCH
    )
    latest = await to_that_number.order_by("-id").first()
    if latest is not None and latest.status == PhoneChangeStatus.AWAITING_CODE:
        return latest
    if latest is not None and latest.failure_reason == request_lifecycle.CANCELLED_BY_CUSTOMER:
        raise Conflict(
            "the customer cancelled this number change from their registered phone (ABORT)",
            code="cancelled_by_customer",
        )
    raise NotFound(
        "no number change to that number is waiting for a code; "
        "request one with /request_update_otp",
        code="phone_change_not_found",
    )


async def resend_code(settings: Settings, change_id: int, *, actor: str) -> tuple[str, str]:
    """A fresh code for the pending change; returns (code, the new number to call)."""
    change, code = await request_lifecycle.issue_new_code(KIND, settings, change_id, actor=actor)
    return code, change.new_phone


async def verify_code(
    settings: Settings, change_id: int, code: str, *, actor: str
) -> PhoneCodeOutcome:
    """Check the code; SMS requests move on to the selfie, branch requests complete."""
    change = await request_lifecycle.awaiting_code(KIND, change_id)
    customer = await get_customer(change.customer_id)
    # Too many wrong codes only cancel the change: no SMS, to either number.
    check = await request_lifecycle.check_code(
        KIND, settings, change, customer, code, actor=actor, on_accepted=_code_accepted
    )
    return PhoneCodeOutcome(check.ok, check.attempts_left, change, check.message, check.told)


async def _code_accepted(
    settings: Settings, change: PhoneChange, customer: Customer, actor: str
) -> None:
    """Inside the code's transaction: on to the selfie, or at a branch the change is done.

    Branch staff have the customer in front of them, so the code alone completes it.
    """
    next_status = (
        PhoneChangeStatus.AWAITING_SELFIE
        if change.channel == Channel.SMS
        else PhoneChangeStatus.AWAITING_CODE  # `_complete` below moves it to completed
    )
    await request_lifecycle.accept_code(
        KIND, change, next_status, customer_id=customer.id, actor=actor
    )
    if change.channel == Channel.SMS:
        await request_lifecycle.send_capture_link(
            KIND,
            settings,
            change,
            customer,
            text=lambda url: messages.phone_change_capture_link(
                customer.language, url, settings.capture_ttl_seconds
            ),
            template="phone_change_capture_link",
        )
    else:
        await _complete(settings, change, customer, actor)


async def selfie_verified(
    settings: Settings, change_id: int, *, distance: float, actor: str
) -> PhoneChange:
    """The selfie matched: move the account to the new number (once) and tell both."""
    change = await get_phone_change(change_id)
    customer = await get_customer(change.customer_id)
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
        await selfie_failed(settings, change.id, reason=NUMBER_TAKEN_MEANWHILE, actor=actor)
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
    await request_lifecycle.reset_conversation(KIND, change.id)
    held_until = await cooling_off.start(settings, customer.id)
    await enqueue_sms(
        settings,
        to=change.old_phone,
        body=messages.phone_changed_old(
            customer.language, change.new_phone, settings.cooling_off_hours
        ),
        template="phone_changed_old",
        customer_id=customer.id,
        respect_opt_out=False,
    )
    await enqueue_sms(
        settings,
        to=change.new_phone,
        body=messages.phone_changed_new(customer.language, settings.cooling_off_hours),
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
        channel=change.channel.value,
        withdrawals_held_until=held_until.isoformat() if held_until else None,
    )


async def selfie_failed(settings: Settings, change_id: int, *, reason: str, actor: str) -> None:
    """The selfies ran out: the change fails and the customer is told on the old phone."""
    change = await get_phone_change(change_id)
    customer = await get_customer(change.customer_id)
    async with in_transaction():
        failed = await request_lifecycle.fail(
            KIND, change, reason, actor=actor, only_from=(PhoneChangeStatus.AWAITING_SELFIE,)
        )
        if failed:
            await enqueue_sms(
                settings,
                to=change.old_phone,
                body=messages.phone_change_failed(
                    customer.language,
                    reason,
                    messages.RETRY_PHONE_CHANGE
                    if request_lifecycle.can_try_again(customer)
                    else None,
                ),
                template="phone_change_failed",
                customer_id=change.customer_id,
            )


async def cancel_phone_change(change_id: int, *, actor: str, reason: str = "cancelled") -> bool:
    return await request_lifecycle.cancel(KIND, change_id, actor=actor, reason=reason)
