"""One-time codes (SPEC §5).

Theory of operation
-------------------
A code is 6 digits from `secrets`. Only a keyed hash is stored:
HMAC-SHA256(secret_key, purpose | subject | code). Because the purpose and subject
(e.g. "withdrawal:12:2000", withdrawal 12 for $20.00) are inside the MAC, a code
issued for one request can never verify another, even if someone could edit the
row's subject column.

A code lives 5 minutes and is used at most once (a conditional UPDATE on `used_at`
makes that hold under concurrency). Wrong guesses are counted on the code and, by the
caller, on the request it approves: after 5 the request is cancelled, and asking for
a fresh code does not reset that count. Sending is limited per customer (5 codes per
10 minutes). Comparison is constant-time. Codes never reach logs or audit details.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import F
from tortoise.queryset import QuerySet

from smsbank.core.clock import utcnow
from smsbank.core.errors import TooManyRequests
from smsbank.core.models import CodePurpose, OneTimeCode
from smsbank.core.settings import Settings
from smsbank.ops import metrics
from smsbank.texts.i18n import Text

CODE_RE = re.compile(r"^[0-9]{6}$", re.ASCII)


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    reason: str  # "ok" | "wrong" | "expired" | "no_code"


def is_code_shaped(text: str) -> bool:
    return bool(CODE_RE.match(text))


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_deadline(settings: Settings) -> datetime:
    """When a code issued now stops working."""
    return utcnow() + timedelta(seconds=settings.otp_ttl_seconds)


def code_hash(settings: Settings, purpose: CodePurpose, subject: str, code: str) -> str:
    message = f"{purpose.value}|{subject}|{code}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


async def issue_code(
    settings: Settings, *, customer_id: int, purpose: CodePurpose, subject: str
) -> str:
    """Create a code for `subject`, superseding earlier ones; returns the plain code.

    Raises TooManyRequests when the customer already had `otp_send_limit` codes in the
    window: SMS pumping and brute force both need many codes.
    """
    now = utcnow()
    window = timedelta(seconds=settings.otp_send_window_seconds)
    in_window = OneTimeCode.filter(customer_id=customer_id, created_at__gte=now - window)
    if await in_window.count() >= settings.otp_send_limit:
        raise TooManyRequests(
            Text.counted(
                "Too many codes requested. Please try again in {count} minute.",
                "Too many codes requested. Please try again in {count} minutes.",
                await _minutes_until_allowed(in_window, settings.otp_send_limit, now, window),
            ),
            code="too_many_codes",
        )
    await OneTimeCode.filter(
        customer_id=customer_id, subject=subject, used_at=None, cancelled_at=None
    ).update(cancelled_at=now)
    code = new_code()
    await OneTimeCode.create(
        customer_id=customer_id,
        purpose=purpose,
        subject=subject,
        code_hash=code_hash(settings, purpose, subject, code),
        expires_at=now + timedelta(seconds=settings.otp_ttl_seconds),
    )
    metrics.count_code_issued(purpose.value)
    return code


async def _minutes_until_allowed(
    in_window: QuerySet[OneTimeCode], limit: int, now: datetime, window: timedelta
) -> int:
    """Whole minutes (rounded up) until one code fewer than `limit` is left in the window:
    the wait a customer is told after hitting the limit."""
    # The oldest of the newest `limit` codes: once it leaves the window, one more is allowed.
    oldest = await in_window.order_by("-created_at").offset(limit - 1).first()
    leaves_at = (oldest.created_at if oldest else now) + window
    seconds = max((leaves_at - now).total_seconds(), 1.0)
    return math.ceil(seconds / 60)


async def check_code(
    settings: Settings, *, customer_id: int, purpose: CodePurpose, subject: str, code: str
) -> CodeCheck:
    """Check a presented code against the live code for `subject`; uses it on success."""
    check = await _check_code(settings, customer_id, purpose, subject, code)
    metrics.count_code_check(check.reason)
    return check


async def _check_code(
    settings: Settings, customer_id: int, purpose: CodePurpose, subject: str, code: str
) -> CodeCheck:
    now = utcnow()
    row = (
        await OneTimeCode.filter(
            customer_id=customer_id,
            purpose=purpose,
            subject=subject,
            used_at=None,
            cancelled_at=None,
        )
        .order_by("-id")
        .first()
    )
    if row is None:
        return CodeCheck(False, "no_code")
    if row.expires_at <= now:
        return CodeCheck(False, "expired")
    expected = row.code_hash.encode()
    presented = code_hash(settings, purpose, subject, code.strip()).encode()
    if not hmac.compare_digest(expected, presented):
        await OneTimeCode.filter(id=row.id).update(failed_attempts=F("failed_attempts") + 1)
        if row.failed_attempts + 1 >= settings.otp_max_attempts:
            await OneTimeCode.filter(id=row.id).update(cancelled_at=now)
        return CodeCheck(False, "wrong")
    used = await OneTimeCode.filter(id=row.id, used_at=None).update(used_at=now)
    if not used:  # a concurrent request used it first
        return CodeCheck(False, "no_code")
    return CodeCheck(True, "ok")


async def cancel_codes(subject: str) -> None:
    """Cancel every live code for a request that ended."""
    await OneTimeCode.filter(subject=subject, used_at=None, cancelled_at=None).update(
        cancelled_at=utcnow()
    )
