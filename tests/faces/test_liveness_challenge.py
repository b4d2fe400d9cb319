"""FaceService.analyse_challenge end to end: real frames, real dlib and DeepFace.

The sequences are synthetic (tests/head_turns.py: real photos of ../shared/faces
re-rendered as turning heads, and the same photos presented as prints), honestly
labelled; what they exercise is real: the detector, the tracker, the 68 landmarks,
solvePnP, the depth checks and the embeddings, in the engine's worker processes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smsbank.faces.liveness import LivenessConfig
from smsbank.faces.service import FaceService
from tests import head_turns
from tests.conftest import SHARED_FACES
from tests.faces.conftest import requires_shared_faces, shared_photo

pytestmark = requires_shared_faces
CONFIG = LivenessConfig()
LEFT_RIGHT = ("left", "right")
RIGHT_LEFT = ("right", "left")


def photo(name: str) -> Path:
    return SHARED_FACES / name


async def enrolled(face_service: FaceService, name: str) -> list[float]:
    return (await face_service.analyse(shared_photo(name))).embedding


# (turning photo, another photo of the same person to enrol with), several people.
GENUINE = [("A_43.jpg", "A_42.jpg"), ("C_35.jpg", "C_34.jpg"), ("D_39.jpg", "D_41.jpg")]


@pytest.mark.parametrize("steps", [LEFT_RIGHT, RIGHT_LEFT], ids="/".join)
@pytest.mark.parametrize(("turning", "enrolled_from"), GENUINE)
async def test_the_enrolled_customer_turning_as_asked_is_verified(
    face_service: FaceService, turning: str, enrolled_from: str, steps: tuple[str, str]
) -> None:
    reference = await enrolled(face_service, enrolled_from)
    frames = head_turns.genuine(photo(turning), steps)
    result = await face_service.analyse_challenge(frames, steps, reference, CONFIG)
    assert result.passed, result.detail
    assert result.reason is None and result.failed_step is None
    assert result.distance is not None and result.distance <= result.threshold
    assert result.embedding is not None and len(result.embedding) == 128


async def test_enrolment_keeps_the_frontal_frames_embedding(face_service: FaceService) -> None:
    frames = head_turns.genuine(photo("B_29.jpg"), RIGHT_LEFT)
    result = await face_service.analyse_challenge(frames, RIGHT_LEFT, None, CONFIG)
    assert result.passed, result.detail
    assert result.distance is None and result.embedding is not None
    # The stored embedding then verifies the same person's other photo like enrolment does.
    other = await face_service.analyse(shared_photo("B_30.jpg"), result.embedding)
    assert other.verified, other.distance


@pytest.mark.parametrize(
    "kind", ["print_turned", "print_tilted", "print_bent", "print_bent_horizontal"]
)
async def test_a_print_of_the_customer_is_refused_for_liveness(
    face_service: FaceService, kind: str
) -> None:
    reference = await enrolled(face_service, "A_42.jpg")
    frames = head_turns.attack(kind, photo("A_43.jpg"), LEFT_RIGHT)
    result = await face_service.analyse_challenge(frames, LEFT_RIGHT, reference, CONFIG)
    assert not result.passed
    assert result.reason == "liveness", result.detail
    assert result.embedding is None


@pytest.mark.parametrize(
    ("kind", "failed_step"), [("still", "left"), ("wrong_order", "left"), ("one_way", "right")]
)
async def test_a_missing_turn_names_the_step(
    face_service: FaceService, kind: str, failed_step: str
) -> None:
    reference = await enrolled(face_service, "D_41.jpg")
    frames = head_turns.attack(kind, photo("D_39.jpg"), LEFT_RIGHT)
    result = await face_service.analyse_challenge(frames, LEFT_RIGHT, reference, CONFIG)
    assert (result.passed, result.reason, result.failed_step) == (False, "liveness", failed_step)


async def test_another_persons_turns_do_not_verify_the_customer(
    face_service: FaceService,
) -> None:
    victim = await enrolled(face_service, "A_42.jpg")
    frames = head_turns.attack(
        "other_person", photo("A_43.jpg"), LEFT_RIGHT, other_photo=photo("C_35.jpg")
    )
    result = await face_service.analyse_challenge(frames, LEFT_RIGHT, victim, CONFIG)
    assert (result.passed, result.reason) == (False, "no_match"), result.detail
    assert result.distance is not None and result.distance > result.threshold


async def test_the_customers_face_then_someone_elses_turns_are_refused(
    face_service: FaceService,
) -> None:
    victim = await enrolled(face_service, "A_42.jpg")
    frames = head_turns.attack(
        "spliced", photo("A_43.jpg"), LEFT_RIGHT, other_photo=photo("D_39.jpg")
    )
    result = await face_service.analyse_challenge(frames, LEFT_RIGHT, victim, CONFIG)
    assert (result.passed, result.reason) == (False, "not_same_person"), result.detail


async def test_a_frame_that_is_not_an_image_is_unreadable(face_service: FaceService) -> None:
    frames = head_turns.genuine(photo("C_35.jpg"), LEFT_RIGHT)
    frames[5] = b"this is not a picture"
    result = await face_service.analyse_challenge(frames, LEFT_RIGHT, None, CONFIG)
    assert (result.passed, result.reason) == (False, "unreadable")
    assert "frame 5" in result.detail


async def test_a_frame_without_a_face_is_refused(
    face_service: FaceService, no_face_jpeg: bytes
) -> None:
    frames = head_turns.attack("still", photo("C_35.jpg"), LEFT_RIGHT)
    frames[0] = head_turns.frame_of(no_face_jpeg)
    result = await face_service.analyse_challenge(frames, LEFT_RIGHT, None, CONFIG)
    assert (result.passed, result.reason) == (False, "no_face")


async def test_a_second_face_in_the_frames_is_refused(face_service: FaceService) -> None:
    frames = head_turns.genuine(photo("C_35.jpg"), LEFT_RIGHT)
    frames[3] = head_turns.frame_of(shared_photo("multi_couple.jpg"))
    result = await face_service.analyse_challenge(frames, LEFT_RIGHT, None, CONFIG)
    assert (result.passed, result.reason) == (False, "several_faces"), result.detail


async def test_four_challenges_at_once_are_all_decided(face_service: FaceService) -> None:
    """A challenge is admitted as one unit: four at once stay within the pool's bound."""
    frames = head_turns.genuine(photo("C_35.jpg"), RIGHT_LEFT)
    results = await asyncio.gather(
        *(face_service.analyse_challenge(frames, RIGHT_LEFT, None, CONFIG) for _ in range(4))
    )
    assert [r.passed for r in results] == [True] * 4, [r.detail for r in results]


async def test_steps_other_than_left_and_right_are_a_programming_error(
    face_service: FaceService,
) -> None:
    with pytest.raises(ValueError, match="steps"):
        await face_service.analyse_challenge([b""], ["up"], None, CONFIG)
