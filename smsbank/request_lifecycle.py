"""The life of a request confirmed by a one-time code: what withdrawals and phone changes share.

A withdrawal and a phone-number change differ in what they start with and what they do
at the end (pay out, move the account to a new number), but in between they live and
die the same way: a request is looked up live or answers 410 (expired) / 409
(finished); it ends once, by a conditional UPDATE that also cancels its codes and frees
the conversation row; it is expired by whoever meets it first past its time (a reader
or the sweep); ABORT cancels it; running out of selfies fails it; its code is checked
in one transaction with the step it unlocks, and wrong codes count against it until
it is cancelled. Those steps live here once, so the two machines cannot drift apart.

A `RequestKind` names what a step works on: the table, the statuses, the audit and
column names, the texts. What differs between the two (what an accepted code does,
whom a lock-out tells) stays in `withdrawals` and `phone_changes`, which pass it in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from smsbank import audit, code_lock, messages, otp
from smsbank.capture import close_links, issue_capture_link, link_deadline
from smsbank.clock import utcnow
from smsbank.customers import MAX_ID
from smsbank.errors import Conflict, Gone, NotFound
from smsbank.i18n import N_, Text
from smsbank.models import (
    CapturePurpose,
    Channel,
    CodePurpose,
    ConversationState,
    Customer,
    CustomerStatus,
    PhoneChange,
    Withdrawal,
)
from smsbank.outbox import enqueue_sms
from smsbank.settings import Settings
from smsbank.sms import conversation_row

R = TypeVar("R", Withdrawal, PhoneChange)

# Why a customer cannot start either kind of request.
ACCOUNT_LOCKED = Text("This account is locked. Please visit your branch.")
FACE_LOCKED = Text("Selfie checks are locked after too many failures. Please visit your branch.")


def can_try_again(customer: Customer) -> bool:
    """Whether a failed request's customer may start another (else their branch helps)."""
    return customer.status == CustomerStatus.ACTIVE and not customer.face_locked


@dataclass(frozen=True)
class RequestKind(Generic[R]):
    """What tells one kind of request from the other in the steps they share."""

    model: type[R]
    # "withdrawal": audit events "<name>.expired", "<name>.cancelled", "<name>.failed";
    # the purpose in "code.sent"; the error code "<name>_not_found".
    name: str
    # "withdrawal_id": the request's column on conversations and capture links, and
    # its key in audit details.
    id_field: str
    code_purpose: CodePurpose
    code_subject: Callable[[R], str]
    capture_purpose: CapturePurpose
    selfie_state: ConversationState  # the conversation's state while a capture link is out
    expiry_details: Callable[[R], dict[str, str]]  # what the expiry's audit event says of it
    open_statuses: tuple[StrEnum, ...]
    waiting_statuses: tuple[StrEnum, ...]  # the open ones the expiry sweep ends
    awaiting_code: StrEnum
    cancelled: StrEnum
    failed: StrEnum
    expired: StrEnum
    # What the customer or staff are told: msgids (`N_`), said as `Text`.
    not_found: str
    gone: str
    finished: str  # "{status}" takes the status's name
    code_used: str
    not_awaiting_code: str
    locked_out: str

    def key(self, request_id: int) -> dict[str, Any]:
        """The request as audit details, conversations and capture links name it."""
        return {self.id_field: request_id}


# Why a request the customer cancelled by texting ABORT ended (its `failure_reason`).
CANCELLED_BY_CUSTOMER = "cancelled by the customer (ABORT)"


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    attempts_left: int
    message: str  # for the customer, when the code was not accepted
    told: bool = False  # the customer was texted why (a lock): no reply needed


async def get(kind: RequestKind[R], request_id: int) -> R:
    if not 1 <= request_id <= MAX_ID:
        raise NotFound(Text(kind.not_found), code=f"{kind.name}_not_found")
    request = await kind.model.get_or_none(id=request_id)
    if request is None:
        raise NotFound(Text(kind.not_found), code=f"{kind.name}_not_found")
    return request


