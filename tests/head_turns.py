"""Synthetic head-turn sequences for the liveness challenge: genuine turns and attacks.

HONESTLY LABELLED SYNTHETIC DATA. There is no real head-turn footage here, so a genuine
sequence is a real photo re-rendered as if the head turned: the photo's own 68 landmarks
get a depth each from a generic human face (GENERIC_DEPTH_CM, anthropometric averages),
the head is rotated about a pivot behind the face and projected by a phone-like camera,
and the image follows by a piecewise-affine warp of the landmark triangulation (drawn
back to front, so the far cheek is hidden by the nose as the head turns). Each frame
gets a little pitch, roll, scale and position jitter and JPEG compression.
What this cannot imitate: hair, ears and the far cheek's silhouette appearing and
disappearing, lighting changing over the face, motion blur, a real phone's noise.

Attacks are the same photos as an attacker would present them: a flat print turned
(and tilted: exact homographies of a plane rotated in 3D), the print bent round a
vertical or a horizontal cylinder and turned, a still repeated, the right turns in the
wrong order, a one-way turn, and another person's turns (whole, or spliced after the
victim's frontal frames).

The frames are as the camera sees them (not mirrored); "left" is the customer's own
left, so the nose moves toward the RIGHT of the image (positive yaw here).
"""

from __future__ import annotations

import math
import random
import subprocess
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

FRAME_SIZE = (640, 480)  # width, height: what the capture page sends at most
EYE_DISTANCE_CM = 6.3  # between the eye centres, an adult average
PIVOT_CM = 10.0  # the head turns about a vertical axis this far behind the nose tip
CAMERA_CM = 40.0  # a phone held at arm's length
FACE_EYE_DISTANCE_PX = (70, 95)  # eye distance in a 640x480 front-camera frame

# Depth of each of the 68 landmarks, cm, nose tip = 0, negative = away from the camera.
# Generic adult averages (jaw silhouette near the ears ~9 cm behind the nose tip, eyes
# ~2.5 cm, mouth corners ~2.8 cm); the same for every photo, as a generic model must be.
# fmt: off
_DEPTH_BY_REGION = (
    (-9.0, -8.5, -7.5, -6.5, -5.0, -3.8, -2.8, -1.9, -1.5, -1.9, -2.8, -3.8, -5.0, -6.5, -7.5,
     -8.5, -9.0),  # jaw 0-16
    (-4.0, -3.0, -2.4, -2.1, -2.0, -2.0, -2.1, -2.4, -3.0, -4.0),  # brows 17-26
    (-2.0, -1.5, -0.9, 0.0),  # nose bridge 27-30
    (-1.6, -1.1, -0.9, -1.1, -1.6),  # nostrils 31-35
    (-3.3, -2.6, -2.6, -2.5, -2.7, -2.7, -2.5, -2.6, -2.6, -3.3, -2.7, -2.7),  # eyes 36-47
    (-2.8, -1.9, -1.5, -1.3, -1.5, -1.9, -2.8, -2.1, -1.7, -1.5, -1.7, -2.1),  # lips 48-59
    (-2.6, -1.6, -1.4, -1.6, -2.6, -1.7, -1.5, -1.7),  # inner lips 60-67
)
# fmt: on
GENERIC_DEPTH_CM = np.concatenate(
    [np.array(region, dtype=np.float64) for region in _DEPTH_BY_REGION]
)

GENUINE = "genuine"
ATTACKS = (
    "print_turned",  # a flat print (or screen) turned left and right
    "print_tilted",  # ... turned, and tilted forward/back and sideways
    "print_bent",  # bent round a vertical cylinder, then turned
    "print_bent_horizontal",  # bent round a horizontal cylinder, then turned
    "still",  # one photo, repeated
    "wrong_order",  # real turns, in the other order than asked
    "one_way",  # only the first turn asked
)
IDENTITY_ATTACKS = ("other_person", "spliced")  # need another person's photo


