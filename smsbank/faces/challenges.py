"""Head-turn challenges (SPEC §9a): issued for a capture link, answered once.

A challenge id is 16 random bytes (URL-safe base64); only its SHA-256 is stored, so the
database never holds a live challenge. It belongs to one capture link, names the order
of the turns (`secrets`, unless the test-only `SMSBANK_LIVENESS_STEPS` fixes it), and is
good for `CHALLENGE_TTL_SECONDS` from the server's clock, once:

- a new challenge voids the link's earlier live one, in the same transaction (the link's
  row is locked first, so two issued at once still leave one live); a link gets at
  most `MAX_CHALLENGES_PER_LINK` (429 after that);
- answering it is one conditional UPDATE (`status = issued` and still fresh): of two
  posts with the same challenge, one wins and the other gets 410.

Whatever the frames then show, a used challenge stays used: every answer needs a new
one, so a recorded answer is worth nothing a minute later.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.transactions import in_transaction

from smsbank.core import audit
from smsbank.core.clock import utcnow
from smsbank.core.errors import BankError, Conflict, Gone, NotFound, TooManyRequests
from smsbank.core.models import CaptureToken, LivenessChallenge, LivenessChallengeStatus
from smsbank.core.settings import LIVENESS_STEPS, Settings
from smsbank.faces.liveness import LivenessConfig
from smsbank.requests import capture

CHALLENGE_TTL_SECONDS = 60
CHALLENGE_BYTES = 16
# A customer retries a few times (3 attempts, a camera that would not start, a frame
# refused); a link asking for more is a script filling the table.
MAX_CHALLENGES_PER_LINK = 20
_CHALLENGE_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}")


def liveness_config(settings: Settings) -> LivenessConfig:
    """The decision's thresholds: its measured defaults, with the operator's minimum yaw."""
    return LivenessConfig(min_yaw=settings.liveness_min_yaw)


def draw_steps(settings: Settings) -> tuple[str, ...]:
    """The order of the turns: random, unless a test fixed it."""
    fixed = settings.fixed_liveness_steps
    if fixed is not None:
        return fixed
    steps = list(LIVENESS_STEPS)
    if secrets.randbelow(2):
        steps.reverse()
    return tuple(steps)


@dataclass(frozen=True)
class IssuedChallenge:
    """What `POST /capture/<token>/challenge` answers (201)."""

    challenge: str
    steps: tuple[str, ...]
    min_frames: int
    max_frames: int
    expires_in: int = CHALLENGE_TTL_SECONDS

    def json(self) -> dict[str, Any]:
        return {
            "challenge": self.challenge,
            "steps": list(self.steps),
            "expires_in": self.expires_in,
            "min_frames": self.min_frames,
            "max_frames": self.max_frames,
        }


def _hash(challenge: str) -> str:
    return hashlib.sha256(challenge.encode("utf-8")).hexdigest()


def challenge_needed(settings: Settings) -> bool:
    return settings.liveness == "challenge"


async def issue_challenge(settings: Settings, token: str) -> IssuedChallenge:
    """A new challenge for a live link (404 unknown, 410 used or expired); the link's
    earlier challenge stops working."""
    record = await capture.usable_token(token)
    if not challenge_needed(settings):
        raise Conflict(
            "This bank takes a single selfie: no head-turn check is needed.",
            code="challenge_not_needed",
        )
    challenge = secrets.token_urlsafe(CHALLENGE_BYTES)
    steps = draw_steps(settings)
    async with in_transaction():
        # Lock the link's row (PostgreSQL; SQLite writes one at a time anyway) so that
        # two challenges asked at once cannot both stay live.
        await CaptureToken.filter(id=record.id).select_for_update().first()
        if await LivenessChallenge.filter(capture_token_id=record.id).count() >= (
            MAX_CHALLENGES_PER_LINK
        ):
            refused = TooManyRequests(
                "This link asked for too many head-turn checks. Start again from a new link.",
                code="too_many_challenges",
            )
            # Final for the page: another try on this link could only be refused again.
            refused.extra["status"] = "failed"
            raise refused
        voided = await LivenessChallenge.filter(
            capture_token_id=record.id, status=LivenessChallengeStatus.ISSUED
        ).update(status=LivenessChallengeStatus.VOIDED, finished_at=utcnow())
        await LivenessChallenge.create(
            challenge_hash=_hash(challenge),
            capture_token_id=record.id,
            steps=",".join(steps),
            status=LivenessChallengeStatus.ISSUED,
            issued_at=utcnow(),
        )
        await audit.record(
            "liveness.challenge_issued",
            actor="customer",
            customer_id=record.customer_id,
            capture_token_id=record.id,
            steps=",".join(steps),
            voided=voided,
        )
    config = liveness_config(settings)
    return IssuedChallenge(challenge, steps, config.min_frames, config.max_frames)


def _challenge_error(error: BankError, attempts_left: int) -> BankError:
    # The link itself is still live: the page asks for a new challenge and tries again.
    error.extra.update(status="retry", message=error.message, attempts_left=attempts_left)
    return error


async def find_challenge(record: CaptureToken, challenge: str) -> LivenessChallenge:
    """The link's challenge named `challenge`, if it can still be answered (4xx if not)."""
    left = capture.attempts_left(record)
    found = None
    if _CHALLENGE_SHAPE.fullmatch(challenge):
        found = await LivenessChallenge.get_or_none(
            challenge_hash=_hash(challenge), capture_token_id=record.id
        )
    if found is None:
        raise _challenge_error(
            NotFound(
                "This head-turn check is not valid for this link. Start the check again.",
                code="challenge_unknown",
            ),
            left,
        )
    if found.status == LivenessChallengeStatus.USED:
        raise _challenge_error(
            Gone(
                "This head-turn check was already answered. Start the check again.",
                code="challenge_used",
            ),
            left,
        )
    if found.status == LivenessChallengeStatus.VOIDED:
        raise _challenge_error(
            Gone(
                "A newer head-turn check replaced this one. Start the check again.",
                code="challenge_voided",
            ),
            left,
        )
    if found.issued_at <= _fresh_since():
        raise _challenge_error(_expired(), left)
    return found


async def use_challenge(record: CaptureToken, challenge: LivenessChallenge) -> None:
    """Mark the challenge answered, atomically: only one post can use it, and only while
    it is fresh."""
    used = await LivenessChallenge.filter(
        id=challenge.id,
        status=LivenessChallengeStatus.ISSUED,
        issued_at__gt=_fresh_since(),
    ).update(status=LivenessChallengeStatus.USED, finished_at=utcnow())
    if not used:
        left = capture.attempts_left(record)
        current = await LivenessChallenge.get(id=challenge.id)
        if current.status == LivenessChallengeStatus.ISSUED:
            raise _challenge_error(_expired(), left)
        raise _challenge_error(
            Gone(
                "This head-turn check was already answered. Start the check again.",
                code="challenge_used",
            ),
            left,
        )


def steps_of(challenge: LivenessChallenge) -> tuple[str, ...]:
    return tuple(challenge.steps.split(","))


def _fresh_since() -> Any:
    return utcnow() - timedelta(seconds=CHALLENGE_TTL_SECONDS)


def _expired() -> Gone:
    return Gone(
        "This head-turn check took too long (a minute at most). Start the check again.",
        code="challenge_expired",
    )
