"""Checks on an uploaded photo that run before anything decodes it.

They run in the web process and read only bytes already in memory and the image
header, so an oversized upload, a file of the wrong type or a decompression bomb (a
small file that claims a huge canvas) is refused without costing a worker any memory.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from smsbank.core.errors import BankError, Unprocessable, ValidationFailed

_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


class PhotoTooLarge(BankError):
    status = 413
    code = "photo_too_large"


class UnsupportedPhoto(BankError):
    status = 415
    code = "unsupported_photo_type"


class PhotoRejected(Unprocessable):
    """The photo was read but cannot be used (no face, several faces, damaged...)."""

    code = "photo_rejected"


@dataclass(frozen=True)
class PhotoInfo:
    format: str  # "jpeg" | "png" | "webp"
    width: int
    height: int


def sniff_format(data: bytes) -> str | None:
    """The image type from its magic bytes (never from a file name or content type)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_photo(data: bytes, *, max_bytes: int, max_pixels: int) -> PhotoInfo:
    """Refuse a photo that is empty, too big, not JPEG/PNG/WebP, or too many pixels."""
    if not data:
        raise ValidationFailed("the photo is empty", code="photo_missing")
    if len(data) > max_bytes:
        raise PhotoTooLarge(
            f"the photo is larger than {max_bytes // (1024 * 1024)} MB; send a smaller one"
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedPhoto("the photo must be a JPEG, PNG or WebP image")
    too_many = PhotoTooLarge(
        f"the photo has more than {max_pixels / 1_000_000:g} megapixels; send a smaller one"
    )
    try:
        # Image.open reads the header only. Pillow's own bomb guard warns, then raises,
        # above its limit; both mean "too many pixels" here, whatever the filters say.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]]) as image:
                width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise too_many from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PhotoRejected(
            "the photo could not be read (it may be damaged); take it again",
            code="photo_unreadable",
        ) from exc
    if width < 1 or height < 1:
        raise PhotoRejected("the photo has no pixels", code="photo_unreadable")
    if width * height > max_pixels:
        raise too_many
    return PhotoInfo(fmt, width, height)