async def open_for(kind: RequestKind[R], customer_id: int) -> R | None:
    """The customer's live request, expiring it first if its time ran out."""
    request = (
        await kind.model.filter(customer_id=customer_id, status__in=kind.open_statuses)
        .order_by("-id")
        .first()
    )
    if request is not None and request.expires_at <= utcnow():
        await expire(kind, request)
        return None
    return request


async def live(kind: RequestKind[R], request_id: int) -> R:
    """An open request, or 409 (finished) / 410 (expired)."""
    request = await get(kind, request_id)
    if request.status in kind.open_statuses and request.expires_at <= utcnow():
        await expire(kind, request)
        await request.refresh_from_db()
    if request.status == kind.expired:
        raise Gone(Text(kind.gone), code="expired")
    if request.status not in kind.open_statuses:
        status = Text(STATUS_NAMES.get(request.status.value, request.status.value))
        raise Conflict(Text(kind.finished, status=status), code="finished")
    return request


# How a finished request's status is named to the person told it has ended.
STATUS_NAMES = {
    "completed": N_("completed"),
    "cancelled": N_("cancelled"),
    "failed": N_("failed"),
    "approved": N_("approved"),
}


async def awaiting_code(kind: RequestKind[R], request_id: int) -> R:
    """A live request still waiting for its code, or 409 `code_used` (410 / 409 as
    `live`)."""
    request = await live(kind, request_id)
    if request.status != kind.awaiting_code:
        raise Conflict(Text(kind.code_used), code="code_used")
    return request


async def expire(
    kind: RequestKind[R], request: R, *, only_from: tuple[StrEnum, ...] | None = None
) -> bool:
    """End a request whose time ran out, once; True when this call expired it.

    Readers (`open_for`, `live`) and the sweep (`expire_overdue`) all come here. Its
    codes are cancelled, its live capture links closed (they answer 410 "expired"), the
    conversation row freed, and the expiry audited. Nobody is texted: a request left
    alone ends silently, and the customer's next text starts afresh.

    Codes and links are touched before the request's own conditional UPDATE, the order
    in which a code (code, then request) and a selfie (link, then request) take their
    locks, so on PostgreSQL an expiry racing either waits for it instead of deadlocking.
    When the request is no longer in `only_from` (the code or selfie won), everything
    here is rolled back.
    """
    if request.expires_at > utcnow():
        return False
    try:
        async with in_transaction():
            await otp.cancel_codes(kind.code_subject(request))
            await close_links(**kind.key(request.id))
            if not await finish(
                kind, request, kind.expired, "the request expired", only_from=only_from
            ):
                raise _NotExpired
            await _audit(
                kind,
                request,
                f"{kind.name}.expired",
                actor=audit.SYSTEM,
                **kind.expiry_details(request),
                channel=request.channel.value,
            )
    except _NotExpired:
        return False
    return True


class _NotExpired(Exception):
    """Rolls back an expiry that lost its race (the request moved on meanwhile)."""


async def expire_overdue(kind: RequestKind[R], limit: int) -> int:
    """Expire up to `limit` requests still waiting on the customer past their time.

    Returns how many this call expired. Any number of callers may run it at once: each
    request is expired by exactly one.
    """
    overdue = (
        await kind.model.filter(status__in=kind.waiting_statuses, expires_at__lte=utcnow())
        .order_by("expires_at", "id")
        .limit(limit)
    )
    expired = 0
    for request in overdue:
        if await expire(kind, request, only_from=kind.waiting_statuses):
            expired += 1
    return expired


async def finish(
    kind: RequestKind[R],
    request: R,
    status: StrEnum,
    reason: str,
    *,
    only_from: tuple[StrEnum, ...] | None = None,
) -> bool:
    """Move an open request to a final state (once) and free the conversation."""
    # Codes first, then the request: the lock order of a code being checked (see
    # `expire`). A request that is no longer open has no live code anyway.
    await otp.cancel_codes(kind.code_subject(request))
    finished = await kind.model.filter(
        id=request.id, status__in=kind.open_statuses if only_from is None else only_from
    ).update(status=status, failure_reason=reason[:200])
    if finished:
        await reset_conversation(kind, request.id)
        await request.refresh_from_db()
    return bool(finished)


