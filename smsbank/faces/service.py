"""FaceService: the face engine as a component of the running bank.

Theory of operation
-------------------
The web process never runs the face model. It checks an upload's size, type and
pixel count from the header (`smsbank.faces.images`), then hands the bytes to a pool
of `face_workers` worker processes, each of which loaded DeepFace's model and detector
once at start (`smsbank.faces.pipeline`). Only a short list of numbers (the embedding,
the distance) comes back.

Why processes rather than threads: dlib's detector and network hold the GIL while
they run (about 60 + 60 ms per photo), so in a thread they would stall every webhook
for that long; measured with a 12 MP selfie, a thread pool raised the event loop's
worst pause to the whole verification time, the process pool kept it near zero (see
docs/faces.md). The workers also run at a lower CPU priority (nice 10), so on a
two-core server a burst of selfies slows other selfies, not the SMS webhooks.

The pool is bounded twice: `face_workers` processes, and at most `max_pending`
photos waiting or running; beyond that the bank answers 503 "try again" instead of
queueing photos in memory. A worker that dies (out of memory, a crash in a native
decoder) breaks the pool: it is rebuilt and the request gets a 503.

`workers=0` runs the same pipeline in a thread of this process: the CLI uses it
(one photo at a time, no pool to spawn); the server never does.

The service holds no asyncio objects, so one started service can be shared across
event loops: the test suite warms one for the whole session.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from smsbank.core.errors import BankError
from smsbank.core.settings import Settings
from smsbank.faces import pipeline
from smsbank.faces.images import PhotoRejected, check_photo
from smsbank.faces.liveness import STEPS, LivenessConfig, LivenessVerdict
from smsbank.faces.weights import MissingWeights, provision_weights
from smsbank.ops import metrics

log = logging.getLogger("smsbank.faces")

WORKER_NICE = 10


class FaceUnavailable(BankError):
    """The face engine cannot take this photo now (starting, busy, or restarting)."""

    status = 503
    code = "face_check_unavailable"


class FaceEngineError(RuntimeError):
    """The face engine cannot start (missing weights, broken install): stops start-up."""


@dataclass(frozen=True)
class FaceResult:
    """One photo through the pipeline."""

    embedding: list[float]
    threshold: float
    distance: float | None = None  # set when compared with an enrolled embedding
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        # DeepFace's rule: a distance at or under the threshold is the same person.
        return self.distance is not None and self.distance <= self.threshold


@dataclass(frozen=True)
class ChallengeResult:
    """A head-turn challenge through the pipeline: every check passed, or why not."""

    passed: bool
    # None when passed, else "liveness", "no_match", "no_face", "several_faces",
    # "not_same_person" or "unreadable" (a frame that is not a decodable image).
    reason: str | None
    # "left" / "right" when a turn asked for was not seen (for the customer's message).
    failed_step: str | None
    detail: str  # for logs and audit: which check failed, and its measured value
    distance: float | None  # frontal frame vs the enrolled embedding (None for enrolment)
    threshold: float
    embedding: tuple[float, ...] | None  # the frontal frame's (enrolment stores it)
    seconds: float


class FaceService:
    """Start it, then `await analyse(photo, enrolled)`; stop it at shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        workers: int | None = None,
        warmup: bool | None = None,
        max_pending: int | None = None,
    ) -> None:
        self.settings = settings
        self.workers = settings.face_workers if workers is None else workers
        self.warmup = settings.face_warmup if warmup is None else warmup
        self.max_pending = max_pending or max(4, 4 * max(self.workers, 1))
        self.model_label = f"{settings.face_model}/{settings.face_detector}"[:40]
        self.ready = False
        self.threshold: float | None = settings.face_threshold
        self.worker_pids: set[int] = set()
        self._config: pipeline.EngineConfig | None = None
        self._executor: Executor | None = None
        self._lock = threading.Lock()
        self._pending = 0

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Provision the weights (offline), start the pool and warm every worker."""
        if self._executor is not None:
            return
        settings = self.settings
        try:
            home = await asyncio.to_thread(
                provision_weights,
                settings.deepface_home,
                model_name=settings.face_model,
                detector=settings.face_detector,
            )
        except MissingWeights as exc:
            raise FaceEngineError(str(exc)) from exc
        self._config = pipeline.EngineConfig(
            model_name=settings.face_model,
            detector=settings.face_detector,
            deepface_home=home,
            max_side=settings.face_max_side,
            max_pixels=settings.face_max_pixels,
            threshold=settings.face_threshold,
            nice=WORKER_NICE if self.workers > 0 else 0,
        )
        self._executor = self._new_executor()
        if self.warmup:
            try:
                await self._warm_up()
            except BaseException:
                await self.stop()
                raise
        self.ready = True
        log.info(
            "face engine ready",
            extra={
                "model": self.model_label,
                "workers": self.workers,
                "warmed": self.warmup,
                "threshold": self.threshold,
            },
        )

    async def stop(self) -> None:
        self.ready = False
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, True, cancel_futures=True)

    def _new_executor(self) -> Executor:
        assert self._config is not None
        if self.workers <= 0:
            executor: Executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="face")
            executor.submit(pipeline.load_engine, self._config)
            return executor
        # spawn, not fork: the web process has threads (database drivers, the loop's
        # executor) and forking a threaded process can deadlock the child.
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=pipeline.init_worker,
            initargs=(self._config, os.getpid()),
        )

    async def _warm_up(self) -> None:
        assert self._executor is not None and self._config is not None
        with _children_allowed():
            jobs = [
                asyncio.wrap_future(self._executor.submit(pipeline.warm_up, self._config))
                for _ in range(max(self.workers, 1))
            ]
        results = await asyncio.gather(*jobs)
        for result in results:
            if result["status"] != "ok":
                raise FaceEngineError(f"the face engine could not start: {result['message']}")
            self.threshold = float(result["threshold"])
            self.worker_pids.add(int(result["pid"]))

    # -- work -----------------------------------------------------------------

    async def analyse(self, photo: bytes, enrolled: Sequence[float] | None = None) -> FaceResult:
        """Embed the one face in `photo` (and compare it with `enrolled`, if given).

        Raises PhotoTooLarge / UnsupportedPhoto / PhotoRejected (4xx) for the photo,
        FaceUnavailable (503) when the engine cannot take it now.
        """
        started = time.perf_counter()
        outcome = "unavailable"
        try:
            result = await self._analyse(photo, enrolled)
            outcome = "ok"
            return result
        except FaceUnavailable:
            raise
        except BankError:
            outcome = "rejected"
            raise
        finally:
            metrics.observe_face_analysis(outcome, time.perf_counter() - started)

    async def _analyse(self, photo: bytes, enrolled: Sequence[float] | None) -> FaceResult:
        info = check_photo(
            photo,
            max_bytes=self.settings.face_max_upload_bytes,
            max_pixels=self.settings.face_max_pixels,
        )
        reference = tuple(float(v) for v in enrolled) if enrolled is not None else None
        result = await self._run(pipeline.process_photo, photo, info.format, reference)
        if result["status"] == "rejected":
            raise PhotoRejected(result["message"], code=result["code"])
        if result["status"] != "ok":
            log.error("face engine failed", extra={"error": result.get("message")})
            raise FaceUnavailable("the face check is not available right now; try again shortly")
        self.threshold = float(result["threshold"])
        log.info("face analysed", extra={"size": result["size"], **result["timings"]})
        return FaceResult(
            embedding=list(result["embedding"]),
            threshold=float(result["threshold"]),
            distance=result["distance"],
            timings=dict(result["timings"]),
        )

    async def analyse_challenge(
        self,
        frames: Sequence[bytes],
        steps: Sequence[str],
        enrolled: Sequence[float] | None,
        config: LivenessConfig,
    ) -> ChallengeResult:
        """Decide a head-turn challenge from its frames (in order, as the camera saw them).

        Every check must pass: one face in every frame, the head turning as asked
        like a three-dimensional head (smsbank.faces.liveness), the frontal (first)
        frame and one frame of each turn (its furthest within identity_max_yaw) the
        same person, and with `enrolled` that person the enrolled customer. Raises
        FaceUnavailable (503) when the engine cannot take the frames now, ValueError
        for steps other than "left"/"right"; every other outcome is a ChallengeResult.
        """
        if not steps or any(step not in STEPS for step in steps):
            raise ValueError(f"steps must be {' / '.join(STEPS)}, got {list(steps)}")
        started = time.perf_counter()
        outcome = "unavailable"
        # A challenge is admitted as one unit against max_pending (its frames go to
        # every worker at once; counting each job would refuse a few challenges at once).
        with self._lock:
            self._admit()
        try:
            result = await self._analyse_challenge(frames, steps, enrolled, config, started)
            outcome = "ok" if result.passed else "rejected"
            return result
        finally:
            with self._lock:
                self._pending -= 1
            metrics.observe_face_analysis(outcome, time.perf_counter() - started)

    async def _analyse_challenge(
        self,
        frames: Sequence[bytes],
        steps: Sequence[str],
        enrolled: Sequence[float] | None,
        config: LivenessConfig,
        started: float,
    ) -> ChallengeResult:
        threshold = float(self.threshold) if self.threshold is not None else 0.0

        def refuse(reason: str, detail: str, failed_step: str | None = None) -> ChallengeResult:
            return ChallengeResult(
                passed=False,
                reason=reason,
                failed_step=failed_step,
                detail=detail,
                distance=None,
                threshold=threshold,
                embedding=None,
                seconds=time.perf_counter() - started,
            )

        formats = []
        for index, frame in enumerate(frames):
            try:
                info = check_photo(
                    frame,
                    max_bytes=self.settings.face_max_upload_bytes,
                    max_pixels=self.settings.face_max_pixels,
                )
            except BankError as exc:
                return refuse("unreadable", f"frame {index}: {exc}")
            formats.append(info.format)
        if len(frames) < config.min_frames:
            return refuse(
                "liveness", f"frames={len(frames)} < min_frames={config.min_frames}", steps[0]
            )
        reference = tuple(float(v) for v in enrolled) if enrolled is not None else None
        # The first frame is the frontal one (the page films from "look straight
        # ahead"), so its embedding is computed while the landmarks are tracked.
        tracks, frontal = await asyncio.gather(
            self._challenge_tracks(list(zip(frames, formats, strict=True))),
            self._run(
                pipeline.challenge_embedding, frames[0], formats[0], None, reference, counted=False
            ),
        )
        tracked = time.perf_counter()
        if isinstance(tracks, str):
            code, detail = tracks.split(":", 1)
            return refuse(_CHALLENGE_REASONS.get(code, "no_face"), detail)
        points, boxes, size = tracks
        verdict: LivenessVerdict = await self._run(
            pipeline.challenge_decision, points, size, tuple(steps), config, counted=False
        )
        if not verdict.passed:
            return refuse("liveness", verdict.detail, verdict.failed_step)
        extremes = await asyncio.gather(
            *(
                self._run(
                    pipeline.challenge_embedding,
                    frames[index],
                    formats[index],
                    boxes[index] or pipeline.landmarks_to_box(points[index]),
                    None,
                    counted=False,
                )
                for index in verdict.identities
            )
        )
        embedded = [frontal, *extremes]
        for index, result in zip([0, *verdict.identities], embedded, strict=True):
            if result["status"] == "rejected":
                code = result["code"]
                return refuse(_CHALLENGE_REASONS.get(code, "no_face"), f"frame {index}: {code}")
            if result["status"] != "ok":
                log.error("face engine failed", extra={"error": result.get("message")})
                raise FaceUnavailable(
                    "the face check is not available right now; try again shortly"
                )
        log.info(
            "challenge analysed",
            extra={
                "frames": len(frames),
                "track_ms": round((tracked - started) * 1000, 1),
                "total_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        frontal = embedded[0]
        threshold = float(frontal["threshold"])
        self.threshold = threshold
        drifts = [
            cosine_distance(frontal["embedding"], other["embedding"]) for other in embedded[1:]
        ]
        detail = f"{verdict.detail}; same_person=" + ",".join(f"{d:.3f}" for d in drifts)
        if max(drifts) > config.same_person_threshold:
            return refuse(
                "not_same_person",
                f"{detail} > same_person_threshold={config.same_person_threshold}",
            )
        distance = frontal["distance"]
        if distance is not None:
            detail += f"; distance={distance:.4f} threshold={threshold}"
            if distance > threshold:
                return ChallengeResult(
                    passed=False,
                    reason="no_match",
                    failed_step=None,
                    detail=detail,
                    distance=float(distance),
                    threshold=threshold,
                    embedding=None,
                    seconds=time.perf_counter() - started,
                )
        return ChallengeResult(
            passed=True,
            reason=None,
            failed_step=None,
            detail=detail,
            distance=None if distance is None else float(distance),
            threshold=threshold,
            embedding=tuple(float(v) for v in frontal["embedding"]),
            seconds=time.perf_counter() - started,
        )

    async def _challenge_tracks(
        self, frames: list[tuple[bytes, str]]
    ) -> tuple[list[list[list[float]]], list[Any], tuple[int, int]] | str:
        """The 68 landmarks of every frame, the frames split over the workers in runs
        of consecutive frames (each run tracks its own face); or "code:detail"."""
        parts = max(1, min(self.workers, len(frames)))
        bounds = [round(i * len(frames) / parts) for i in range(parts + 1)]
        runs = [frames[bounds[i] : bounds[i + 1]] for i in range(parts)]
        results = await asyncio.gather(
            *(self._run(pipeline.challenge_landmarks, run, counted=False) for run in runs)
        )
        points: list[list[list[float]]] = []
        boxes: list[Any] = []
        sizes: list[tuple[int, int]] = []
        for start, result in zip(bounds, results, strict=False):
            if result["status"] == "rejected":
                return f"{result['code']}:frame {start + result['frame']}: {result['code']}"
            if result["status"] != "ok":
                log.error("face engine failed", extra={"error": result.get("message")})
                raise FaceUnavailable(
                    "the face check is not available right now; try again shortly"
                )
            points += result["points"]
            boxes += result["boxes"]
            sizes += [tuple(size) for size in result["sizes"]]
        if len(set(sizes)) > 1:
            return "unreadable:frames of different sizes"
        return points, boxes, sizes[0]

    async def _run(self, function: Any, *args: Any, counted: bool = True) -> Any:
        """Run `function(config, *args)` in the pool. `counted=False` for the jobs of a
        challenge, which is admitted (and counted once) as a whole."""
        with self._lock:
            executor = self._executor
            if executor is None or self._config is None:
                raise FaceUnavailable("the face check is starting; try again shortly")
            if counted:
                self._admit()
            try:
                with _children_allowed():
                    future: Future[Any] = executor.submit(function, self._config, *args)
            except (BrokenProcessPool, RuntimeError) as exc:
                if counted:
                    self._pending -= 1
                self._rebuild(executor)
                raise FaceUnavailable("the face check is restarting; try again shortly") from exc
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool as exc:
            log.error("a face worker died; restarting the pool")
            with self._lock:
                self._rebuild(executor)
            raise FaceUnavailable("the face check is restarting; try again shortly") from exc
        finally:
            if counted:
                with self._lock:
                    self._pending -= 1

    def _admit(self) -> None:
        """Count one more photo or challenge in (caller holds the lock), or 503."""
        if self._pending >= self.max_pending:
            raise FaceUnavailable(
                "the bank is checking many photos right now; try again in a moment"
            )
        self._pending += 1

    def _rebuild(self, broken: Executor) -> None:
        """Replace a broken pool (caller holds the lock)."""
        if self._executor is not broken:
            return  # someone else already replaced it
        broken.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor()


# What the worker's rejection codes mean for a challenge.
_CHALLENGE_REASONS = {
    "no_face": "no_face",
    "face_too_small": "no_face",
    "several_faces": "several_faces",
    "photo_unreadable": "unreadable",
    "face_model_changed": "no_match",
}


def cosine_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """DeepFace's cosine distance (1 - cosine similarity), without importing it here."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 1.0 - dot / norm if norm > 0 else 1.0


@contextmanager
def _children_allowed() -> Iterator[None]:
    """Let a daemonic process (a hypercorn worker) start the pool's processes.

    multiprocessing refuses children to daemonic processes because a daemon is killed
    without running its cleanup, which would orphan them. Our workers watch their
    parent and exit when it is gone (`pipeline._exit_with_parent`), and `stop()`
    shuts them down on a normal exit, so the flag is lifted while the pool spawns.
    """
    process = multiprocessing.current_process()
    daemon = process.daemon
    if daemon:
        process._config["daemon"] = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if daemon:
            process._config["daemon"] = True  # type: ignore[attr-defined]


@asynccontextmanager
async def running_face_service(
    settings: Settings, *, workers: int = 0, warmup: bool = False
) -> AsyncIterator[FaceService]:
    """A started FaceService for one-shot work outside the server (CLI, scripts)."""
    service = FaceService(settings, workers=workers, warmup=warmup)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
