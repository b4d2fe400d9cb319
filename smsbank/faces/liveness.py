"""Liveness from landmark tracks: did a real, three-dimensional head turn as asked?

Pure geometry, no I/O: the face worker (smsbank.faces.pipeline) finds the face in
every frame and its 68 landmarks (dlib's iBUG 300-W numbering); this module decides
from those points alone. Every check must pass; there is no averaged score.

1. Pose: OpenCV `solvePnP` of 14 rigid landmarks on a generic 3D face gives each
   frame's yaw. Yaw is measured relative to the first frame (a generic model reads a frontal
   face of a real person a few degrees off, the same in every frame of that person).
   The head starts roughly frontal, turns at least `min_yaw` each way asked, in the
   order asked (a clear turn the other way first fails that step), and comes back
   toward frontal at the end.
2. Depth: a picture held up to the camera is a surface; a head is not. Between the
   frontal frame and each step's extreme, a homography is fitted on rigid points of
   the face (eye corners, brows, mouth corners, chin) and the nose points' miss is
   measured, in eye distances, divided by the sine of the yaw between the two frames:
   the nose's apparent height above the face's plane. A flat print turned or tilted
   maps by a homography (the nose misses by nothing); a print bent round a cylinder
   bulges by a fraction of a real nose. The miss must point the way the head turned.
   The second cue is the profile: a head's nose tip leaves the line from the bridge
   of the nose to the chin as it turns; on any sheet bent round a vertical axis that
   line is a straight generator and the tip stays on it.
   The third cue is the outline: on a head the nose tip stands 8-10 cm in front of
   the face's outline at its height (the jaw contour by the cheeks), so it moves that
   much more than the outline as the head turns (on a real head the outline is a
   silhouette, which moves less still); a sheet bent round a horizontal axis has the
   whole row at one depth, so its nose tip moves with the outline.

Sign convention: frames are as the camera sees them (not mirrored); positive yaw is
the customer's own left, the nose moving toward the right of the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Point = tuple[float, float]
Landmarks = Sequence[Point]

STEPS = ("left", "right")
_SIGN = {"left": 1.0, "right": -1.0}

# iBUG 68-point indices.
NOSE_TIP = 30
NOSE_BRIDGE = 27
CHIN = 8
# Rigid points that lie near one plane on a real face (not the jaw silhouette, which
# slides round the cheek as the head turns, and not the nose).
RIGID = (17, 21, 22, 26, 36, 39, 42, 45, 48, 54, 8)
# Points that stand out of that plane.
NOSE = (29, 30, 31, 33, 35)
# The face's outline at and just under the nose tip's height (jaw contour by the cheeks).
OUTLINE = (2, 3, 13, 14)
LEFT_EYE = tuple(range(36, 42))  # image-left eye (the customer's right)
RIGHT_EYE = tuple(range(42, 48))

# A generic face for solvePnP, in cm (x right, y down, z toward the camera, origin
# between the eyes): x and y are the mean landmark shape of the 22 photos of
# ../shared/faces and matplotlib's Grace Hopper, made symmetric; z are adult
# anthropometric averages (the nose tip 2.5 cm in front of the inner eye corners).
# Rigid points only: brows, nose, eye corners, mouth corners, chin.
_PNP_MODEL = {
    17: (-6.00, -1.08, -1.5),
    21: (-1.26, -1.59, 0.5),
    22: (1.26, -1.59, 0.5),
    26: (6.00, -1.08, -1.5),
    27: (0.00, -0.28, 0.5),
    30: (0.00, 3.34, 2.5),
    33: (0.00, 4.58, 1.6),
    36: (-4.37, 0.04, -0.8),
    39: (-1.86, 0.15, 0.0),
    42: (1.86, 0.15, 0.0),
    45: (4.37, 0.04, -0.8),
    48: (-2.88, 6.37, -0.3),
    54: (2.88, 6.37, -0.3),
    8: (0.00, 11.60, 1.0),
}


@dataclass(frozen=True)
class LivenessConfig:
    """Thresholds of the liveness decision; docs/faces.md says how each was chosen."""

    # Degrees of yaw each way asked (SPEC §9a: SMSBANK_LIVENESS_MIN_YAW, default 15).
    min_yaw: float = 15.0
    # Frames the decision needs / accepts (the page is told both): at 5-10 frames a
    # second a two-step challenge takes 3-6 s.
    min_frames: int = 8
    max_frames: int = 40
    # The first frame's yaw from the generic model, at most (a real frontal face reads
    # a few degrees off; a head already turned does not).
    frontal_max_yaw: float = 25.0
    # A frame whose yaw is further than this from the median of it and its two
    # neighbours is a landmark glitch, not a movement (at 5-10 frames a second a head
    # turns well under this between frames).
    max_spike: float = 15.0
    # After the last turn the head comes back at least this share of the way.
    min_return: float = 0.5
    # Depth: the nose's apparent height above the rigid face plane, in eye distances.
    min_nose_depth: float = 0.15
    # Depth: the nose tip's move off the bridge-chin line per unit sin(yaw), as a
    # fraction of that line's length.
    min_profile_depth: float = 0.07
    # Depth: the nose tip's move against the face's outline at its height per unit
    # sin(yaw), in eye distances (the generic head: about 1.2).
    min_outline_depth: float = 0.6
    # Identity across frames (cosine distance, DeepFace Dlib embeddings): a turned
    # face embeds a little further from the frontal one than a second frontal photo.
    same_person_threshold: float = 0.12
    # Faces turned further than this embed too far from their frontal frame (Dlib
    # model) to tell the same person from another: identity is checked on each turn's
    # furthest frame within it.
    identity_max_yaw: float = 45.0


@dataclass(frozen=True)
class LivenessVerdict:
    """The geometric decision on one landmark track."""

    passed: bool
    reason: str | None  # None or "liveness"
    failed_step: str | None  # "left"/"right" when that turn was not seen
    detail: str
    frontal: int = 0  # index of the frontal frame: the first
    extremes: tuple[int, ...] = ()  # index of each step's furthest frame, in step order
    # Each step's furthest frame turned at most identity_max_yaw (the extreme, unless
    # the head turned further): these are embedded for the same-person check.
    identities: tuple[int, ...] = ()
    yaws: tuple[float, ...] = ()  # per frame, relative to the first frame


def head_yaw(landmarks: Landmarks, image_size: tuple[int, int]) -> float:
    """Yaw in degrees from solvePnP on a generic face; positive = nose to image right."""
    import cv2
    import numpy as np

    width, height = image_size
    focal = float(max(width, height))  # a phone's front camera: ~60-70 degrees across
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)
    image_points = np.array([landmarks[i] for i in _PNP_MODEL], dtype=np.float64)
    model = np.array(list(_PNP_MODEL.values()), dtype=np.float64)
    # The model's z points to the camera; OpenCV's camera looks along +z: flip z.
    model[:, 2] = -model[:, 2]
    # Start from a frontal head at the distance its eye width implies: a nearly flat
    # set of points has a mirror solution (turned the other way), and the iterative
    # solver, started from nothing, sometimes lands on it.
    image_eyes = abs(landmarks[45][0] - landmarks[36][0]) + abs(landmarks[42][0] - landmarks[39][0])
    model_eyes = (_PNP_MODEL[45][0] - _PNP_MODEL[36][0]) + (_PNP_MODEL[42][0] - _PNP_MODEL[39][0])
    distance = focal * model_eyes / max(image_eyes, 1.0)
    centre = np.mean(image_points, axis=0)
    guess_r = np.zeros((3, 1))
    guess_t = np.array(
        [
            [(centre[0] - width / 2) * distance / focal],
            [(centre[1] - height / 2) * distance / focal],
            [distance],
        ]
    )
    ok, rvec, _ = cv2.solvePnP(
        model,
        image_points,
        camera,
        np.zeros(4),
        rvec=guess_r,
        tvec=guess_t,
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok:
        return float("nan")
    rotation, _ = cv2.Rodrigues(rvec)
    facing = rotation @ np.array([0.0, 0.0, -1.0])  # where the nose points, camera axes
    return math.degrees(math.atan2(facing[0], -facing[2]))


def eye_distance(landmarks: Landmarks) -> float:
    left = _mean([landmarks[i] for i in LEFT_EYE])
    right = _mean([landmarks[i] for i in RIGHT_EYE])
    return math.dist(left, right)


def nose_depth(a: Landmarks, b: Landmarks, yaw_change: float) -> float:
    """Apparent height of the nose above the rigid face plane, in eye distances, signed
    (positive: it moved the way the head turned) — about 0 for any flat picture."""
    import cv2
    import numpy as np

    source = np.array([a[i] for i in RIGID], dtype=np.float64)
    target = np.array([b[i] for i in RIGID], dtype=np.float64)
    homography, _ = cv2.findHomography(source, target, 0)
    if homography is None:
        return 0.0
    nose_a = np.array([a[i] for i in NOSE], dtype=np.float64).reshape(-1, 1, 2)
    predicted = cv2.perspectiveTransform(nose_a, homography).reshape(-1, 2)
    actual = np.array([b[i] for i in NOSE], dtype=np.float64)
    miss_x = float((actual[:, 0] - predicted[:, 0]).mean())
    scale = (eye_distance(a) + eye_distance(b)) / 2
    sine = math.sin(math.radians(abs(yaw_change)))
    if scale <= 0 or sine <= 0:
        return 0.0
    return math.copysign(1.0, yaw_change) * miss_x / scale / sine


def profile_offset(landmarks: Landmarks) -> float:
    """The nose tip's signed distance from the bridge-chin line, in that line's lengths
    (positive: toward image right of the line)."""
    bx, by = landmarks[NOSE_BRIDGE]
    cx, cy = landmarks[CHIN]
    tx, ty = landmarks[NOSE_TIP]
    length = math.hypot(cx - bx, cy - by)
    if length <= 0:
        return 0.0
    # Cross product of (chin - bridge) and (tip - bridge): image y points down, so a tip
    # to the right of a downward line gives a negative cross product.
    return -((cx - bx) * (ty - by) - (cy - by) * (tx - bx)) / length**2


def profile_depth(a: Landmarks, b: Landmarks, yaw_change: float) -> float:
    """The tip's move off the bridge-chin line per unit sin(yaw), signed like the turn."""
    sine = math.sin(math.radians(abs(yaw_change)))
    if sine <= 0:
        return 0.0
    return math.copysign(1.0, yaw_change) * (profile_offset(b) - profile_offset(a)) / sine