@lru_cache(maxsize=1)
def _dlib_models() -> tuple[Any, Any]:
    import dlib

    from smsbank.faces.weights import packaged_weights_dir

    predictor = packaged_weights_dir() / "shape_predictor_68_face_landmarks.dat"
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor))


def photo_landmarks(bgr: np.ndarray) -> np.ndarray:
    """The 68 landmarks (x, y) of the largest face in a photo; ValueError if none."""
    import dlib

    detector, predictor = _dlib_models()
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, 800 / max(gray.shape))
    small = cv2.resize(gray, None, fx=scale, fy=scale) if scale < 1 else gray
    boxes = detector(small, 1)
    if not boxes:
        raise ValueError("no face in the photo")
    box = max(boxes, key=lambda b: b.area())
    box = dlib.rectangle(
        int(box.left() / scale),
        int(box.top() / scale),
        int(box.right() / scale),
        int(box.bottom() / scale),
    )
    shape = predictor(gray, box)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


@lru_cache(maxsize=64)
def _photo(photo_path: str) -> tuple[np.ndarray, np.ndarray]:
    source = cv2.imread(photo_path)
    if source is None:
        raise ValueError(f"cannot read {photo_path}")
    return source, photo_landmarks(source)


class _Face:
    """A photo framed like a front-camera frame, with its landmarks and a 3D model."""

    def __init__(self, photo_path: str | Path, rng: random.Random) -> None:
        source, points = _photo(str(photo_path))
        eye_px = _eye_distance(points)
        target_eye = rng.uniform(*FACE_EYE_DISTANCE_PX)
        scale = target_eye / eye_px
        centre = points[27:36].mean(axis=0)
        width, height = FRAME_SIZE
        # Source -> frame: scale about the face centre, centred slightly above mid-frame.
        shift = np.array([width / 2, height * 0.47]) - centre * scale
        matrix = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]])
        self.image = cv2.warpAffine(
            source, matrix, FRAME_SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
        )
        self.points = points * scale + shift
        self.px_per_cm = target_eye / EYE_DISTANCE_CM
        # People's faces are not the generic one: flatter or deeper by up to a quarter.
        self.depth_scale = rng.uniform(0.8, 1.25)

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """Source points (2D, px) and their depth (cm): landmarks, forehead, head, border."""
        points = self.points
        eyes_mid = (points[36:42].mean(axis=0) + points[42:48].mean(axis=0)) / 2
        up = eyes_mid - points[8]
        up /= np.linalg.norm(up)
        eye = _eye_distance(points)
        extra_points: list[np.ndarray] = []
        extra_depth: list[float] = []
        # Forehead: above the brows, sloping back.
        for index, depth in ((17, -5.0), (19, -3.6), (24, -3.6), (26, -5.0)):
            extra_points.append(points[index] + up * 0.9 * eye)
            extra_depth.append(depth)
        # The head around the face: on the pivot's plane, so it barely moves sideways.
        centre = points[27:36].mean(axis=0)
        for angle in np.linspace(0, 2 * math.pi, 16, endpoint=False):
            direction = np.array([math.cos(angle), math.sin(angle)])
            extra_points.append(centre + direction * 2.1 * eye * np.array([1.0, 1.25]))
            extra_depth.append(-PIVOT_CM)
        width, height = FRAME_SIZE
        for x in np.linspace(0, width - 1, 5):
            for y in (0, height - 1):
                extra_points.append(np.array([x, y]))
                extra_depth.append(-PIVOT_CM)
        for y in np.linspace(0, height - 1, 4)[1:-1]:
            for x in (0, width - 1):
                extra_points.append(np.array([x, y]))
                extra_depth.append(-PIVOT_CM)
        all_points = np.vstack([points, np.array(extra_points)])
        depths = np.concatenate([GENERIC_DEPTH_CM * self.depth_scale, np.array(extra_depth)])
        return all_points, depths


