"""The face pipeline as it runs inside a face worker: photo bytes in, embedding out.

This module is what a worker process imports, so its top level needs the standard
library only; numpy, OpenCV, dlib and DeepFace are imported when a worker starts
(after it has set DEEPFACE_HOME, its log level and its thread counts).

Steps, for every photo (enrolment or selfie):

1. decode (JPEG/PNG/WebP, already checked from its header in the web process),
   JPEG-draft-decode straight to about the working size, downscale to at most
   `face_max_side`, apply the EXIF orientation;
2. detect with DeepFace's `dlib` detector client (HOG, upsampled once, 5-point
   landmarks) on a copy at most DETECTION_SIDE px wide: detection cost no longer
   grows with the photo, and the smallest face found is still ~3 % of the photo;
3. exactly one face, scoring at least MIN_DETECTION_CONFIDENCE (dlib's HOG gives
   weak scores to false hits: skimage's astronaut has one on her arm at 0.12);
4. landmarks again at working resolution, and the face box from the landmarks
   (see `landmark_box`); DeepFace's own `extract_face` then rotates the eyes level
   and crops, `resize_image` pads/resizes to 150x150 and DeepFace's `Dlib` client
   embeds it (128 numbers);
5. with an enrolled embedding given, DeepFace's cosine `find_distance` and the
   threshold (DeepFace's for the model, unless configured).

Why the face box comes from the landmarks: DeepFace crops the HOG detector's box,
and that box jumps with the image scale (pyramid steps of 1.2x and an 8-pixel cell
grid): measured on ../shared/faces, the same photo at 800 instead of 640 px moved
a same-person distance from 0.060 to 0.092, and at 1024 px a cross-person pair fell
to 0.0696, under the 0.07 threshold. The 5 landmarks barely move with scale, so a
box derived from them makes the crop, and the distance, stable (docs/faces.md has
the table). Its geometry (2.2 eye distances wide, centred 0.45 eye distances below
the eyes) is the HOG box's average shape, measured on the two package photos.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("smsbank.faces")

# Detection runs on a copy no wider than this (then upsampled once by DeepFace's client).
DETECTION_SIDE = 640
# dlib HOG scores: real faces score > 0.8 in every photo we have; stray hits ~0.1-0.4.
MIN_DETECTION_CONFIDENCE = 0.3
# Challenge frames are searched for faces on a copy no wider than this, not upsampled:
# the smallest face found is then ~80 px across at this size (~110 px in a 640 frame).
LIVENESS_DETECTION_SIDE = 480
# Below this eye distance (px at working size) the face is too small to embed well.
MIN_EYE_DISTANCE = 28
# The landmark box: width and drop below the eye midpoint, in eye distances.
LANDMARK_BOX_WIDTH = 2.2
LANDMARK_BOX_DROP = 0.45

LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"

# EXIF orientation -> PIL transpose (the table of PIL.ImageOps.exif_transpose).
_ORIENTATION = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


@dataclass(frozen=True)
class EngineConfig:
    """What a worker needs to know; plain values so it pickles cheaply."""

    model_name: str
    detector: str
    deepface_home: str
    max_side: int
    max_pixels: int
    threshold: float | None
    nice: int = 0


class _Rejected(Exception):
    """A photo the pipeline cannot use; carries the code and a message for the person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# One engine per configuration and process. A worker only ever sees one; the CLI's
# in-process engines may differ (another threshold), and DeepFace caches the models.
_engines: dict[EngineConfig, _Engine] = {}
_engine_errors: dict[EngineConfig, str] = {}
_engine_lock = threading.Lock()


def init_worker(config: EngineConfig, parent_pid: int | None = None) -> None:
    """Process-pool initializer: lower priority, quiet DeepFace, load the models once.

    The lower priority (nice) is what keeps webhooks fast while selfies are being
    checked: on a small server the face workers and the web process share the same
    cores, and the kernel then runs the web process first.
    """
    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    os.environ["DEEPFACE_HOME"] = config.deepface_home
    os.environ.setdefault("DEEPFACE_LOG_LEVEL", str(logging.WARNING))
    # One thread per worker: parallelism comes from the pool, not from OpenMP/BLAS.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if config.nice > 0:
        os.nice(config.nice)
    load_engine(config)