def outline_depth(a: Landmarks, b: Landmarks, yaw_change: float) -> float:
    """The nose tip's horizontal move less the outline's at its height, in eye distances
    per unit sin(yaw), signed like the turn: the depth of the nose tip in front of the
    cheeks' outline (about 0 for a sheet bent round a horizontal axis)."""
    sine = math.sin(math.radians(abs(yaw_change)))
    scale = (eye_distance(a) + eye_distance(b)) / 2
    if sine <= 0 or scale <= 0:
        return 0.0
    outline = sum(b[i][0] - a[i][0] for i in OUTLINE) / len(OUTLINE)
    tip = b[NOSE_TIP][0] - a[NOSE_TIP][0]
    return math.copysign(1.0, yaw_change) * (tip - outline) / scale / sine


def decide(
    tracks: Sequence[Landmarks],
    image_size: tuple[int, int],
    steps: Sequence[str],
    config: LivenessConfig,
) -> LivenessVerdict:
    """Pose, order and depth of one face's landmark track (one entry per frame)."""
    if len(tracks) < config.min_frames:
        return _fail(f"frames={len(tracks)} < min_frames={config.min_frames}", steps[:1])
    absolute = [head_yaw(points, image_size) for points in tracks]
    if any(math.isnan(v) for v in absolute):
        return _fail("pose: solvePnP failed on a frame", None)
    # One frame's landmarks can jump (motion blur, a hand, JPEG): a frame far from
    # both its neighbours takes their median; a real peak, even one frame long, stays.
    smoothed = _despike(absolute, config.max_spike)
    if abs(smoothed[0]) > config.frontal_max_yaw:
        return _fail(
            f"start: first frame yaw={smoothed[0]:.1f} > frontal_max_yaw={config.frontal_max_yaw}",
            steps[:1],
        )
    yaws = tuple(v - smoothed[0] for v in smoothed)
    found = _follow_steps(yaws, steps, config)
    if isinstance(found, LivenessVerdict):
        return _with(found, yaws=yaws)
    extremes, identities = found
    last_peak = abs(yaws[extremes[-1]])
    back = min(abs(v) for v in yaws[extremes[-1] :])
    if back > last_peak * (1 - config.min_return):
        return _fail(
            f"return: yaw came back to {back:.1f} from {last_peak:.1f} "
            f"(needs {config.min_return:.0%} of the way)",
            None,
            yaws=yaws,
        )
    frontal = 0  # the reference of every yaw: the page films from "look straight ahead"
    details = []
    raw = [v - smoothed[0] for v in absolute]
    for step, index in zip(steps, extremes, strict=True):
        change = raw[index] - raw[frontal]
        nose = nose_depth(tracks[frontal], tracks[index], change)
        profile = profile_depth(tracks[frontal], tracks[index], change)
        outline = outline_depth(tracks[frontal], tracks[index], change)
        details.append(
            f"{step}: yaw={change:.1f} nose={nose:.3f} profile={profile:.3f} outline={outline:.3f}"
        )
        if nose < config.min_nose_depth:
            return _fail(
                f"depth: {step} nose_depth={nose:.3f} < {config.min_nose_depth}",
                None,
                yaws=yaws,
            )
        if profile < config.min_profile_depth:
            return _fail(
                f"depth: {step} profile_depth={profile:.3f} < {config.min_profile_depth}",
                None,
                yaws=yaws,
            )
        if outline < config.min_outline_depth:
            return _fail(
                f"depth: {step} outline_depth={outline:.3f} < {config.min_outline_depth}",
                None,
                yaws=yaws,
            )
    return LivenessVerdict(
        passed=True,
        reason=None,
        failed_step=None,
        detail="; ".join(details),
        frontal=frontal,
        extremes=tuple(extremes),
        identities=tuple(identities),
        yaws=yaws,
    )


