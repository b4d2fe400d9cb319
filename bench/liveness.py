"""Liveness bench: error rates on synthetic head turns and attacks, and decision time.

ISO/IEC 30107-3 terms: BPCER (bona fide presentation classification error rate) is the
share of genuine sequences refused; APCER (attack presentation classification error
rate) is, per attack type, the share of attack sequences accepted. "Accepted" for an
identity attack means the challenge passed for the victim (enrolled embedding given).

Every sequence goes through FaceService.analyse_challenge with two worker processes,
as the bank runs it. The sequences are synthetic (tests/head_turns.py): real photos
re-rendered as turning heads, and the same photos as prints turned, tilted and bent.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from smsbank.core.settings import Settings
from smsbank.faces.liveness import LivenessConfig
from smsbank.faces.service import FaceService
from tests import head_turns

FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
ORDERS = (("left", "right"), ("right", "left"))


def usable_photos(short: bool) -> list[Path]:
    """One face, one identity letter: A-D of ../shared/faces (a few in --short)."""
    photos = sorted(FACES.glob("[A-D]_*.jpg"))
    if short:
        return [p for p in photos if p.name in ("A_43.jpg", "B_29.jpg", "C_35.jpg", "D_39.jpg")]
    return photos


def bench_liveness(workdir: Path, short: bool, verbose: bool = False) -> dict[str, Any]:
    return asyncio.run(_bench(workdir, short, verbose))


async def _bench(workdir: Path, short: bool, verbose: bool) -> dict[str, Any]:
    photos = usable_photos(short)
    if not photos:
        return {"skipped": f"no photos in {FACES}"}
    settings = Settings(deepface_home=str(workdir / "deepface"), face_workers=2, face_warmup=True)
    service = FaceService(settings)
    await service.start()
    config = LivenessConfig()
    cases = list(_cases(photos))
    outcomes: dict[str, list[bool]] = {}
    failures: dict[str, list[str]] = {}
    timing_sets: list[tuple[tuple[str, ...], list[bytes], tuple[float, ...]]] = []
    try:
        enrolled = {p: tuple((await service.analyse(p.read_bytes())).embedding) for p in photos}
        # Error rates: the next sequence is rendered in a thread while this one is decided.
        upcoming = asyncio.create_task(asyncio.to_thread(cases[0][3]))
        for number, (kind, photo, steps, _) in enumerate(cases):
            frames = await upcoming
            if number + 1 < len(cases):
                upcoming = asyncio.create_task(asyncio.to_thread(cases[number + 1][3]))
            result = await service.analyse_challenge(frames, steps, enrolled[photo], config)
            outcomes.setdefault(kind, []).append(result.passed)
            wrong = result.passed != (kind == head_turns.GENUINE)
            if kind == head_turns.GENUINE and len(timing_sets) < 8:
                timing_sets.append((steps, frames, enrolled[photo]))
            if verbose:
                print(
                    f"{'WRONG' if wrong else 'ok':5} {kind:22} {photo.name} {'/'.join(steps)}"
                    f" {result.reason} {result.failed_step} {result.detail}",
                    file=sys.stderr,
                    flush=True,
                )
            if wrong:
                failures.setdefault(kind, []).append(
                    f"{photo.name} {'/'.join(steps)}: {result.reason} {result.detail}"
                )
        # Decision time, alone: genuine sequences (the longest path) one after another.
        times = []
        for _ in range(2 if short else 4):
            for steps, frames, reference in timing_sets:
                started = time.perf_counter()
                await service.analyse_challenge(frames, steps, reference, config)
                times.append(time.perf_counter() - started)
    finally:
        await service.stop()
    genuine = outcomes.pop(head_turns.GENUINE)
    times.sort()
    median = statistics.median(times)
    return {
        "photos": len(photos),
        "sequences": len(cases),
        "bpcer": _rate([not ok for ok in genuine]),
        "apcer": {kind: _rate(accepted) for kind, accepted in outcomes.items()},
        "decision_median_s": round(median, 3),
        "decision_p95_s": round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 3),
        "decisions_timed": len(times),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "errors": failures,
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "target": "decision median <= 0.6 s for 15 frames (1.0 s at most)",
        "met": median <= 0.6,
    }


def _cases(
    photos: list[Path],
) -> Iterator[tuple[str, Path, tuple[str, ...], Callable[[], list[bytes]]]]:
    """(kind, victim photo, steps, render) for every photo, both step orders."""
    for photo in photos:
        other = _other_person(photo, photos)
        for steps in ORDERS:
            yield "genuine", photo, steps, partial(head_turns.genuine, photo, steps)
            for kind in head_turns.ATTACKS:
                yield kind, photo, steps, partial(head_turns.attack, kind, photo, steps)
            if other is not None:
                for kind in head_turns.IDENTITY_ATTACKS:
                    render = partial(head_turns.attack, kind, photo, steps, other_photo=other)
                    yield kind, photo, steps, render


def liveness_rows(live: dict[str, Any]) -> list[tuple[str, str, str, str, bool | None]]:
    """Rows of bench/run.py's summary table."""
    rows: list[tuple[str, str, str, str, bool | None]] = [
        (
            "liveness decision median / p95 s (15 frames)",
            f"{live['decision_median_s']} / {live['decision_p95_s']}",
            "median <= 0.6",
            "",
            live["decision_median_s"] <= 0.6,
        ),
        (
            "liveness BPCER (genuine refused)",
            f"{live['bpcer']['errors']}/{live['bpcer']['of']}",
            "-",
            f"{live['bpcer']['rate']:.1%}",
            None,
        ),
    ]
    for kind, rate in live["apcer"].items():
        rows.append(
            (
                f"liveness APCER {kind}",
                f"{rate['errors']}/{rate['of']}",
                "-",
                f"{rate['rate']:.1%}",
                None,
            )
        )
    return rows


def _other_person(photo: Path, photos: list[Path]) -> Path | None:
    letter = photo.name[0]
    others = [p for p in photos if p.name[0] != letter]
    return others[photos.index(photo) % len(others)] if others else None


def _rate(flags: list[bool]) -> dict[str, Any]:
    return {"rate": round(sum(flags) / len(flags), 3), "errors": sum(flags), "of": len(flags)}


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        figures = bench_liveness(Path(tmp), "--short" in sys.argv, verbose=True)
        print(json.dumps(figures, indent=2))