def _exit_with_parent(parent_pid: int) -> None:
    """Leave when the web process is gone, even if it was killed without a goodbye.

    A pool worker waits on a queue whose write end it also holds, so it would never
    notice on its own; and hypercorn's workers are daemonic processes, whose children
    multiprocessing would otherwise expect to be cleaned up for them.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="face-parent-watch", daemon=True).start()


def load_engine(config: EngineConfig) -> None:
    """Build the model and detector (once); remember a failure to report it per job."""
    with _engine_lock:
        if config in _engines or config in _engine_errors:
            return
        from smsbank.faces.weights import MissingWeights

        try:
            _engines[config] = _Engine(config)
        except (MissingWeights, ImportError, ValueError) as exc:
            # Reported by every job (and by the warm-up, which stops start-up).
            _engine_errors[config] = str(exc)


def _get_engine(config: EngineConfig) -> _Engine:
    load_engine(config)
    engine = _engines.get(config)
    if engine is None:
        raise RuntimeError(_engine_errors.get(config, "the face engine did not load"))
    return engine


def warm_up(config: EngineConfig) -> dict[str, Any]:
    """Run every stage once on a synthetic picture, so the first selfie is not slow."""
    try:
        engine = _get_engine(config)
    except RuntimeError as exc:
        return {"status": "error", "message": str(exc), "pid": os.getpid()}
    started = time.perf_counter()
    engine.warm_up()
    return {
        "status": "ok",
        "pid": os.getpid(),
        "threshold": engine.threshold,
        "seconds": round(time.perf_counter() - started, 3),
    }


def process_photo(
    config: EngineConfig, data: bytes, fmt: str, enrolled: tuple[float, ...] | None
) -> dict[str, Any]:
    """Photo bytes -> {"status": "ok", "embedding", "distance", "threshold", ...}
    or {"status": "rejected", "code", "message"} or {"status": "error", "message"}."""
    try:
        engine = _get_engine(config)
    except RuntimeError as exc:
        return {"status": "error", "message": str(exc)}
    try:
        return engine.process(data, fmt, enrolled)
    except _Rejected as rejected:
        return {"status": "rejected", "code": rejected.code, "message": rejected.message}


def challenge_landmarks(config: EngineConfig, frames: list[tuple[bytes, str]]) -> dict[str, Any]:
    """Consecutive frames of a challenge -> the one face's 68 landmarks in each:
    {"status": "ok", "points": [[[x, y] * 68] per frame], "boxes": [the HOG box
    (left, top, right, bottom) or None per frame], "sizes": [[w, h] per frame]}
    or {"status": "rejected", "code", "message", "frame": index} or "error"."""
    try:
        engine = _get_engine(config)
    except RuntimeError as exc:
        return {"status": "error", "message": str(exc)}
    tracker = _FaceTracker(engine)
    points, boxes, sizes = [], [], []
    for index, (data, fmt) in enumerate(frames):
        try:
            bgr = engine.decode(data, fmt)
            points.append(tracker.landmarks(bgr))
            boxes.append(tracker.detected)
        except _Rejected as rejected:
            return {
                "status": "rejected",
                "code": rejected.code,
                "message": rejected.message,
                "frame": index,
            }
        sizes.append([int(bgr.shape[1]), int(bgr.shape[0])])
    return {"status": "ok", "points": points, "boxes": boxes, "sizes": sizes}


def challenge_decision(
    _config: EngineConfig,
    points: list[list[list[float]]],
    size: tuple[int, int],
    steps: tuple[str, ...],
    liveness: Any,
) -> Any:
    """smsbank.faces.liveness.decide, in a worker (it needs OpenCV)."""
    from smsbank.faces.liveness import decide

    tracks = [[(p[0], p[1]) for p in frame] for frame in points]
    return decide(tracks, size, steps, liveness)


def challenge_embedding(
    config: EngineConfig,
    data: bytes,
    fmt: str,
    box: tuple[int, int, int, int] | None,
    enrolled: tuple[float, ...] | None,
) -> dict[str, Any]:
    """One frame of a challenge -> its face's embedding (and distance to `enrolled`).

    From the face box on, this is the enrolment path: the 5 landmarks inside the box,
    the box derived from them (`landmark_box`, which makes the crop independent of
    the detector box), DeepFace's alignment and crop, the Dlib embedding. The box is
    the frame's HOG detection, or for a turned face the HOG detector missed, the box
    around its tracked 68 landmarks; without one the frame is searched here, as the
    tracker does (one face, or a refusal).
    """
    try:
        engine = _get_engine(config)
    except RuntimeError as exc:
        return {"status": "error", "message": str(exc)}
    try:
        bgr = engine.decode(data, fmt)
        if box is None:
            tracker = _FaceTracker(engine)
            points = tracker.landmarks(bgr)
            box = tracker.detected or landmarks_to_box(points)
        embedding = engine.embed(engine.aligned_face(bgr, box, 1.0))
        return {
            "status": "ok",
            "embedding": embedding,
            "distance": engine.distance(embedding, enrolled),
            "threshold": engine.threshold,
        }
    except _Rejected as rejected:
        return {"status": "rejected", "code": rejected.code, "message": rejected.message}


def landmarks_to_box(points: list[list[float]]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a HOG-like face box around 68 landmarks.

    dlib's HOG box runs from about the brows to the chin and a little inside the
    jaw line; the 5-point predictor was trained on such boxes.
    """
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)
    return round(left), round(top - 0.05 * (bottom - top)), round(right), round(bottom)