def _follow_steps(
    yaws: Sequence[float], steps: Sequence[str], config: LivenessConfig
) -> tuple[list[int], list[int]] | LivenessVerdict:
    """The furthest frame of each step, and its furthest within identity_max_yaw, taken
    in order; or the step that was not seen.

    A step is seen when the yaw reaches min_yaw its way; turning min_yaw the other way
    while waiting for it, other than the way of the step before, fails that step (the
    order was not the one asked).
    """
    extremes: list[int] = []
    identities: list[int] = []
    position = 0
    for number, step in enumerate(steps):
        sign = _SIGN[step]
        if number > 0:
            # Come back toward frontal before the next step: under half the last peak.
            peak = abs(yaws[extremes[-1]])
            while position < len(yaws) and abs(yaws[position]) > peak / 2:
                position += 1
        reached = None
        while position < len(yaws):
            value = yaws[position] * sign
            if value >= config.min_yaw:
                reached = position
                break
            previous = steps[number - 1] if number > 0 else None
            if value <= -config.min_yaw and _SIGN.get(previous or "", 0.0) != -sign:
                # Turning the other way before this step: the order asked was not
                # followed (a second look the way just asked is only a repeat).
                return _fail(
                    f"order: turned {-value:.1f} degrees the other way before {step}",
                    [step],
                )
            position += 1
        if reached is None:
            best = max((v * sign for v in yaws[position - 1 :] or [0.0]), default=0.0)
            return _fail(
                f"pose: {step} reached {max(best, 0.0):.1f} < min_yaw={config.min_yaw}", [step]
            )
        # The furthest frame of this turn: until the yaw falls back under half of it;
        # and the furthest within identity_max_yaw, for the identity check.
        furthest = reached
        identity = reached
        while position < len(yaws) and yaws[position] * sign >= yaws[furthest] * sign / 2:
            value = yaws[position] * sign
            if value > yaws[furthest] * sign:
                furthest = position
            if yaws[identity] * sign < value <= config.identity_max_yaw:
                identity = position
            position += 1
        extremes.append(furthest)
        identities.append(identity)
    return extremes, identities


def _despike(values: Sequence[float], max_spike: float) -> list[float]:
    padded = [values[0], *values, values[-1]]
    out = []
    for i, value in enumerate(values):
        median = sorted(padded[i : i + 3])[1]
        out.append(median if abs(value - median) > max_spike else value)
    return out


def _fail(
    detail: str, steps: Sequence[str] | None, *, yaws: tuple[float, ...] = ()
) -> LivenessVerdict:
    return LivenessVerdict(
        passed=False,
        reason="liveness",
        failed_step=steps[0] if steps else None,
        detail=detail,
        yaws=yaws,
    )


def _with(verdict: LivenessVerdict, *, yaws: tuple[float, ...]) -> LivenessVerdict:
    return LivenessVerdict(
        passed=verdict.passed,
        reason=verdict.reason,
        failed_step=verdict.failed_step,
        detail=verdict.detail,
        yaws=yaws,
    )


def _mean(points: Sequence[Point]) -> Point:
    return (
        sum(p[0] for p in points) / len(points),
        sum(p[1] for p in points) / len(points),
    )
