"""The liveness decision on landmark tracks: a turning head passes; a picture does not.

The tracks are the 68 landmarks of a real photo (Grace Hopper, matplotlib's sample)
given the generic depths of tests/head_turns.py and moved by exact 3D poses, so each
test knows what the geometry must say without any image in between.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from matplotlib import cbook

from smsbank.faces.liveness import (
    LivenessConfig,
    decide,
    head_yaw,
    nose_depth,
    outline_depth,
    profile_depth,
)
from tests import head_turns

SIZE = head_turns.FRAME_SIZE
CONFIG = LivenessConfig()


@pytest.fixture(scope="module")
def face() -> head_turns._Face:
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return head_turns._Face(path, random.Random(7))


def track(
    face: head_turns._Face,
    yaws: list[float],
    depth: np.ndarray,
    *,
    tilt: bool = False,
    noise: float = 0.7,
    seed: int = 1,
) -> list[list[tuple[float, float]]]:
    """The landmarks seen through a pose per frame, with a landmark detector's jitter."""
    rng = np.random.default_rng(seed)
    pivot = face.points[27:36].mean(axis=0)
    frames = []
    for number, yaw in enumerate(yaws):
        pitch = 12 * math.sin(number) if tilt else 0.0
        roll = 6 * math.cos(number) if tilt else 0.0
        points = head_turns.project(
            face.points, depth, pivot, face.px_per_cm, (yaw, pitch, roll, 1.0, 0, 0)
        )
        points = points + rng.normal(0, noise, points.shape)
        frames.append([(float(x), float(y)) for x, y in points])
    return frames


def turns(*peaks: float) -> list[float]:
    """Frontal, out to each signed peak and back, 15 frames for two peaks."""
    yaws = [0.0, 0.0]
    for peak in peaks:
        yaws += [peak * 0.5, peak * 0.9, peak, peak * 0.7, peak * 0.3, 0.0]
    return [*yaws, 0.0]


def head(face: head_turns._Face) -> np.ndarray:
    return head_turns.GENERIC_DEPTH_CM


def flat(face: head_turns._Face) -> np.ndarray:
    return np.zeros(68) - 2.5  # a print held where the face was


def bent(face: head_turns._Face, radius_cm: float = 7.0) -> np.ndarray:
    """A print bent round a vertical cylinder: the middle of the face comes forward."""
    across = (face.points[:, 0] - face.points[27:36, 0].mean()) / face.px_per_cm
    return radius_cm * (np.cos(across / radius_cm) - 1) - 1.0


def bent_across(face: head_turns._Face, radius_cm: float = 7.0) -> np.ndarray:
    """A print bent round a horizontal cylinder: the row of the nose comes forward."""
    down = (face.points[:, 1] - face.points[27:36, 1].mean()) / face.px_per_cm
    return radius_cm * (np.cos(down / radius_cm) - 1) - 1.0


def test_left_is_the_customers_own_left(face: head_turns._Face) -> None:
    """Frames as the camera sees them: turning to their own left moves the nose to image right."""
    frontal, left = track(face, [0.0, 30.0], head(face), noise=0)
    assert left[30][0] > frontal[30][0] + 10
    assert head_yaw(left, SIZE) - head_yaw(frontal, SIZE) > 20


@pytest.mark.parametrize("steps", [("left", "right"), ("right", "left")])
def test_a_head_turning_as_asked_passes(face: head_turns._Face, steps: tuple[str, str]) -> None:
    peaks = [25.0 if step == "left" else -25.0 for step in steps]
    verdict = decide(track(face, turns(*peaks), head(face)), SIZE, steps, CONFIG)
    assert verdict.passed, verdict.detail
    assert verdict.reason is None and verdict.failed_step is None
    assert verdict.frontal < verdict.extremes[0] < verdict.extremes[1]


def test_a_modest_turn_of_the_minimum_passes(face: head_turns._Face) -> None:
    verdict = decide(track(face, turns(18.0, -18.0), head(face)), SIZE, ("left", "right"), CONFIG)
    assert verdict.passed, verdict.detail


@pytest.mark.parametrize("tilt", [False, True], ids=["turned", "turned_and_tilted"])
def test_a_flat_picture_turned_fails_the_depth_check(face: head_turns._Face, tilt: bool) -> None:
    verdict = decide(
        track(face, turns(45.0, -45.0), flat(face), tilt=tilt), SIZE, ("left", "right"), CONFIG
    )
    assert not verdict.passed
    assert verdict.reason == "liveness"
    assert verdict.failed_step is None, verdict.detail  # the turns were there
    assert verdict.detail.startswith("depth"), verdict.detail


def test_a_bent_picture_turned_fails_the_depth_check(face: head_turns._Face) -> None:
    verdict = decide(track(face, turns(40.0, -40.0), bent(face)), SIZE, ("left", "right"), CONFIG)
    assert not verdict.passed
    assert verdict.reason == "liveness" and verdict.failed_step is None
    assert verdict.detail.startswith("depth"), verdict.detail


