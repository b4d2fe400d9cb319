"""A selfie posted on a capture link, from upload to the request it approves.

Theory of operation
-------------------
    link live? --no--> 404 / 410 "expired"
       |
    request still waiting, face not locked? --no--> "failed" (link closed)
       |
    photo usable (one face)? --no--> 4xx "retry" (no attempt used)
       |
    take one attempt (conditional UPDATE) --none left--> 410 "expired"
       |
    enrolment link: store the embedding -----------------------------------> "enrolled"
    match:    close the link, then the request's `selfie_verified` --------> "verified"
    mismatch: count it (lockout); locked or last attempt: close the link
              and the request's `selfie_failed` -> "failed"; else ---------> "retry"

A head-turn challenge (SPEC §9a, `smsbank.faces.challenge_answers`) takes the same steps
once its frames are decided: `refuse_closed`, `enrolled`, `verified` and `fail_link`.

Closing the link and approving its request happen in one transaction whose first
statement is the link's conditional UPDATE: of two selfies posted at the same moment,
one approves the request and the other finds the link closed. The withdrawal module
guards the ledger a second time (its own conditional UPDATE and a unique key).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from tortoise.transactions import in_transaction

from smsbank.core.customers import get_customer
from smsbank.core.errors import BankError, Conflict, Gone
from smsbank.core.models import (
    CapturePurpose,
    CaptureToken,
    CaptureTokenStatus,
    Customer,
    CustomerStatus,
    PhoneChange,
    PhoneChangeStatus,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.core.money import format_money
from smsbank.core.settings import Settings
from smsbank.faces.checks import compare_with_enrolled, record_check
from smsbank.faces.enrolment import FaceAlreadyEnrolled, store_embedding
from smsbank.faces.service import FaceResult, FaceService, FaceUnavailable
from smsbank.requests import capture, phone_changes, withdrawals
from smsbank.texts.i18n import Localizable, Text, localize

log = logging.getLogger("smsbank.selfies")

ACTOR = "customer"
LOCKED_REASON = Text("Too many selfies did not match. Please visit your branch.")
ACCOUNT_LOCKED_REASON = Text("The account is locked. Please visit your branch.")
NO_MATCH_REASON = Text("The selfie did not match.")
# What ends a link after its last failed check (a selfie or a challenge).
NO_ATTEMPTS_LEFT = {
    CapturePurpose.WITHDRAWAL: Text(
        "There are no attempts left: the withdrawal is cancelled. We have sent you a text."
    ),
    CapturePurpose.PHONE_CHANGE: Text(
        "There are no attempts left: the number change is cancelled. We have sent you a text."
    ),
    CapturePurpose.ENROLMENT: Text(
        "There are no attempts left on this link. Ask your branch for a new one."
    ),
}
CHECKS_LOCKED = {
    CapturePurpose.WITHDRAWAL: Text(
        "Too many checks failed: face checks are now locked and the withdrawal is "
        "cancelled. Please visit your branch."
    ),
    CapturePurpose.PHONE_CHANGE: Text(
        "Too many checks failed: face checks are now locked and the number change is "
        "cancelled. Please visit your branch."
    ),
}


@dataclass(frozen=True)
class SelfieOutcome:
    """What `POST /capture/<token>` answers."""

    status: str  # verified | retry | failed | expired | enrolled
    message: str
    attempts_left: int
    http_status: int = 200
    distance: float | None = None
    reason: str | None = None  # why a head-turn challenge failed (SPEC §9a)

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status,
            "message": self.message,
            "attempts_left": self.attempts_left,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        return body


async def submit_selfie(
    settings: Settings, faces: FaceService | None, token: str, photo: bytes
) -> SelfieOutcome:
    """Check a selfie posted on a capture link and carry out what it approves.

    Raises BankError (4xx) for a dead link or an unusable photo; its `extra` holds the
    page's `status`, `message` and `attempts_left`.
    """
    record = await capture.usable_token(token)
    left = capture.attempts_left(record)
    customer = await get_customer(record.customer_id)
    refused = await refuse_closed(settings, record, customer)
    if refused is not None:
        return in_language(refused, customer.language)
    if faces is None:
        raise FaceUnavailable("the face check is not available right now; try again shortly")
    try:
        if record.purpose == CapturePurpose.ENROLMENT:
            result = await faces.analyse(photo)
        else:
            result = await compare_with_enrolled(settings, faces, customer, photo)
    except BankError as exc:
        if exc.status < 500:
            # Another photo can fix a bad photo; nothing the customer does fixes a
            # conflict (no face enrolled, enrolled with another model).
            status = "failed" if exc.status == 409 else "retry"
            exc.extra.update(status=status, message=exc.message, attempts_left=left)
        raise
    record = await capture.take_attempt(record)
    left = capture.attempts_left(record)
    if record.purpose == CapturePurpose.ENROLMENT:
        outcome = await enrolled(settings, record, result, faces.model_label)
    elif result.verified:
        outcome = await verified(settings, record, customer, result)
    else:
        outcome = await _mismatch(settings, record, customer, result, left)
    return in_language(outcome, customer.language)


def in_language(outcome: SelfieOutcome, language: str) -> SelfieOutcome:
    """The answer's message in the customer's language (a sentence decided as a `Text`)."""
    if isinstance(outcome.message, Localizable):
        return replace(outcome, message=localize(outcome.message, language))
    return outcome


async def refuse_closed(
    settings: Settings, record: CaptureToken, customer: Customer
) -> SelfieOutcome | None:
    """A "failed" answer (and the link closed) when nothing this link approves can happen any
    more: the request finished, the account or its face checks are locked, or the
    enrolment link has nothing to enrol. None when the link can take a face."""
    if record.purpose == CapturePurpose.ENROLMENT:
        refused = _enrolment_refused(customer)
        if refused is not None:
            await capture.finish_token(record, CaptureTokenStatus.FAILED)
        return refused
    closed = await _request_closed(record)
    if closed:
        await capture.finish_token(record, CaptureTokenStatus.FAILED)
        return SelfieOutcome("failed", closed, 0, http_status=409)
    if customer.status != CustomerStatus.ACTIVE:
        await fail_link(settings, record, ACCOUNT_LOCKED_REASON)
        return SelfieOutcome(
            "failed", Text("This account is locked. Please visit your branch."), 0, http_status=403
        )
    if customer.face_locked:
        await fail_link(settings, record, LOCKED_REASON)
        return SelfieOutcome(
            "failed",
            Text(
                "Selfie checks are locked after too many failed selfies. Please visit your branch."
            ),
            0,
            http_status=403,
        )
    return None


def _enrolment_refused(customer: Customer) -> SelfieOutcome | None:
    """An enrolment link enrols a first face only, on an active account: a face is
    changed at a branch, where staff see who is asking."""
    if customer.status != CustomerStatus.ACTIVE:
        return SelfieOutcome(
            "failed", Text("This account is locked. Please visit your branch."), 0, http_status=403
        )
    if customer.face_enrolled:
        return SelfieOutcome(
            "failed",
            Text("A face is already enrolled on this account. To change it, visit your branch."),
            0,
            http_status=409,
        )
    return None


async def enrolled(
    settings: Settings, record: CaptureToken, result: FaceResult, model: str
) -> SelfieOutcome:
    """Store the enrolment link's face (once) and close the link."""
    try:
        async with in_transaction():
            if not await capture.finish_token(record, CaptureTokenStatus.SUCCEEDED):
                raise _already_used()
            await store_embedding(
                settings,
                record.customer_id,
                result,
                model=model,
                actor=ACTOR,
                source="enrolment_link",
            )
    except FaceAlreadyEnrolled:  # enrolled at the counter while this selfie was checked
        await capture.finish_token(record, CaptureTokenStatus.FAILED)
        refused = _enrolment_refused(await get_customer(record.customer_id))
        assert refused is not None
        return refused
    return SelfieOutcome(
        "enrolled",
        Text("Your face is enrolled. From now on a selfie approves your withdrawals."),
        0,
    )


