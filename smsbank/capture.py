"""Capture links: one-time selfie URLs (SPEC §9).

A token is 32 random bytes (URL-safe text); only its SHA-256 is stored, so a database
leak does not hand out live links. A link lives 10 minutes, allows a few selfies, and
is bound to exactly one request (a withdrawal, a phone change or an enrolment).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from smsbank import audit
from smsbank.clock import utcnow
from smsbank.models import CapturePurpose, CaptureToken, CaptureTokenStatus, Customer
from smsbank.settings import Settings


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def capture_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/capture/{token}"


async def issue_capture_link(
    settings: Settings,
    *,
    customer_id: int,
    purpose: CapturePurpose,
    withdrawal_id: int | None = None,
    phone_change_id: int | None = None,
) -> str:
    """Create a capture token for one request and return its full URL."""
    token = secrets.token_urlsafe(32)
    await CaptureToken.create(
        token_hash=hash_token(token),
        purpose=purpose,
        customer_id=customer_id,
        withdrawal_id=withdrawal_id,
        phone_change_id=phone_change_id,
        status=CaptureTokenStatus.ACTIVE,
        max_attempts=settings.capture_max_attempts,
        expires_at=utcnow() + timedelta(seconds=settings.capture_ttl_seconds),
    )
    return capture_url(settings, token)


async def issue_enrolment_link(settings: Settings, customer: Customer, *, actor: str) -> str:
    """A link on which the customer enrols their face (staff text it, `make run` prints it)."""
    url = await issue_capture_link(
        settings, customer_id=customer.id, purpose=CapturePurpose.ENROLMENT
    )
    await audit.record("enrolment_link.issued", actor=actor, customer_id=customer.id)
    return url
