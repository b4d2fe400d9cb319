"""Capture links: one-time selfie URLs (SPEC §9).

A token is 16 random bytes (128 bits, 22 characters of URL-safe base64: unguessable,
and short enough to keep a link's SMS small); only its SHA-256 is stored, so a database
leak does not hand out live links. The SMS carries the short form of the link,
`<base>/c/<token>`, which shows the same page as `<base>/capture/<token>` (the page
posts to the latter). A link lives 10 minutes, allows a few selfies, and is bound to
exactly one request (a withdrawal, a phone change or an enrolment).

Rules a link follows:

- unknown token: 404; expired, or finished (after a success or a failure): 410;
- each selfie that reaches the face model uses one attempt, taken with one
  conditional UPDATE (`attempts_used < max_attempts`), so two selfies posted at the
  same moment cannot both use the last attempt;
- a photo the model cannot use (no face, several, damaged) uses no attempt: it
  proves nothing about who is holding the phone;
- a link finishes exactly once (`status = active` is the UPDATE's condition);
- a link whose request expires ends with it (`close_links`): 410 "expired".

What a selfie then does to its request is in `smsbank.faces.selfies`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import F

from smsbank.core import audit
from smsbank.core.clock import utcnow
from smsbank.core.errors import Gone, NotFound
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
from smsbank.texts.i18n import Text

TOKEN_BYTES = 16
SHORT_PATH = "/c/"
# secrets.token_urlsafe(16): 22 characters of the URL-safe base64 alphabet; 43 are the
# 32-byte tokens of links issued before tokens were shortened, live for their 10 minutes.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}|[A-Za-z0-9_-]{43}")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def capture_url(settings: Settings, token: str) -> str:
    """The link texted to the customer: the short form, `<base>/c/<token>`."""
    return f"{settings.base_url}{SHORT_PATH}{token}"


def link_deadline(settings: Settings) -> datetime:
    """When a capture link issued now stops working."""
    return utcnow() + timedelta(seconds=settings.capture_ttl_seconds)


async def issue_capture_link(
    settings: Settings,
    *,
    customer_id: int,
    purpose: CapturePurpose,
    withdrawal_id: int | None = None,
    phone_change_id: int | None = None,
) -> str:
    """Create a capture token for one request and return its full URL."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await CaptureToken.create(
        token_hash=hash_token(token),
        purpose=purpose,
        customer_id=customer_id,
        withdrawal_id=withdrawal_id,
        phone_change_id=phone_change_id,
        status=CaptureTokenStatus.ACTIVE,
        max_attempts=settings.capture_max_attempts,
        expires_at=link_deadline(settings),
    )
    return capture_url(settings, token)


async def issue_enrolment_link(settings: Settings, customer: Customer, *, actor: str) -> str:
    """A link on which the customer enrols their face (staff text it, `make run` prints it).

    Earlier enrolment links of the customer stop working: only the newest one is live.
    """
    await close_enrolment_links(customer.id)
    url = await issue_capture_link(
        settings, customer_id=customer.id, purpose=CapturePurpose.ENROLMENT
    )
    await audit.record("enrolment_link.issued", actor=actor, customer_id=customer.id)
    return url


async def close_enrolment_links(customer_id: int) -> None:
    """End the customer's live enrolment links (a newer one, or a face enrolled now)."""
    await CaptureToken.filter(
        customer_id=customer_id,
        purpose=CapturePurpose.ENROLMENT,
        status=CaptureTokenStatus.ACTIVE,
    ).update(status=CaptureTokenStatus.FAILED, finished_at=utcnow())


# -- resolving a link -------------------------------------------------------


def _link_error(error: NotFound | Gone) -> NotFound | Gone:
    # The page reads `status` whatever the HTTP code: a dead link shows "expired".
    error.extra.update(status="expired", message=error.message, attempts_left=0)
    return error


async def find_token(token: str) -> CaptureToken:
    """The token's row; 404 when there is none (or the text cannot be a token)."""
    record = None
    if _TOKEN_SHAPE.fullmatch(token):
        record = await CaptureToken.get_or_none(token_hash=hash_token(token))
    if record is None:
        raise _link_error(
            NotFound(
                Text("This link is not valid. Check that you opened the whole link from our text."),
                code="unknown_link",
            )
        )
    return record


def ensure_usable(record: CaptureToken) -> None:
    """410 for a finished or expired link."""
    if record.status != CaptureTokenStatus.ACTIVE:
        raise _link_error(
            Gone(
                Text("This link has already been used. Each link works only once."),
                code="link_used",
            )
        )
    if record.expires_at <= utcnow():
        raise _link_error(
            Gone(
                Text("This link has expired. Links work for 10 minutes; please ask for a new one."),
                code="link_expired",
            )
        )


async def usable_token(token: str) -> CaptureToken:
    record = await find_token(token)
    ensure_usable(record)
    return record


def attempts_left(record: CaptureToken) -> int:
    return max(record.max_attempts - record.attempts_used, 0)


async def take_attempt(record: CaptureToken) -> CaptureToken:
    """Use one attempt of a live link, atomically; 410 when none is left."""
    taken = await CaptureToken.filter(
        id=record.id,
        status=CaptureTokenStatus.ACTIVE,
        attempts_used__lt=record.max_attempts,
        expires_at__gt=utcnow(),
    ).update(attempts_used=F("attempts_used") + 1)
    if not taken:
        raise _link_error(Gone("This link has no selfie attempts left.", code="link_used"))
    return await CaptureToken.get(id=record.id)