class _FaceTracker:
    """The one face of a challenge, followed from frame to frame.

    Every frame is searched for faces (a second face anywhere refuses the challenge),
    on a small grey copy, without upsampling: the face of a selfie is large. A frame
    where the frontal HOG detector misses the face, as it does for a head turned
    30-40 degrees, keeps the previous frame's face box, widened, and the 68-point
    predictor, which handles that much yaw, finds the landmarks inside it.
    """

    def __init__(self, engine: _Engine) -> None:
        self.engine = engine
        self.box: tuple[float, float, float, float] | None = None
        self.detected: tuple[int, int, int, int] | None = None  # this frame's HOG box

    def landmarks(self, bgr: Any) -> list[list[float]]:
        import cv2
        import dlib

        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        height, width = gray.shape
        scale = min(1.0, LIVENESS_DETECTION_SIDE / max(height, width))
        small = (
            cv2.resize(
                gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
            if scale < 1.0
            else gray
        )
        detections, scores, _ = self.engine.frontal_detector.run(small, 0, 0.0)
        boxes = [
            (d.left() / scale, d.top() / scale, d.right() / scale, d.bottom() / scale)
            for d, score in zip(detections, scores, strict=True)
            if score >= MIN_DETECTION_CONFIDENCE
        ]
        if self.box is None:
            _check_count(len(boxes))
            detected: tuple[float, ...] | None = boxes[0]
        else:
            overlapping = [b for b in boxes if _overlap(b, self.box) > 0.3]
            if len(boxes) > len(overlapping) or len(overlapping) > 1:
                _check_count(2)
            detected = overlapping[0] if overlapping else None
        box = detected if detected is not None else _widen(self.box or (0, 0, 0, 0), 0.1)
        self.detected = (
            None
            if detected is None
            else (round(detected[0]), round(detected[1]), round(detected[2]), round(detected[3]))
        )
        shape = self.engine.predictor68(
            gray, dlib.rectangle(int(box[0]), int(box[1]), int(box[2]), int(box[3]))
        )
        points = [[float(p.x), float(p.y)] for p in shape.parts()]
        self.box = landmarks_to_box(points)
        if math.dist(points[36], points[45]) < MIN_EYE_DISTANCE:
            raise _Rejected(
                "face_too_small",
                "Your face is too small in the picture. Hold the camera closer and try again.",
            )
        return points


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over the smaller box's area."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / smaller if smaller > 0 else 0.0


def _widen(box: tuple[float, ...], share: float) -> tuple[float, float, float, float]:
    dx = (box[2] - box[0]) * share
    dy = (box[3] - box[1]) * share
    return (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)


class _Engine:
    """DeepFace's model and detector clients, loaded once per process."""

    def __init__(self, config: EngineConfig) -> None:
        import cv2
        from PIL import Image

        from smsbank.faces.weights import forbid_downloads

        cv2.setNumThreads(1)
        # Decoding refuses more pixels than allowed even if a header slipped through.
        Image.MAX_IMAGE_PIXELS = config.max_pixels
        forbid_downloads(config.deepface_home)

        from deepface.modules import modeling, verification

        self.config = config
        self.model = modeling.build_model(task="facial_recognition", model_name=config.model_name)
        self.detector = modeling.build_model(task="face_detector", model_name=config.detector)
        self._predictor68: Any = None
        self._frontal_detector: Any = None
        self.threshold = (
            float(config.threshold)
            if config.threshold is not None
            else float(verification.find_threshold(config.model_name, "cosine"))
        )

    @property
    def predictor68(self) -> Any:
        """dlib's 68-point landmark model (liveness only), loaded on first use."""
        if self._predictor68 is None:
            import dlib

            from smsbank.faces.weights import MissingWeights, packaged_weights_dir

            path = packaged_weights_dir() / LANDMARKS_68
            if not path.is_file():
                raise MissingWeights(
                    f"{LANDMARKS_68} is missing from {path.parent}; it ships in the "
                    "face-recognition-models package"
                )
            self._predictor68 = dlib.shape_predictor(str(path))
        return self._predictor68

    @property
    def frontal_detector(self) -> Any:
        """dlib's HOG face detector (what the `dlib` detector backend runs), for
        challenge frames whatever the configured detector."""
        if self._frontal_detector is None:
            import dlib

            self._frontal_detector = dlib.get_frontal_face_detector()
        return self._frontal_detector

    # -- stages ---------------------------------------------------------------

    def process(self, data: bytes, fmt: str, enrolled: tuple[float, ...] | None) -> dict[str, Any]:
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        bgr = self.decode(data, fmt)
        timings["decode_ms"] = _ms_since(clock)
        clock = time.perf_counter()
        face = self.one_face(bgr)
        timings["detect_ms"] = _ms_since(clock)
        clock = time.perf_counter()
        embedding = self.embed(face)
        timings["embed_ms"] = _ms_since(clock)
        distance = self.distance(embedding, enrolled)
        return {
            "status": "ok",
            "embedding": embedding,
            "distance": distance,
            "threshold": self.threshold,
            "size": [int(bgr.shape[1]), int(bgr.shape[0])],
            "timings": timings,
        }

    def distance(self, embedding: list[float], enrolled: tuple[float, ...] | None) -> float | None:
        """DeepFace's cosine distance to the enrolled embedding (None without one)."""
        if enrolled is None:
            return None
        from deepface.modules import verification

        if len(enrolled) != len(embedding):
            raise _Rejected(
                "face_model_changed",
                "The enrolled face was made with another face model; please re-enrol.",
            )
        return float(verification.find_distance(list(enrolled), embedding, "cosine"))

    def decode(self, data: bytes, fmt: str) -> Any:
        """Bytes -> BGR array no larger than max_side, upright per EXIF."""
        import numpy as np
        from PIL import Image

        max_side = self.config.max_side
        try:
            image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]])
            orientation = image.getexif().get(0x0112, 1)
            width, height = image.size
            scale = min(1.0, max_side / max(width, height))
            target = (max(1, round(width * scale)), max(1, round(height * scale)))
            if image.format == "JPEG" and scale < 1.0:
                # Let libjpeg decode at 1/2, 1/4 or 1/8 size directly: a 12 MP selfie
                # costs a fraction of a full decode and of the memory.
                image.draft("RGB", target)
            image = _to_rgb(image)
            if image.size != target:
                image = image.resize(target, Image.Resampling.LANCZOS)
            if orientation in _ORIENTATION:
                image = image.transpose(Image.Transpose[_ORIENTATION[orientation]])
            rgb = np.asarray(image)
        except Exception as exc:
            # Untrusted bytes: Pillow's decoders raise OSError, SyntaxError, ValueError,
            # EOFError, struct.error, zlib.error... for damaged files. Every one of them
            # means the same to the customer: this photo cannot be read.
            log.info("photo not decodable", extra={"error": type(exc).__name__})
            raise _Rejected(
                "photo_unreadable",
                "The photo could not be read (it may be damaged or incomplete). "
                "Please take it again.",
            ) from exc
        return np.ascontiguousarray(rgb[:, :, ::-1])  # DeepFace works in BGR

    def one_face(self, bgr: Any) -> Any:
        """Exactly one usable face, aligned and cropped (BGR); else a clear rejection."""
        if self.config.detector != "dlib":
            return self._one_face_generic(bgr)
        import cv2

        height, width = bgr.shape[:2]
        scale = min(1.0, DETECTION_SIDE / max(height, width))
        small = (
            cv2.resize(
                bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
            if scale < 1.0
            else bgr
        )
        regions = [
            r for r in self.detector.detect_faces(small) if r.confidence >= MIN_DETECTION_CONFIDENCE
        ]
        _check_count(len(regions))
        region = regions[0]
        box = (
            int(region.x / scale),
            int(region.y / scale),
            int((region.x + region.w) / scale),
            int((region.y + region.h) / scale),
        )
        return self.aligned_face(bgr, box, region.confidence)

    def aligned_face(self, bgr: Any, box: tuple[int, int, int, int], confidence: float) -> Any:
        """The face in `box` (left, top, right, bottom at working size), aligned and
        cropped the way DeepFace does for the embedding."""
        import dlib
        from deepface.models.Detector import FacialAreaRegion
        from deepface.modules import detection

        # Landmarks again, at working resolution, inside the detection box scaled up.
        shape = self.detector.model["sp"](bgr, dlib.rectangle(*box))
        # DeepFace's Dlib client: parts 0-1 are the person's left eye, 2-3 the right.
        left_eye = (
            (shape.part(0).x + shape.part(1).x) / 2,
            (shape.part(0).y + shape.part(1).y) / 2,
        )
        right_eye = (
            (shape.part(2).x + shape.part(3).x) / 2,
            (shape.part(2).y + shape.part(3).y) / 2,
        )
        eye_distance = math.dist(left_eye, right_eye)
        if eye_distance < MIN_EYE_DISTANCE:
            raise _Rejected(
                "face_too_small",
                "Your face is too small in the photo. Hold the camera closer and try again.",
            )
        x, y, size = landmark_box(left_eye, right_eye)
        area = FacialAreaRegion(
            x=x,
            y=y,
            w=size,
            h=size,
            left_eye=(int(left_eye[0]), int(left_eye[1])),
            right_eye=(int(right_eye[0]), int(right_eye[1])),
            confidence=confidence,
        )
        detected = detection.extract_face(
            facial_area=area,
            img=bgr,
            align=True,
            expand_percentage=0,
            width_border=0,
            height_border=0,
            detector_backend=self.config.detector,
        )
        if detected.img.shape[0] == 0 or detected.img.shape[1] == 0:
            raise _Rejected("no_face", _NO_FACE)
        return detected.img

    def _one_face_generic(self, bgr: Any) -> Any:
        """Other detectors (operator-supplied): DeepFace's own detection, as is."""
        from deepface.modules import detection

        faces = [
            f
            for f in detection.detect_faces(
                detector_backend=self.config.detector, img=bgr, align=True
            )
            if (f.confidence or 0) >= MIN_DETECTION_CONFIDENCE
        ]
        _check_count(len(faces))
        return faces[0].img

    def embed(self, face_bgr: Any) -> list[float]:
        """DeepFace's representation steps for one aligned face crop."""
        import numpy as np
        from deepface.modules import preprocessing

        height, width = self.model.input_shape
        img = face_bgr.astype(np.float32) / 255.0  # as extract_faces hands it over
        img = preprocessing.resize_image(img=img, target_size=(width, height))
        img = preprocessing.normalize_input(img=img, normalization="base")
        embedding = self.model.forward(img)
        return [float(v) for v in embedding]

    def warm_up(self) -> None:
        import numpy as np

        gray = np.full((480, 360, 3), 128, dtype=np.uint8)
        self.detector.detect_faces(gray)
        self.embed(np.full((200, 200, 3), 128, dtype=np.uint8))


def landmark_box(
    left_eye: tuple[float, float], right_eye: tuple[float, float]
) -> tuple[int, int, int]:
    """(x, y, size) of the square face box implied by the eyes.

    Centred LANDMARK_BOX_DROP eye distances below the eye midpoint, along the face's
    own downward direction (so a tilted head gets a centred box too).
    """
    ex, ey = left_eye[0] - right_eye[0], left_eye[1] - right_eye[1]
    distance = math.hypot(ex, ey)
    down = (-ey / distance, ex / distance)
    mid = ((left_eye[0] + right_eye[0]) / 2, (left_eye[1] + right_eye[1]) / 2)
    cx = mid[0] + LANDMARK_BOX_DROP * distance * down[0]
    cy = mid[1] + LANDMARK_BOX_DROP * distance * down[1]
    size = LANDMARK_BOX_WIDTH * distance
    return round(cx - size / 2), round(cy - size / 2), round(size)


_NO_FACE = (
    "We could not find a face in the photo. Face the camera in good light, "
    "with nothing covering your face, and try again."
)


def _check_count(count: int) -> None:
    if count == 0:
        raise _Rejected("no_face", _NO_FACE)
    if count > 1:
        raise _Rejected(
            "several_faces",
            "There is more than one face in the photo. Make sure only you are in the "
            "picture and try again.",
        )


def _to_rgb(image: Any) -> Any:
    """RGB, with transparent areas (PNG/WebP) on white rather than on black."""
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
