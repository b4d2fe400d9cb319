"""A head-turn challenge answered on a capture link (SPEC §9a), from upload to the
request it approves.

Theory of operation
-------------------
    link live? --no--> 404 / 410 "expired"
       |
    challenge of this link, issued, fresh? --no--> 4xx "retry" (no attempt used)
       |
    frames well formed (count, bytes, JPEG, <= 640 px, one size)? --no--> 4xx "retry"
       |
    request still waiting, face not locked? --no--> "failed" (link closed)
       |
    use the challenge (conditional UPDATE) --lost the race / too late--> 410 "retry"
       |
    the face engine decides (`FaceService.analyse_challenge`)
       |
    frames unusable (no face, several, unreadable)? --> 422 "retry" (no attempt used)
       |
    take one attempt (conditional UPDATE) --none left--> 410 "expired"
       |
    passed:  enrolment link: store the frontal frame's embedding --------> "enrolled"
             withdrawal / number change: as a matching selfie does ------> "verified"
    failed (liveness, no_match, not_same_person): a failed attempt that counts toward
             the face lock-out; locked or last attempt: the request fails -> "failed";
             else -----------------------------------------------------------> "retry"

After the challenge is used, everything is what `smsbank.faces.selfies` does for a
selfie: the same link, attempt and lock-out rules, the same approval transaction. The
answer's message is in the customer's language and says what to do differently.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NoReturn

from smsbank.core import audit
from smsbank.core.customers import get_customer
from smsbank.core.errors import BankError, Unprocessable
from smsbank.core.models import CapturePurpose, CaptureToken, Customer
from smsbank.core.settings import Settings
from smsbank.faces.challenges import (
    find_challenge,
    liveness_config,
    steps_of,
    use_challenge,
)
from smsbank.faces.checks import record_check
from smsbank.faces.enrolment import enrolled_embedding
from smsbank.faces.frames import FrameLimits, Readable, read_frames
from smsbank.faces.selfies import (
    ACTOR,
    CHECKS_LOCKED,
    LOCKED_REASON,
    NO_ATTEMPTS_LEFT,
    NO_MATCH_REASON,
    SelfieOutcome,
    enrolled,
    fail_link,
    in_language,
    refuse_closed,
    verified,
)
from smsbank.faces.service import ChallengeResult, FaceResult, FaceService, FaceUnavailable
from smsbank.ops import metrics
from smsbank.requests import capture
from smsbank.texts.i18n import Text, localize

# Frames the engine could not use say nothing about who is at the camera: like a
# selfie with no face, they use no attempt.
NOT_COUNTED = frozenset({"no_face", "several_faces", "unreadable"})
LIVENESS_REASON = Text("The live face check failed.")

_WHY = {
    ("liveness", "left"): Text(
        "We could not see you turn your head to the left. Try again in good light."
    ),
    ("liveness", "right"): Text(
        "We could not see you turn your head to the right. Try again in good light."
    ),
    ("liveness", None): Text(
        "We could not see a real head turning as asked. Follow the arrows, in good light, "
        "and try again."
    ),
    ("no_match", None): Text("The face did not match the face enrolled on this account."),
    ("not_same_person", None): Text(
        "The face changed during the check. Only you should be in front of the camera."
    ),
    ("no_face", None): Text(
        "We could not see your face in every picture. Keep your whole face in the frame, "
        "in good light, and try again."
    ),
    ("several_faces", None): Text(
        "We saw more than one face. Only you should be in front of the camera; try again."
    ),
    ("unreadable", None): Text("The pictures could not be read. Please try again."),
}


def why_failed(reason: str | None, failed_step: str | None) -> Text:
    """The sentence that tells the customer what went wrong."""
    step = failed_step if reason == "liveness" else None
    return _WHY.get((reason or "liveness", step)) or _WHY[("liveness", None)]


def challenge_required(attempts_left: int) -> Unprocessable:
    error = Unprocessable(
        "This link needs the head-turn check, not a photo. Open the link again on your "
        "phone and follow the arrows.",
        code="challenge_required",
    )
    error.extra.update(status="retry", message=error.message, attempts_left=attempts_left)
    return error


async def refuse_single_selfie(token: str) -> NoReturn:
    """422 `challenge_required` for a live link (404 / 410 for a dead one first)."""
    record = await capture.usable_token(token)
    raise challenge_required(capture.attempts_left(record))


async def submit_challenge(
    settings: Settings,
    faces: FaceService | None,
    token: str,
    challenge: str,
    parts: Sequence[Readable],
) -> SelfieOutcome:
    """Decide a head-turn challenge posted on a capture link and carry out what it
    approves. Raises BankError (4xx) for a dead link, challenge, or malformed frames;
    its `extra` holds the page's `status`, `message` and `attempts_left`."""
    record = await capture.usable_token(token)
    left = capture.attempts_left(record)
    if len(parts) <= 1:
        raise challenge_required(left)
    found = await find_challenge(record, challenge)
    config = liveness_config(settings)
    limits = FrameLimits(
        min_frames=config.min_frames,
        max_frames=config.max_frames,
        max_frame_bytes=settings.liveness_max_frame_bytes,
        max_total_bytes=settings.liveness_max_upload_bytes,
        max_pixels=settings.face_max_pixels,
    )
    try:
        frames = read_frames(parts, limits)
    except BankError as exc:
        exc.extra.update(status="retry", message=exc.message, attempts_left=left)
        raise
    customer = await get_customer(record.customer_id)
    language = customer.language
    refused = await refuse_closed(settings, record, customer)
    if refused is not None:
        return in_language(refused, language)
    if faces is None:
        raise FaceUnavailable("the face check is not available right now; try again shortly")
    enrolled_face = None
    if record.purpose != CapturePurpose.ENROLMENT:
        try:
            enrolled_face = enrolled_embedding(settings, customer, faces)
        except BankError as exc:
            # Nothing the customer does fixes these (no face enrolled, another model).
            exc.extra.update(status="failed", message=exc.message, attempts_left=left)
            raise
    await use_challenge(record, found)
    steps = steps_of(found)
    started = time.perf_counter()
    result = await faces.analyse_challenge(frames, steps, enrolled_face, config)
    metrics.record_liveness_decision(
        "passed" if result.passed else result.reason or "liveness", time.perf_counter() - started
    )
    await audit.record(
        "liveness.decided",
        actor=ACTOR,
        customer_id=customer.id,
        capture_token_id=record.id,
        purpose=record.purpose.value,
        steps=",".join(steps),
        frames=len(frames),
        passed=result.passed,
        reason=result.reason,
        failed_step=result.failed_step,
        detail=result.detail,
        seconds=round(result.seconds, 3),
    )
    if not result.passed and result.reason in NOT_COUNTED:
        message = localize(why_failed(result.reason, None), language)
        error = Unprocessable(message, code=f"frames_{result.reason}")
        error.extra.update(
            status="retry", message=message, attempts_left=left, reason=result.reason
        )
        raise error
    record = await capture.take_attempt(record)
    left = capture.attempts_left(record)
    face = FaceResult(
        embedding=list(result.embedding or ()),
        threshold=result.threshold,
        distance=result.distance,
    )
    if result.passed and record.purpose == CapturePurpose.ENROLMENT:
        outcome = await enrolled(settings, record, face, faces.model_label)
    elif result.passed:
        outcome = await verified(settings, record, customer, face, liveness="passed")
    else:
        outcome = await _failed(settings, record, customer, result, face, left)
    return in_language(outcome, language)