async def reset_conversation(kind: RequestKind[R], request_id: int) -> None:
    await conversation_row.release(kind.id_field, request_id)


async def point_conversation(kind: RequestKind[R], request: R, state: ConversationState) -> None:
    """Inside the caller's transaction (holding the customer's number's lock, see
    `sql.serialize_senders`): point the customer's conversation at `request`, started
    outside it, so that what the customer texts next acts on it (an ABORT)."""
    await conversation_row.point_at(
        request.customer_id,
        kind.id_field,
        request.id,
        state,
        request.expires_at,
    )


async def cancel(kind: RequestKind[R], request_id: int, *, actor: str, reason: str) -> bool:
    """ABORT: cancel a request that is not finished. True when something was cancelled."""
    request = await get(kind, request_id)
    async with in_transaction():
        finished = await finish(kind, request, kind.cancelled, reason)
        if finished:
            await _audit(kind, request, f"{kind.name}.cancelled", actor=actor, reason=reason)
    return finished


async def fail(
    kind: RequestKind[R], request: R, reason: str, *, actor: str, only_from: tuple[StrEnum, ...]
) -> bool:
    """Inside the caller's transaction: fail the request (once) and audit it.

    True when this call failed it; the caller then tells the customer.
    """
    if not await finish(kind, request, kind.failed, reason, only_from=only_from):
        return False
    await _audit(kind, request, f"{kind.name}.failed", actor=actor, reason=reason)
    return True


async def replace_open(kind: RequestKind[R], customer_id: int) -> None:
    """Inside the caller's transaction: end the customer's open requests of this kind.

    One request at a time: a new one replaces the previous one.
    """
    for previous in await kind.model.filter(customer_id=customer_id, status__in=kind.open_statuses):
        await finish(kind, previous, kind.cancelled, "replaced by a new request")


async def issue_code(kind: RequestKind[R], settings: Settings, request: R) -> str:
    """A new code bound to this request (see `RequestKind.code_subject`)."""
    return await otp.issue_code(
        settings,
        customer_id=request.customer_id,
        purpose=kind.code_purpose,
        subject=kind.code_subject(request),
    )


async def record_code_sent(kind: RequestKind[R], request: R, *, actor: str) -> None:
    await _audit(kind, request, "code.sent", actor=actor, purpose=kind.name)


async def issue_new_code(
    kind: RequestKind[R], settings: Settings, request_id: int, *, actor: str
) -> tuple[R, str]:
    """A fresh code for a request still waiting for one: (the request, the code).

    The request's failure count carries over: a new code is not a new set of guesses.
    """
    request = await live(kind, request_id)
    if request.status != kind.awaiting_code:
        raise Conflict(Text(kind.not_awaiting_code), code="not_awaiting_code")
    code = await issue_code(kind, settings, request)
    await record_code_sent(kind, request, actor=actor)
    return request, code


async def check_code(
    kind: RequestKind[R],
    settings: Settings,
    request: R,
    customer: Customer,
    code: str,
    *,
    actor: str,
    on_accepted: Callable[[Settings, R, Customer, str], Awaitable[None]],
    on_locked_out: Callable[[Settings, R, Customer], Awaitable[None]] | None = None,
) -> CodeCheck:
    """Check the customer's code for `request`; when right, `on_accepted` moves it on.

    `on_accepted(settings, request, customer, actor)` runs in the transaction that uses
    the code: should it fail (the database, a crash), the customer's code still works on
    the next try. A wrong or expired code counts against the request; the last one
    cancels it, and `on_locked_out(settings, request, customer)` runs in that
    transaction. Every wrong code also counts toward the customer's daily cap
    (`smsbank.code_lock`): reaching it locks codes by SMS and cancels an SMS request.
    """
    code_lock.ensure_unlocked(customer, request.channel)
    async with in_transaction():
        check = await otp.check_code(
            settings,
            customer_id=customer.id,
            purpose=kind.code_purpose,
            subject=kind.code_subject(request),
            code=code,
        )
        if check.ok:
            await on_accepted(settings, request, customer, actor)
    if check.ok:
        await request.refresh_from_db()
        return CodeCheck(True, settings.otp_max_attempts - request.code_failures, "")

    if check.reason == "no_code":
        await request.refresh_from_db()
        if request.code_verified_at is not None:
            # The right code, presented twice at the same moment: the other one won.
            # Not a wrong try; the same answer as a code sent after acceptance.
            raise Conflict(Text(kind.code_used), code="code_used")
    return await _count_wrong_code(
        kind, settings, request, customer, check.reason, actor, on_locked_out
    )


