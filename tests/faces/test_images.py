"""Checks that run before any decoding: size, type by magic bytes, pixel count."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from smsbank.core.errors import BankError
from smsbank.faces.images import check_photo, sniff_format
from tests.faces.conftest import encode, jpeg, noise_jpeg, png_header_only

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 40_000_000}


def small(fmt: str, **options: object) -> bytes:
    return encode(Image.new("RGB", (64, 48), (120, 90, 60)), fmt, **options)


@pytest.mark.parametrize(("fmt", "expected"), [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp")])
def test_accepted_types_are_recognised_by_their_bytes(fmt: str, expected: str) -> None:
    info = check_photo(small(fmt), **LIMITS)
    assert (info.format, info.width, info.height) == (expected, 64, 48)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 400, "photo_missing"),
        (b"garbage bytes, not a picture at all", 415, "unsupported_photo_type"),
        (small("GIF"), 415, "unsupported_photo_type"),
        (small("BMP"), 415, "unsupported_photo_type"),
        (small("TIFF"), 415, "unsupported_photo_type"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", 415, "unsupported_photo_type"),
        (b"%PDF-1.7\n", 415, "unsupported_photo_type"),
        # JPEG/PNG magic bytes but nothing readable behind them.
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, 422, "photo_unreadable"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, 422, "photo_unreadable"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", 422, "photo_unreadable"),
        # A canvas far beyond the limit, in a few hundred bytes: refused from the header.
        (png_header_only(30_000, 30_000), 413, "photo_too_large"),
        (png_header_only(8_000, 5_001), 413, "photo_too_large"),
    ],
)
def test_bad_uploads_are_refused_before_decoding(data: bytes, status: int, code: str) -> None:
    with pytest.raises(BankError) as caught:
        check_photo(data, **LIMITS)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.message


def test_exactly_forty_megapixels_passes_the_header_check() -> None:
    assert check_photo(png_header_only(8_000, 5_000), **LIMITS).width == 8_000


def test_an_upload_over_the_byte_limit_is_refused_by_size() -> None:
    data = noise_jpeg(400, 300)
    with pytest.raises(BankError) as caught:
        check_photo(data, max_bytes=len(data) - 1, max_pixels=40_000_000)
    assert (caught.value.status, caught.value.code) == (413, "photo_too_large")
    assert check_photo(data, max_bytes=len(data), max_pixels=40_000_000).format == "jpeg"


def test_the_type_comes_from_the_bytes_not_a_name() -> None:
    assert sniff_format(jpeg(Image.new("RGB", (8, 8)))) == "jpeg"
    assert sniff_format(b"RIFF\x10\x00\x00\x00WAVEfmt ") is None  # RIFF, but audio
    assert sniff_format(io.BytesIO(b"\xff\xd8").read()) is None  # too short to be a JPEG