async def _failed(
    settings: Settings,
    record: CaptureToken,
    customer: Customer,
    result: ChallengeResult,
    face: FaceResult,
    left: int,
) -> SelfieOutcome:
    """A failed attempt: counted toward the lock-out (not on an enrolment link, where
    there is no enrolled face to lock), and the end of the request when none is left."""
    language = customer.language
    why = localize(why_failed(result.reason, result.failed_step), language)
    enrolment = record.purpose == CapturePurpose.ENROLMENT
    check = await record_check(
        settings,
        customer.id,
        face,
        purpose=record.purpose.value,
        actor=ACTOR,
        counts=not enrolment,
        passed=False,
        capture_token_id=record.id,
        attempts_left=left,
        liveness=result.reason,
    )
    if check.locked and not enrolment:
        await fail_link(settings, record, LOCKED_REASON)
        status, tail, left = "failed", localize(CHECKS_LOCKED[record.purpose], language), 0
    elif left == 0:
        reason = NO_MATCH_REASON if result.reason == "no_match" else LIVENESS_REASON
        await fail_link(settings, record, reason)
        status, tail = "failed", localize(NO_ATTEMPTS_LEFT[record.purpose], language)
    else:
        status = "retry"
        tail = localize(
            Text.counted("{count} attempt left.", "{count} attempts left.", left, count=left),
            language,
        )
    return SelfieOutcome(
        status, f"{why} {tail}", left, distance=result.distance, reason=result.reason
    )