def test_the_depth_measures_tell_a_head_from_a_flat_picture(face: head_turns._Face) -> None:
    real = track(face, [0.0, 25.0], head(face), noise=0)
    picture = track(face, [0.0, 25.0], flat(face), noise=0)
    assert nose_depth(real[0], real[1], 25.0) > 1.5 * CONFIG.min_nose_depth
    assert abs(nose_depth(picture[0], picture[1], 25.0)) < 0.01
    assert profile_depth(real[0], real[1], 25.0) > CONFIG.min_profile_depth
    assert abs(profile_depth(picture[0], picture[1], 25.0)) < 0.01


@pytest.mark.parametrize("radius_cm", [7.0, 12.0])
def test_a_print_bent_round_a_horizontal_axis_fails_the_outline_check(
    face: head_turns._Face, radius_cm: float
) -> None:
    """Its nose comes forward of the brows and chin, as a head's does, so the nose and
    profile checks can pass; only the outline at the nose's height gives it away."""
    verdict = decide(
        track(face, turns(40.0, -40.0), bent_across(face, radius_cm)),
        SIZE,
        ("left", "right"),
        CONFIG,
    )
    assert not verdict.passed
    assert verdict.reason == "liveness" and verdict.failed_step is None
    assert verdict.detail.startswith("depth: left outline_depth"), verdict.detail


@pytest.mark.parametrize("yaw", [18.0, 25.0, 40.0])
def test_the_outline_tells_a_head_from_a_sheet(face: head_turns._Face, yaw: float) -> None:
    real = track(face, [0.0, yaw], head(face), noise=0)
    flat_nosed = track(face, [0.0, yaw], 0.8 * head(face), noise=0)
    across = track(face, [0.0, yaw], bent_across(face), noise=0)
    picture = track(face, [0.0, yaw], flat(face), noise=0)
    assert outline_depth(real[0], real[1], yaw) > 2 * CONFIG.min_outline_depth
    assert outline_depth(flat_nosed[0], flat_nosed[1], yaw) > 1.5 * CONFIG.min_outline_depth
    assert outline_depth(across[0], across[1], yaw) < CONFIG.min_outline_depth / 2
    assert outline_depth(picture[0], picture[1], yaw) < CONFIG.min_outline_depth / 2
    # The sign follows the turn: the other way round, the same depth.
    back = track(face, [0.0, -yaw], head(face), noise=0)
    assert outline_depth(back[0], back[1], -yaw) > 2 * CONFIG.min_outline_depth


def test_a_still_fails_the_first_step(face: head_turns._Face) -> None:
    verdict = decide(track(face, [0.0] * 15, head(face)), SIZE, ("right", "left"), CONFIG)
    assert not verdict.passed
    assert (verdict.reason, verdict.failed_step) == ("liveness", "right")


def test_the_right_turns_in_the_wrong_order_fail_the_first_step(face: head_turns._Face) -> None:
    verdict = decide(track(face, turns(-25.0, 25.0), head(face)), SIZE, ("left", "right"), CONFIG)
    assert not verdict.passed
    assert (verdict.reason, verdict.failed_step) == ("liveness", "left")
    assert verdict.detail.startswith("order"), verdict.detail


def test_a_one_way_turn_fails_the_missing_step(face: head_turns._Face) -> None:
    verdict = decide(
        track(face, turns(25.0) + [0.0] * 6, head(face)), SIZE, ("left", "right"), CONFIG
    )
    assert not verdict.passed
    assert (verdict.reason, verdict.failed_step) == ("liveness", "right")


def test_a_turn_short_of_the_minimum_fails_that_step(face: head_turns._Face) -> None:
    verdict = decide(track(face, turns(25.0, -9.0), head(face)), SIZE, ("left", "right"), CONFIG)
    assert not verdict.passed
    assert verdict.failed_step == "right"


def test_a_head_that_starts_turned_fails(face: head_turns._Face) -> None:
    yaws = [40.0 + y for y in turns(25.0, -25.0)]
    verdict = decide(track(face, yaws, head(face)), SIZE, ("left", "right"), CONFIG)
    assert not verdict.passed and verdict.detail.startswith("start"), verdict.detail


def test_a_head_that_stays_turned_at_the_end_fails(face: head_turns._Face) -> None:
    yaws = [0.0, 0.0, 12.0, 25.0, 28.0, 12.0, 0.0, -12.0, -25.0, -28.0, -28.0, -28.0, -27.0]
    verdict = decide(track(face, yaws, head(face)), SIZE, ("left", "right"), CONFIG)
    assert not verdict.passed and verdict.detail.startswith("return"), verdict.detail


def test_one_glitched_frame_does_not_break_a_genuine_turn(face: head_turns._Face) -> None:
    yaws = turns(25.0, -25.0)
    frames = track(face, yaws, head(face))
    frames[4] = track(face, [0.0], head(face), seed=9)[0]  # the tracker slipped once
    verdict = decide(frames, SIZE, ("left", "right"), CONFIG)
    assert verdict.passed, verdict.detail


def test_too_few_frames_fail(face: head_turns._Face) -> None:
    verdict = decide(
        track(face, [0.0, 25.0, 0.0, -25.0, 0.0], head(face)), SIZE, ("left", "right"), CONFIG
    )
    assert not verdict.passed and "min_frames" in verdict.detail
