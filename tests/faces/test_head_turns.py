"""tests/head_turns.py itself: its sequences say what they claim, its video plays."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from matplotlib import cbook

from smsbank.faces.liveness import head_yaw
from tests import head_turns

GRACE = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def yaws(frames: list[bytes]) -> list[float]:
    """Each frame's yaw, where the frontal detector finds the face (NaN where it does not:
    it misses some faces turned 30 degrees or more)."""
    out = []
    for frame in frames:
        image = cv2.imdecode(np.frombuffer(frame, dtype=np.uint8), cv2.IMREAD_COLOR)
        assert image is not None, "a frame that is not an image"
        try:
            points = head_turns.photo_landmarks(image)
        except ValueError:
            out.append(float("nan"))
            continue
        out.append(head_yaw([tuple(p) for p in points], head_turns.FRAME_SIZE))
    return out


def test_a_genuine_sequence_turns_the_way_it_says() -> None:
    """ "left" first: the nose goes to the right of the image (positive yaw), then back past."""
    frames = head_turns.genuine(GRACE, ["left", "right"])
    assert len(frames) == 15
    seen = yaws(frames)
    found = [i for i, value in enumerate(seen) if not math.isnan(value)]
    left_peak = max(found, key=lambda i: seen[i])
    right_peak = min(found, key=lambda i: seen[i])
    assert left_peak < right_peak
    assert seen[left_peak] - seen[0] > 10 and seen[0] - seen[right_peak] > 10


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_write_y4m_makes_a_420_video_chromium_can_play(tmp_path: Path) -> None:
    frames = head_turns.genuine(GRACE, ["right", "left"], frames=10)
    video = head_turns.write_y4m(frames, tmp_path / "turn.y4m", fps=10)
    data = video.read_bytes()
    header = data.split(b"\n", 1)[0].decode()
    assert header.startswith("YUV4MPEG2 W640 H480 F10:1")
    assert " C420" in header
    assert data.count(b"FRAME\n") == 10