async def _count_wrong_code(
    kind: RequestKind[R],
    settings: Settings,
    request: R,
    customer: Customer,
    reason: str,
    actor: str,
    on_locked_out: Callable[[Settings, R, Customer], Awaitable[None]] | None,
) -> CodeCheck:
    async with in_transaction():
        await kind.model.filter(id=request.id).update(code_failures=F("code_failures") + 1)
        await request.refresh_from_db()
        attempts_left = max(settings.otp_max_attempts - request.code_failures, 0)
        await audit.record(
            "code.checked",
            actor=actor,
            customer_id=customer.id,
            **kind.key(request.id),
            result=reason,
            attempts_left=attempts_left,
        )
        locked = await code_lock.lock_if_over(settings, customer, actor=actor)
        if locked and request.channel == Channel.SMS:
            # Texted why already (`lock_if_over`); the request ends with no more tries.
            await finish(kind, request, kind.cancelled, "too many wrong codes today")
            attempts_left = 0
            message = messages.codes_locked_refusal()
        elif attempts_left == 0:
            await finish(kind, request, kind.cancelled, "too many wrong codes")
            if on_locked_out is not None:
                await on_locked_out(settings, request, customer)
            message = Text(kind.locked_out)
        elif reason == "expired":
            message = Text(
                "That code has expired. Text CALL for a new code by phone, or start again."
            )
        else:
            message = Text.counted(
                "That code is not right. You have {count} try left.",
                "That code is not right. You have {count} tries left.",
                attempts_left,
            )
    await request.refresh_from_db()
    return CodeCheck(False, attempts_left, message, told=locked and request.channel == Channel.SMS)


async def accept_code(
    kind: RequestKind[R], request: R, next_status: StrEnum, *, customer_id: int, actor: str
) -> None:
    """Inside the code's transaction: move the request on from awaiting its code, once.

    409 `code_used` when another caller already did (the transaction rolls back).
    """
    moved = await kind.model.filter(id=request.id, status=kind.awaiting_code).update(
        status=next_status, code_verified_at=utcnow()
    )
    if not moved:
        raise Conflict(Text(kind.code_used), code="code_used")
    await audit.record(
        "code.checked",
        actor=actor,
        customer_id=customer_id,
        **kind.key(request.id),
        result="ok",
    )


async def send_capture_link(
    kind: RequestKind[R],
    settings: Settings,
    request: R,
    customer: Customer,
    *,
    text: Callable[[str], str],
    template: str,
) -> None:
    """Inside the code's transaction: text the customer a selfie link for `request`.

    `text(url)` is the SMS body.
    """
    url = await issue_capture_link(
        settings,
        customer_id=customer.id,
        purpose=kind.capture_purpose,
        **kind.key(request.id),
    )
    # The SMS says the link is valid 10 minutes: the request lives at least as long, or
    # a selfie taken in time would meet an expired request.
    until = link_deadline(settings)
    await enqueue_sms(
        settings,
        to=customer.phone,
        body=text(url),
        template=template,
        customer_id=customer.id,
        respect_opt_out=False,
        secret_expires_at=until,
    )
    await kind.model.filter(id=request.id, expires_at__lt=until).update(expires_at=until)
    await conversation_row.await_selfie(kind.id_field, request.id, kind.selfie_state, until)


async def _audit(
    kind: RequestKind[R], request: R, action: str, *, actor: str, **details: Any
) -> None:
    """An audit event about `request`, naming its customer and its key (`kind.key`)."""
    await audit.record(
        action,
        actor=actor,
        customer_id=request.customer_id,
        **kind.key(request.id),
        **details,
    )
