"""Checking a face against the enrolled one, and what a check leaves behind.

Every check is audited with its distance. A check that approves something (a
withdrawal, a phone change) counts toward the lockout: `face_lockout_failures`
mismatches in a row set `face_locked`, which only staff lift; a match resets the
count. A plain staff check (`/verify_face` with a customer id) is audited but does
not count.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from smsbank.core import audit
from smsbank.core.models import Customer
from smsbank.core.settings import Settings
from smsbank.faces.enrolment import enrolled_embedding
from smsbank.faces.service import FaceResult, FaceService
from smsbank.ops import metrics


@dataclass(frozen=True)
class CheckRecord:
    failures: int  # mismatches in a row after this check
    locked: bool  # face verification is locked after this check
    locked_now: bool  # this check is the one that locked it


async def compare_with_enrolled(
    settings: Settings, faces: FaceService, customer: Customer, photo: bytes
) -> FaceResult:
    """Embed the selfie and measure its distance to the stored embedding."""
    enrolled = enrolled_embedding(settings, customer, faces)
    return await faces.analyse(photo, enrolled)


async def record_check(
    settings: Settings,
    customer_id: int,
    result: FaceResult,
    *,
    purpose: str,
    actor: str,
    counts: bool = True,
    passed: bool | None = None,
    **details: object,
) -> CheckRecord:
    """Audit a check and, when it `counts`, update the failures-in-a-row count.

    `passed` overrides the distance's verdict: a head-turn challenge that failed its
    liveness checks is a failure even when the face itself matched.
    """
    verified = result.verified if passed is None else passed
    async with in_transaction():
        locked_now = False
        if counts and verified:
            await Customer.filter(id=customer_id).update(face_failures=0)
        elif counts:
            # One UPDATE, so concurrent failures each count.
            await Customer.filter(id=customer_id).update(face_failures=F("face_failures") + 1)
        row = await Customer.filter(id=customer_id).values("face_failures", "face_locked")
        failures, locked = int(row[0]["face_failures"]), bool(row[0]["face_locked"])
        if counts and not locked and failures >= settings.face_lockout_failures:
            locked_now = bool(
                await Customer.filter(id=customer_id, face_locked=False).update(face_locked=True)
            )
            locked = True
        await audit.record(
            "face.checked",
            actor=actor,
            customer_id=customer_id,
            purpose=purpose,
            verified=verified,
            # None: the check failed before faces were compared (a failed liveness check).
            distance=None if result.distance is None else round(result.distance, 6),
            threshold=result.threshold,
            counts_toward_lockout=counts,
            **details,
        )
        if locked_now:
            await audit.record(
                "face.locked", actor=actor, customer_id=customer_id, failures=failures
            )
    metrics.count_face_check(purpose, verified)
    return CheckRecord(failures, locked, locked_now)
