"""What a head-turn challenge decides on a capture link (SPEC §9a), over HTTP with the
real app and real DeepFace: a genuine turn approves a withdrawal and enrols a face;
prints, stills, turns in the wrong order and another person are refused with a reason
and use an attempt; repeated failures lock face checks.

The sequences are synthetic (tests/head_turns.py says how they are made): a package
photo re-rendered as a head turning, and the same photo presented as attacks.
"""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from prometheus_client import REGISTRY

from smsbank.core.clock import utcnow
from smsbank.core.ledger import ledger_total_minor
from smsbank.core.models import (
    AuditEvent,
    CapturePurpose,
    CaptureToken,
    CaptureTokenStatus,
    Customer,
    LedgerEntry,
    LivenessChallenge,
    LivenessChallengeStatus,
    OutboundMessage,
    PhoneChange,
    PhoneChangeStatus,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.core.settings import Settings
from smsbank.faces.enrolment import enrolled_embedding
from smsbank.faces.service import FaceService
from smsbank.requests.capture import hash_token, issue_capture_link, issue_enrolment_link
from tests import head_turns
from tests.faces.conftest import jpeg, token_of
from tests.faces.test_challenge_http import new_challenge, post_frames

_SEQUENCES: dict[tuple[str, str, tuple[str, ...]], list[bytes]] = {}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A fixed order of the turns (the test-only setting): a sequence is rendered from
    its steps, so every run of a test answers with the same frames."""
    return settings.with_overrides(liveness_steps="left,right")


@pytest.fixture(scope="module")
def photo_files(
    tmp_path_factory: pytest.TempPathFactory, astronaut: Image.Image, grace: Image.Image
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("head_turn_photos")
    files = {"astronaut": folder / "astronaut.jpg", "grace": folder / "grace.jpg"}
    files["astronaut"].write_bytes(jpeg(astronaut))
    files["grace"].write_bytes(jpeg(grace))
    return files


@pytest.fixture
def sequence(photo_files: dict[str, Path]) -> Any:
    """sequence(kind, steps, who="astronaut") -> JPEG frames; each made once per session."""

    def make(kind: str, steps: list[str], who: str = "astronaut") -> list[bytes]:
        key = (kind, who, tuple(steps))
        if key not in _SEQUENCES:
            if kind == head_turns.GENUINE:
                _SEQUENCES[key] = head_turns.genuine(photo_files[who], steps)
            elif kind in head_turns.IDENTITY_ATTACKS:
                _SEQUENCES[key] = head_turns.attack(
                    kind, photo_files["astronaut"], steps, other_photo=photo_files[who]
                )
            else:
                _SEQUENCES[key] = head_turns.attack(kind, photo_files[who], steps)
        return _SEQUENCES[key]

    return make


@pytest.fixture
async def customer(
    face_app: Any, make_customer: Any, enrol: Any, astronaut_jpeg: bytes
) -> Customer:
    return await enrol(await make_customer(name="Eileen Collins"), astronaut_jpeg)


async def answer(client: Any, url: str, make: Any, kind: str, who: str = "astronaut") -> Any:
    """Ask the link for a challenge and answer it with a `kind` sequence for its steps."""
    issued = await new_challenge(client, url)
    frames = make(kind, issued["steps"], who)
    return await post_frames(client, url, frames, issued["challenge"])


async def link_record(url: str) -> CaptureToken:
    return await CaptureToken.get(token_hash=hash_token(token_of(url)))


def decisions(result: str) -> float:
    value = REGISTRY.get_sample_value("smsbank_liveness_decisions_total", {"result": result})
    return value or 0.0


async def test_a_genuine_head_turn_approves_the_withdrawal(
    face_client: Any, customer: Customer, open_withdrawal: Any, sequence: Any
) -> None:
    withdrawal, url = await open_withdrawal(customer, "20")
    passed_before = decisions("passed")
    status, body = await answer(face_client, url, sequence, head_turns.GENUINE)
    assert (status, body["status"]) == (200, "verified"), body
    assert "reason" not in body and "$20.00" in body["message"]
    withdrawal = await Withdrawal.get(id=withdrawal.id)
    assert withdrawal.status == WithdrawalStatus.COMPLETED
    assert withdrawal.face_distance is not None and withdrawal.face_distance <= 0.07
    assert await LedgerEntry.filter(withdrawal_id=withdrawal.id).count() == 1
    after = await Customer.get(id=customer.id)
    assert after.balance_minor == 8000 == await ledger_total_minor(customer.id)
    record = await link_record(url)
    assert (record.attempts_used, record.status) == (1, CaptureTokenStatus.SUCCEEDED)
    decided = await AuditEvent.get(action="liveness.decided", customer_id=customer.id)
    assert decided.details["passed"] is True and decided.details["reason"] is None
    assert decided.details["frames"] >= 8 and decided.details["detail"]
    checked = await AuditEvent.get(action="face.checked", customer_id=customer.id)
    assert checked.details["verified"] is True
    assert decisions("passed") == passed_before + 1
    # The challenge is spent: the same answer again changes nothing.
    assert (await LivenessChallenge.get()).status == LivenessChallengeStatus.USED


async def test_a_genuine_head_turn_on_an_enrolment_link_enrols_the_frontal_face(
    face_client: Any,
    settings: Settings,
    face_service: FaceService,
    make_customer: Any,
    sequence: Any,
    astronaut_jpeg: bytes,
    grace_jpeg: bytes,
) -> None:
    customer = await make_customer(name="Eileen Collins")
    url = await issue_enrolment_link(settings, customer, actor="test")
    status, body = await answer(face_client, url, sequence, head_turns.GENUINE)
    assert (status, body["status"]) == (200, "enrolled"), body
    enrolled = await Customer.get(id=customer.id)
    assert enrolled.face_enrolled
    # The stored face is the customer's: the plain photo matches it, another person not.
    stored = enrolled_embedding(settings, enrolled, face_service)
    assert (await face_service.analyse(astronaut_jpeg, stored)).verified
    assert not (await face_service.analyse(grace_jpeg, stored)).verified
    assert (await link_record(url)).status == CaptureTokenStatus.SUCCEEDED


@pytest.mark.parametrize("kind", ["print_turned", "still", "wrong_order"])
async def test_an_attack_is_refused_with_its_reason_and_uses_an_attempt(
    face_client: Any, customer: Customer, open_withdrawal: Any, sequence: Any, kind: str
) -> None:
    withdrawal, url = await open_withdrawal(customer, "20")
    status, body = await answer(face_client, url, sequence, kind)
    assert (status, body["status"], body["reason"]) == (200, "retry", "liveness"), body
    assert body["attempts_left"] == 2 and "2 attempts left" in body["message"]
    assert "head" in body["message"]
    record = await link_record(url)
    assert (record.attempts_used, record.status) == (1, CaptureTokenStatus.ACTIVE)
    assert (await Customer.get(id=customer.id)).face_failures == 1
    assert (await Withdrawal.get(id=withdrawal.id)).status == WithdrawalStatus.AWAITING_SELFIE
    assert await LedgerEntry.filter(withdrawal_id=withdrawal.id).count() == 0
    decided = await AuditEvent.get(action="liveness.decided", customer_id=customer.id)
    assert decided.details["passed"] is False and decided.details["reason"] == "liveness"
    assert decided.details["detail"]
    checked = await AuditEvent.get(action="face.checked", customer_id=customer.id)
    assert checked.details["verified"] is False and checked.details["liveness"] == "liveness"


async def test_the_wrong_order_says_which_turn_was_missing(
    face_client: Any, customer: Customer, open_withdrawal: Any, sequence: Any
) -> None:
    _, url = await open_withdrawal(customer, "20")
    issued = await new_challenge(face_client, url)
    frames = sequence("wrong_order", issued["steps"])
    _, body = await post_frames(face_client, url, frames, issued["challenge"])
    assert body["reason"] == "liveness", body
    first = issued["steps"][0]
    assert f"turn your head to the {first}" in body["message"]


async def test_another_persons_head_turn_does_not_match(
    face_client: Any, customer: Customer, open_withdrawal: Any, sequence: Any
) -> None:
    _, url = await open_withdrawal(customer, "20")
    status, body = await answer(face_client, url, sequence, head_turns.GENUINE, who="grace")
    assert (status, body["status"]) == (200, "retry"), body
    # Not the enrolled face; the engine may see that first as a face that changed.
    assert body["reason"] in ("no_match", "not_same_person"), body
    assert (await link_record(url)).attempts_used == 1
    assert (await Customer.get(id=customer.id)).face_failures == 1


async def test_a_spanish_customer_reads_why_in_spanish(
    face_client: Any,
    make_customer: Any,
    enrol: Any,
    astronaut_jpeg: bytes,
    open_withdrawal: Any,
    sequence: Any,
) -> None:
    customer = await enrol(
        await make_customer(name="Eileen Collins", language="es"), astronaut_jpeg
    )
    _, url = await open_withdrawal(customer, "20")
    _, body = await answer(face_client, url, sequence, "still")
    assert body["reason"] == "liveness", body
    assert "Quedan 2 intentos." in body["message"]
    assert "cabeza" in body["message"]


async def test_frames_without_a_face_use_no_attempt(
    face_client: Any, customer: Customer, open_withdrawal: Any, no_face_jpeg: bytes
) -> None:
    _, url = await open_withdrawal(customer, "20")
    coffee = jpeg(Image.open(io.BytesIO(no_face_jpeg)).resize((640, 480)))
    issued = await new_challenge(face_client, url)
    status, body = await post_frames(
        face_client, url, [coffee] * issued["min_frames"], issued["challenge"]
    )
    assert (status, body["status"], body["reason"]) == (422, "retry", "no_face"), body
    assert body["attempts_left"] == 3
    assert (await link_record(url)).attempts_used == 0
    assert (await Customer.get(id=customer.id)).face_failures == 0


async def test_the_last_attempt_failing_cancels_the_withdrawal(
    face_client: Any, customer: Customer, open_withdrawal: Any, sequence: Any
) -> None:
    withdrawal, url = await open_withdrawal(customer, "20")
    await CaptureToken.filter(id=(await link_record(url)).id).update(attempts_used=2)
    status, body = await answer(face_client, url, sequence, "print_turned")
    assert (status, body["status"], body["reason"]) == (200, "failed", "liveness"), body
    assert "no attempts left" in body["message"] and body["attempts_left"] == 0
    assert (await Withdrawal.get(id=withdrawal.id)).status == WithdrawalStatus.FAILED
    assert (await link_record(url)).status == CaptureTokenStatus.FAILED
    text = await OutboundMessage.get(template="withdrawal_failed", to_phone=customer.phone)
    assert "live face check failed" in text.body


async def test_repeated_failed_challenges_lock_face_checks(
    face_client: Any,
    settings: Settings,
    customer: Customer,
    open_withdrawal: Any,
    sequence: Any,
) -> None:
    await Customer.filter(id=customer.id).update(face_failures=settings.face_lockout_failures - 1)
    withdrawal, url = await open_withdrawal(customer, "20")
    status, body = await answer(face_client, url, sequence, "still")
    assert (status, body["status"], body["reason"]) == (200, "failed", "liveness"), body
    assert "locked" in body["message"]
    locked = await Customer.get(id=customer.id)
    assert locked.face_locked
    assert (await Withdrawal.get(id=withdrawal.id)).status == WithdrawalStatus.FAILED
    assert await AuditEvent.filter(action="face.locked", customer_id=customer.id).exists()
    # A genuine turn on a new link is refused now: only staff unlock face checks.
    _, again = await open_withdrawal(customer, "20")
    status, body = await answer(face_client, again, sequence, head_turns.GENUINE)
    assert (status, body["status"]) == (403, "failed")


async def test_two_answers_with_the_same_challenge_approve_once(
    face_client: Any, customer: Customer, open_withdrawal: Any, sequence: Any
) -> None:
    withdrawal, url = await open_withdrawal(customer, "20")
    issued = await new_challenge(face_client, url)
    frames = sequence(head_turns.GENUINE, issued["steps"])
    results = await asyncio.gather(
        post_frames(face_client, url, frames, issued["challenge"]),
        post_frames(face_client, url, frames, issued["challenge"]),
    )
    (won, body), (lost, refused) = sorted(results, key=lambda result: result[0])
    assert (won, body["status"]) == (200, "verified"), body
    # The other post found the challenge used, or (had it come later) the link used.
    assert lost == 410 and refused["error"]["code"] in ("challenge_used", "link_used")
    assert await LedgerEntry.filter(withdrawal_id=withdrawal.id).count() == 1
    assert (await link_record(url)).attempts_used == 1


async def _phone_change_link(settings: Settings, customer: Customer) -> tuple[PhoneChange, str]:
    change = await PhoneChange.create(
        customer_id=customer.id,
        old_phone=customer.phone,
        new_phone="+15550199999",
        status=PhoneChangeStatus.AWAITING_SELFIE,
        code_verified_at=utcnow(),
        expires_at=utcnow() + timedelta(minutes=15),
    )
    url = await issue_capture_link(
        settings,
        customer_id=customer.id,
        purpose=CapturePurpose.PHONE_CHANGE,
        phone_change_id=change.id,
    )
    return change, url


async def test_a_genuine_head_turn_changes_the_number_and_another_face_does_not(
    face_client: Any, settings: Settings, customer: Customer, sequence: Any
) -> None:
    change, url = await _phone_change_link(settings, customer)
    status, body = await answer(face_client, url, sequence, head_turns.GENUINE, who="grace")
    assert (status, body["status"]) == (200, "retry"), body
    assert body["reason"] in ("no_match", "not_same_person"), body
    assert (await PhoneChange.get(id=change.id)).status == PhoneChangeStatus.AWAITING_SELFIE
    status, body = await answer(face_client, url, sequence, head_turns.GENUINE)
    assert (status, body["status"]) == (200, "verified"), body
    assert (await Customer.get(id=customer.id)).phone == "+15550199999"
    assert (await PhoneChange.get(id=change.id)).status == PhoneChangeStatus.COMPLETED


@pytest.mark.xfail(
    strict=True,
    reason=(
        "known gap (docs/faces.md, limits): another person's turned frames that stay "
        "within the same-person threshold of the victim's frontal frame are verified; "
        "this test passes, and so fails as strict, once the check catches them"
    ),
)
async def test_the_customers_face_then_another_persons_turns_is_refused(
    face_client: Any, customer: Customer, open_withdrawal: Any, sequence: Any
) -> None:
    """The victim's photo in front of the camera first, then an impostor turning."""
    withdrawal, url = await open_withdrawal(customer, "20")
    status, body = await answer(face_client, url, sequence, "spliced", who="grace")
    assert (status, body["status"]) == (200, "retry"), body
    assert body["reason"] == "not_same_person", body
    assert (await link_record(url)).attempts_used == 1
    assert (await Customer.get(id=customer.id)).face_failures == 1
    assert await LedgerEntry.filter(withdrawal_id=withdrawal.id).count() == 0
