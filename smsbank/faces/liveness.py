"""Liveness from landmark tracks: did a real, three-dimensional head turn as asked?

Pure geometry, no I/O: the face worker (smsbank.faces.pipeline) finds the face in
every frame and its 68 landmarks; this module decides from those points alone.
Every check must pass; there is no averaged score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LivenessConfig:
    """Thresholds of the liveness decision; each default is justified in docs/faces.md."""

    # Degrees of yaw each way asked (SPEC §9a: SMSBANK_LIVENESS_MIN_YAW, default 15).
    min_yaw: float = 15.0
    # Frames the decision needs / accepts (the page is told both).
    min_frames: int = 8
    max_frames: int = 40


@dataclass(frozen=True)
class LivenessVerdict:
    """The geometric decision on one landmark track."""

    passed: bool
    reason: str | None
    failed_step: str | None
    detail: str


def decide(
    tracks: Sequence[Sequence[tuple[float, float]]],
    image_size: tuple[int, int],
    steps: Sequence[str],
    config: LivenessConfig,
) -> LivenessVerdict:
    raise NotImplementedError