async def verified(
    settings: Settings,
    record: CaptureToken,
    customer: Customer,
    result: FaceResult,
    **details: Any,
) -> SelfieOutcome:
    """The enrolled customer is at the camera: close the link, approve its request."""
    distance = float(result.distance or 0.0)
    await record_check(
        settings,
        customer.id,
        result,
        purpose=record.purpose.value,
        actor=ACTOR,
        capture_token_id=record.id,
        **details,
    )
    try:
        async with in_transaction():
            if not await capture.finish_token(record, CaptureTokenStatus.SUCCEEDED):
                raise _already_used()
            approved, message = await _approve(settings, record, customer, distance)
    except Conflict as exc:
        # The request finished meanwhile (ABORT, expiry, the other tab): so does the link.
        await capture.finish_token(record, CaptureTokenStatus.FAILED)
        log.info("selfie matched a finished request", extra={"reason": exc.code})
        return SelfieOutcome(
            "failed",
            Text("This request was cancelled or has already ended, so nothing was changed."),
            0,
            http_status=409,
        )
    status = "verified" if approved else "failed"
    return SelfieOutcome(status, message, 0, distance=distance)


async def _approve(
    settings: Settings, record: CaptureToken, customer: Customer, distance: float
) -> tuple[bool, str]:
    """Hand the match to the request's own module: (carried out?, message for the page)."""
    if record.purpose == CapturePurpose.WITHDRAWAL:
        outcome = await withdrawals.selfie_verified(
            settings,
            _bound_id(record.withdrawal_id),
            distance=distance,
            actor=ACTOR,
        )
        amount = format_money(outcome.withdrawal.amount, customer.currency)
        if outcome.entry is None:
            return False, Text(
                "It's you, but the withdrawal could not be made: {reason}", reason=outcome.failure
            )
        return True, Text(
            "Verified. Your withdrawal of {amount} is approved (reference {reference}). "
            "We have sent you a text.",
            amount=amount,
            reference=outcome.entry.reference,
        )
    change = await phone_changes.selfie_verified(
        settings,
        _bound_id(record.phone_change_id),
        distance=distance,
        actor=ACTOR,
    )
    if change.status != PhoneChangeStatus.COMPLETED:
        return False, Text(
            "It's you, but the number could not be changed: {reason}", reason=change.failure_reason
        )
    return True, Text("Verified. Your phone number is changed; both numbers get a text.")


