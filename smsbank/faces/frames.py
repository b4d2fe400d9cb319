"""The frames of a head-turn challenge, checked before any face work.

A malformed post (not images, too few or too many frames, frames of different sizes,
larger than the page films, over the byte caps) says nothing about who holds the
phone, so it is refused here with a clear 4xx and uses no attempt of the link. The
count is judged before a byte is read, each frame's size while it is read (one byte
past the cap is enough), and each frame's type and pixel size from its header only:
nothing is decoded until every frame passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from smsbank.core.errors import BankError, PayloadTooLarge, Unprocessable
from smsbank.faces.images import UnsupportedPhoto, check_photo

# The page films at most 640 px on the longest side: enough for 68 landmarks, and small
# enough that 15 frames cost less to decode than one phone photo.
MAX_FRAME_SIDE = 640


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class FrameLimits:
    min_frames: int
    max_frames: int
    max_frame_bytes: int
    max_total_bytes: int
    max_pixels: int
    max_side: int = MAX_FRAME_SIDE


def read_frames(parts: Sequence[Readable], limits: FrameLimits) -> list[bytes]:
    """Every frame's bytes, in order, once all of them passed the checks."""
    count = len(parts)
    if count < limits.min_frames:
        raise Unprocessable(
            f"The check needs at least {limits.min_frames} pictures from the camera and "
            f"received {count}. Start the check again and follow the arrows.",
            code="too_few_frames",
        )
    if count > limits.max_frames:
        raise Unprocessable(
            f"The check takes at most {limits.max_frames} pictures and received {count}.",
            code="too_many_frames",
        )
    frames: list[bytes] = []
    total = 0
    for number, part in enumerate(parts, start=1):
        data = part.read(limits.max_frame_bytes + 1)
        if len(data) > limits.max_frame_bytes:
            raise PayloadTooLarge(
                f"Picture {number} is larger than {limits.max_frame_bytes // 1024} KB.",
                code="frame_too_large",
            )
        total += len(data)
        if total > limits.max_total_bytes:
            raise PayloadTooLarge(
                f"The pictures are larger than {limits.max_total_bytes // (1024 * 1024)} MB "
                "together.",
                code="frames_too_large",
            )
        frames.append(data)
    size: tuple[int, int] | None = None
    for number, data in enumerate(frames, start=1):
        size = _check_frame(number, data, size, limits)
    return frames


def _check_frame(
    number: int, data: bytes, size: tuple[int, int] | None, limits: FrameLimits
) -> tuple[int, int]:
    try:
        info = check_photo(data, max_bytes=limits.max_frame_bytes, max_pixels=limits.max_pixels)
    except BankError as exc:
        raise type(exc)(f"Picture {number}: {exc.message}.", code=exc.code) from exc
    if info.format != "jpeg":
        raise UnsupportedPhoto(f"Picture {number} is not a JPEG image.", code="frame_not_jpeg")
    if max(info.width, info.height) > limits.max_side:
        raise Unprocessable(
            f"Picture {number} is {info.width}x{info.height} pixels; the check takes at most "
            f"{limits.max_side} pixels on the longest side.",
            code="frame_too_big",
        )
    if size is not None and (info.width, info.height) != size:
        raise Unprocessable(
            f"Picture {number} is {info.width}x{info.height} pixels, the first one "
            f"{size[0]}x{size[1]}: all pictures must come from the same camera.",
            code="frame_sizes_differ",
        )
    return info.width, info.height