def _eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[36:42].mean(axis=0) - points[42:48].mean(axis=0)))


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation in image axes (x right, y down, z toward the camera), degrees.

    Positive yaw moves what is in front of the pivot (the nose) toward image right.
    """
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def project(
    points: np.ndarray,
    depth_cm: np.ndarray,
    pivot_xy: np.ndarray,
    px_per_cm: float,
    pose: tuple[float, float, float, float, float, float],
) -> np.ndarray:
    """Move points (px, with depth in cm) by a pose (yaw, pitch, roll, scale, dx, dy)."""
    yaw, pitch, roll, scale, dx, dy = pose
    xyz = np.column_stack(
        [(points - pivot_xy) / px_per_cm, depth_cm + PIVOT_CM]
    )  # cm about the pivot
    moved = xyz @ _rotation(yaw, pitch, roll).T
    z_from_camera = CAMERA_CM + PIVOT_CM - moved[:, 2]
    perspective = (CAMERA_CM / z_from_camera)[:, None]
    return pivot_xy + moved[:, :2] * perspective * px_per_cm * scale + np.array([dx, dy])


def _warp_mesh(
    image: np.ndarray, source: np.ndarray, target: np.ndarray, order_depth: np.ndarray
) -> np.ndarray:
    """Piecewise-affine warp of a Delaunay triangulation, far triangles drawn first."""
    height, width = image.shape[:2]
    rect = (-width, -height, 3 * width, 3 * height)
    subdiv = cv2.Subdiv2D(rect)
    index_of = {}
    for i, (x, y) in enumerate(source):
        key = (round(float(x), 3), round(float(y), 3))
        if key not in index_of:
            index_of[key] = i
            subdiv.insert((float(x), float(y)))
    triangles = []
    for tri in subdiv.getTriangleList():
        corners = [(round(float(tri[k]), 3), round(float(tri[k + 1]), 3)) for k in (0, 2, 4)]
        if all(c in index_of for c in corners):
            triangles.append([index_of[c] for c in corners])
    triangles.sort(key=lambda t: float(order_depth[t].mean()))
    out = image.copy()
    for tri in triangles:
        src = source[tri].astype(np.float32)
        dst = target[tri].astype(np.float32)
        if abs(_signed_area(dst)) < 0.5:
            continue  # seen edge-on: nothing to draw (and a singular warp)
        x, y, w, h = cv2.boundingRect(dst)
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, width), min(y + h, height)
        if x1 <= x0 or y1 <= y0:
            continue
        affine = cv2.getAffineTransform(src, dst - np.array([x0, y0], dtype=np.float32))
        patch = cv2.warpAffine(
            image,
            affine,
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillConvexPoly(
            mask, np.round(dst - np.array([x0, y0], dtype=np.float32)).astype(np.int32), 255
        )
        region = out[y0:y1, x0:x1]
        region[mask > 0] = patch[mask > 0]
    return out


def _signed_area(triangle: np.ndarray) -> float:
    (ax, ay), (bx, by), (cx, cy) = triangle
    return float((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)) / 2


def yaw_profile(
    steps: Sequence[str], frames: int, peaks: Sequence[float], rng: random.Random
) -> list[float]:
    """Frontal, then each step out to its peak and back, spread over `frames` frames."""
    signs = {"left": 1.0, "right": -1.0}
    # Knots: frontal hold, then for each step: out, peak, back.
    knots = [0.0, 0.0]
    for step, peak in zip(steps, peaks, strict=True):
        knots += [signs[step] * peak * 0.6, signs[step] * peak, signs[step] * peak * 0.5, 0.0]
    positions = np.linspace(0, len(knots) - 1, frames)
    values = np.interp(positions, np.arange(len(knots)), knots)
    return [float(v + rng.uniform(-1.0, 1.0)) for v in values]


def _jitter(rng: random.Random) -> tuple[float, float, float, float]:
    return rng.uniform(-4, 4), rng.uniform(-3, 3), rng.uniform(0.96, 1.04), rng.uniform(-6, 6)


def _jpeg(image: np.ndarray, rng: random.Random) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(75, 92)])
    assert ok
    return data.tobytes()


def _render_head(face: _Face, yaws: Sequence[float], rng: random.Random) -> list[bytes]:
    source, depth = face.mesh()
    pivot = face.points[27:36].mean(axis=0)
    frames = []
    for yaw in yaws:
        pitch, roll, scale, dx = _jitter(rng)
        pose = (yaw, pitch, roll, scale, dx, rng.uniform(-4, 4))
        target = project(source, depth, pivot, face.px_per_cm, pose)
        moved_depth = (
            np.column_stack([(source - pivot) / face.px_per_cm, depth + PIVOT_CM])
            @ _rotation(*pose[:3]).T
        )[:, 2]
        frames.append(_jpeg(_warp_mesh(face.image, source, target, moved_depth), rng))
    return frames


def _render_sheet(
    face: _Face,
    yaws: Sequence[float],
    rng: random.Random,
    *,
    tilt: bool = False,
    bend: str | None = None,
) -> list[bytes]:
    """The photo as a sheet held in front of the camera: flat, or bent, and turned."""
    width, height = FRAME_SIZE
    xs, ys = np.meshgrid(np.linspace(0, width - 1, 17), np.linspace(0, height - 1, 13))
    source = np.column_stack([xs.ravel(), ys.ravel()])
    centre = face.points[27:36].mean(axis=0)
    radius_cm = rng.uniform(7.0, 12.0)
    offset = (source - centre) / face.px_per_cm
    if bend == "vertical":  # bent round a vertical axis: the middle comes forward
        arc = np.clip(offset[:, 0] / radius_cm, -1.5, 1.5)
        depth = radius_cm * (np.cos(arc) - 1)
        source_flat = source.copy()
        source_flat[:, 0] = centre[0] + radius_cm * np.sin(arc) * face.px_per_cm
        target_base = source_flat
    elif bend == "horizontal":
        arc = np.clip(offset[:, 1] / radius_cm, -1.5, 1.5)
        depth = radius_cm * (np.cos(arc) - 1)
        target_base = source.copy()
        target_base[:, 1] = centre[1] + radius_cm * np.sin(arc) * face.px_per_cm
    else:
        depth = np.zeros(len(source))
        target_base = source
    # The sheet's pivot is where the hand holds it: its own middle (depth 0).
    sheet_depth = depth - 0.0
    frames = []
    for yaw in yaws:
        pitch, roll, scale, dx = _jitter(rng)
        if tilt:
            pitch += rng.uniform(-15, 15)
            roll += rng.uniform(-8, 8)
        pose = (yaw, pitch, roll, scale, dx, rng.uniform(-4, 4))
        target = _project_sheet(target_base, sheet_depth, centre, face.px_per_cm, pose)
        order = (
            np.column_stack([(target_base - centre) / face.px_per_cm, sheet_depth])
            @ _rotation(*pose[:3]).T
        )[:, 2]
        background = np.full_like(face.image, 90)
        frame = _warp_onto(face.image, background, source, target, order)
        frames.append(_jpeg(frame, rng))
    return frames


def _project_sheet(
    points: np.ndarray,
    depth_cm: np.ndarray,
    centre: np.ndarray,
    px_per_cm: float,
    pose: tuple[float, float, float, float, float, float],
) -> np.ndarray:
    yaw, pitch, roll, scale, dx, dy = pose
    xyz = np.column_stack([(points - centre) / px_per_cm, depth_cm])
    moved = xyz @ _rotation(yaw, pitch, roll).T
    perspective = (CAMERA_CM / (CAMERA_CM - moved[:, 2]))[:, None]
    return centre + moved[:, :2] * perspective * px_per_cm * scale + np.array([dx, dy])


def _warp_onto(
    image: np.ndarray,
    background: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    order: np.ndarray,
) -> np.ndarray:
    """Like _warp_mesh, but onto another background (a sheet in a room)."""
    canvas = _warp_mesh(image, source, target, order)
    # Where no sheet triangle landed, the room shows: mask by the sheet's outline.
    hull = cv2.convexHull(target.astype(np.float32)).astype(np.int32)
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    out = background.copy()
    out[mask > 0] = canvas[mask > 0]
    return out


def _peaks(steps: Sequence[str], rng: random.Random) -> list[float]:
    # SPEC §9a: people asked to turn their head usually give 25-40 degrees.
    return [rng.uniform(25.0, 40.0) for _ in steps]


def genuine(
    photo_path: str | Path, steps: Sequence[str], frames: int = 15, seed: int = 0
) -> list[bytes]:
    """A synthetic genuine head turn (JPEG frames): frontal, each step asked, back."""
    rng = random.Random(f"{Path(photo_path).name}:{','.join(steps)}:{seed}")
    face = _Face(photo_path, rng)
    return _render_head(face, yaw_profile(steps, frames, _peaks(steps, rng), rng), rng)


def attack(
    kind: str,
    photo_path: str | Path,
    steps: Sequence[str],
    frames: int = 15,
    seed: int = 0,
    other_photo: str | Path | None = None,
) -> list[bytes]:
    """An attack sequence of the given kind (ATTACKS, or IDENTITY_ATTACKS with another
    person's photo) on the victim in `photo_path`, answering `steps`."""
    rng = random.Random(f"{kind}:{Path(photo_path).name}:{','.join(steps)}:{seed}")
    if kind in IDENTITY_ATTACKS:
        if other_photo is None:
            raise ValueError(f"{kind} needs other_photo")
        impostor = genuine(other_photo, steps, frames, seed)
        if kind == "other_person":
            return impostor
        victim = _Face(photo_path, rng)
        still = _render_head(victim, [0.0] * 3, rng)
        return still + impostor[3:]
    face = _Face(photo_path, rng)
    # A sheet turned as far as a head reads as a smaller turn (its nose does not move
    # across the face): the attacker turns it further, so that the pose passes and
    # the depth checks are what is tested.
    yaws = yaw_profile(steps, frames, [rng.uniform(35.0, 50.0) for _ in steps], rng)
    if kind == "print_turned":
        return _render_sheet(face, yaws, rng)
    if kind == "print_tilted":
        return _render_sheet(face, yaws, rng, tilt=True)
    if kind == "print_bent":
        return _render_sheet(face, yaws, rng, bend="vertical")
    if kind == "print_bent_horizontal":
        return _render_sheet(face, yaws, rng, bend="horizontal")
    if kind == "still":
        return _render_head(face, [0.0] * frames, rng)
    if kind == "wrong_order":
        return _render_head(
            face, yaw_profile(list(reversed(steps)), frames, _peaks(steps, rng), rng), rng
        )
    if kind == "one_way":
        return _render_head(face, yaw_profile(steps[:1], frames, _peaks(steps[:1], rng), rng), rng)
    raise ValueError(f"unknown attack {kind!r}")


def frame_of(photo: bytes) -> bytes:
    """Any photo as a challenge frame: fitted into FRAME_SIZE, JPEG."""
    image = cv2.imdecode(np.frombuffer(photo, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not an image")
    width, height = FRAME_SIZE
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
    canvas = np.full((height, width, 3), 90, dtype=np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return _jpeg(canvas, random.Random(0))


def write_y4m(frames: Sequence[bytes], path: str | Path, fps: int = 10) -> Path:
    """JPEG frames -> a 4:2:0 Y4M video (Chromium's fake camera reads this)."""
    path = Path(path)
    width, height = FRAME_SIZE
    command = [
        "ffmpeg",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "image2pipe",
        "-framerate",
        str(fps),
        "-c:v",
        "mjpeg",
        "-i",
        "-",
        "-vf",
        f"scale={width}:{height},format=yuv420p",
        "-f",
        "yuv4mpegpipe",
        str(path),
    ]
    subprocess.run(command, input=b"".join(frames), check=True, capture_output=True)
    return path