async def _mismatch(
    settings: Settings,
    record: CaptureToken,
    customer: Customer,
    result: FaceResult,
    left: int,
) -> SelfieOutcome:
    distance = result.distance
    check = await record_check(
        settings,
        customer.id,
        result,
        purpose=record.purpose.value,
        actor=ACTOR,
        capture_token_id=record.id,
        attempts_left=left,
    )
    if check.locked:
        await fail_link(settings, record, LOCKED_REASON)
        return SelfieOutcome("failed", CHECKS_LOCKED[record.purpose], 0, distance=distance)
    if left == 0:
        await fail_link(settings, record, NO_MATCH_REASON)
        return SelfieOutcome("failed", NO_ATTEMPTS_LEFT[record.purpose], 0, distance=distance)
    # The page says how many attempts are left, once, from `attempts_left`.
    return SelfieOutcome(
        "retry",
        Text(
            "That selfie did not match your enrolled face. Face the camera in good light "
            "and try again."
        ),
        left,
        distance=distance,
    )


async def fail_link(settings: Settings, record: CaptureToken, reason: str) -> None:
    """Close the link and fail its request (texting the customer), once."""
    if not await capture.finish_token(record, CaptureTokenStatus.FAILED):
        return
    if record.purpose == CapturePurpose.WITHDRAWAL:
        await withdrawals.selfie_failed(
            settings,
            _bound_id(record.withdrawal_id),
            reason=reason,
            actor=ACTOR,
        )
    elif record.purpose == CapturePurpose.PHONE_CHANGE:
        await phone_changes.selfie_failed(
            settings,
            _bound_id(record.phone_change_id),
            reason=reason,
            actor=ACTOR,
        )


async def _request_closed(record: CaptureToken) -> str | None:
    """Why the link's request can no longer take a selfie, or None when it can."""
    if record.purpose == CapturePurpose.WITHDRAWAL:
        withdrawal = await Withdrawal.get(id=record.withdrawal_id)
        if withdrawal.status != WithdrawalStatus.AWAITING_SELFIE:
            return Text(
                "This withdrawal was cancelled or has already ended, so there is nothing "
                "to confirm. To withdraw money, text us again."
            )
    elif record.purpose == CapturePurpose.PHONE_CHANGE:
        change = await PhoneChange.get(id=record.phone_change_id)
        if change.status != PhoneChangeStatus.AWAITING_SELFIE:
            return Text(
                "This phone number change was cancelled or has already ended, so there "
                "is nothing to confirm."
            )
    return None


def _already_used() -> Gone:
    error = Gone(
        Text("This link has already been used. Each link works only once."), code="link_used"
    )
    error.extra.update(status="expired", message=error.message, attempts_left=0)
    return error


def _bound_id(request_id: int | None) -> int:
    """The id of the request a link is bound to: a withdrawal's or a number change's link
    always carries its request's (the column is nullable only because a link has one of
    three purposes)."""
    if request_id is None:
        raise RuntimeError("a capture link without the request it was issued for")
    return request_id