async def finish_token(record: CaptureToken, status: CaptureTokenStatus) -> bool:
    """Close a live link (once); False when it was already closed."""
    closed = await CaptureToken.filter(id=record.id, status=CaptureTokenStatus.ACTIVE).update(
        status=status, finished_at=utcnow()
    )
    return bool(closed)


async def close_links(
    *, withdrawal_id: int | None = None, phone_change_id: int | None = None
) -> int:
    """End a request's live links now, because the request itself expired.

    Only their time is cut short: they then answer 410 "expired", the same as a link
    whose ten minutes ran out. Their status stays `active`: no selfie succeeded or
    failed on them.
    """
    now = utcnow()
    live = CaptureToken.filter(status=CaptureTokenStatus.ACTIVE, expires_at__gt=now)
    if withdrawal_id is not None:
        live = live.filter(withdrawal_id=withdrawal_id)
    elif phone_change_id is not None:
        live = live.filter(phone_change_id=phone_change_id)
    else:
        raise ValueError("close_links needs a withdrawal_id or a phone_change_id")
    return await live.update(expires_at=now)


# -- what the page shows ----------------------------------------------------


@dataclass(frozen=True)
class CaptureView:
    """The page's initial state: `ready`, or why it cannot take a selfie."""

    state: str  # ready | expired | used | invalid | closed | locked
    purpose: str | None = None
    title: str = ""
    detail: str = ""
    attempts_left: int = 0
    http_status: int = 200
    # `challenge`: the page films a head-turn challenge (SPEC §9a); `off`: one selfie.
    liveness: str = "challenge"


async def describe(settings: Settings, token: str) -> CaptureView:
    """What `GET /capture/<token>` shows, without using an attempt."""
    try:
        record = await find_token(token)
    except NotFound as exc:
        return CaptureView(
            "invalid", title=Text("Link not valid"), detail=exc.message, http_status=404
        )
    try:
        ensure_usable(record)
    except Gone as exc:
        state = "expired" if exc.code == "link_expired" else "used"
        title = Text("Link expired") if state == "expired" else Text("Link already used")
        return CaptureView(state, title=title, detail=exc.message, http_status=410)
    purpose = record.purpose.value
    customer = await Customer.get(id=record.customer_id)
    if record.purpose == CapturePurpose.ENROLMENT and customer.face_enrolled:
        return CaptureView(
            "closed",
            title=Text("Nothing to enrol"),
            detail=Text(
                "A face is already enrolled on this account. To change it, visit your branch."
            ),
            http_status=410,
        )
    if record.purpose == CapturePurpose.ENROLMENT and customer.status == CustomerStatus.ACTIVE:
        return CaptureView(
            "ready",
            purpose,
            title=Text("Enrol your face"),
            detail=(
                Text(
                    "Take a clear selfie: face the camera in good light, nobody else in the "
                    "picture. We keep a mathematical description of your face, not the photo."
                )
                if settings.liveness == "off"
                else Text(
                    "Look at the camera in good light, then turn your head as the arrows "
                    "show. We keep a mathematical description of your face, not the pictures."
                )
            ),
            attempts_left=attempts_left(record),
            liveness=settings.liveness,
        )
    if customer.status != CustomerStatus.ACTIVE:
        return CaptureView(
            "locked",
            purpose,
            title=Text("Account locked"),
            detail=Text("This account is locked. Please visit your branch."),
            http_status=403,
        )
    if customer.face_locked:
        return CaptureView(
            "locked",
            purpose,
            title=Text("Selfie checks locked"),
            detail=Text("Too many selfies did not match. Please visit your branch."),
            http_status=403,
        )
    if record.purpose == CapturePurpose.WITHDRAWAL:
        withdrawal = await Withdrawal.get(id=record.withdrawal_id)
        if withdrawal.status != WithdrawalStatus.AWAITING_SELFIE:
            return _closed(
                Text(
                    "This withdrawal was cancelled or has already ended, so there is nothing "
                    "to confirm. To withdraw money, text us again."
                )
            )
        amount = format_money(withdrawal.amount, customer.currency)
        title = Text("Confirm your withdrawal of {amount}", amount=amount)
    else:
        change = await PhoneChange.get(id=record.phone_change_id)
        if change.status != PhoneChangeStatus.AWAITING_SELFIE:
            return _closed(
                Text(
                    "This phone number change was cancelled or has already ended, so there "
                    "is nothing to confirm."
                )
            )
        title = Text("Confirm your new phone number")
    return CaptureView(
        "ready",
        purpose,
        title=title,
        detail=(
            Text("Take a selfie to confirm it is you. Only you should be in the picture.")
            if settings.liveness == "off"
            else Text(
                "Look at the camera, then turn your head as the arrows show, to confirm "
                "it is you. Only you should be in front of the camera."
            )
        ),
        attempts_left=attempts_left(record),
        liveness=settings.liveness,
    )


def _closed(why: Text) -> CaptureView:
    return CaptureView(
        "closed",
        title=Text("Nothing to confirm"),
        detail=why,
        http_status=410,
    )
