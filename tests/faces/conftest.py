"""Face fixtures: ONE warmed face engine for the whole test session (loading and
warming the model is the slow part), apps that use it, photos that installed packages
ship, and helpers to enrol customers and open withdrawals awaiting a selfie.

No mocks of the model: every test here runs real DeepFace (Dlib + dlib detector) on
real photographs in the engine's worker processes.
"""

from __future__ import annotations

import asyncio
import csv
import io
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image, ImageEnhance
from skimage import data as skdata

from smsbank.app import create_app
from smsbank.components import Services
from smsbank.core.clock import utcnow
from smsbank.core.models import CapturePurpose, Channel, Customer, Withdrawal, WithdrawalStatus
from smsbank.core.money import to_minor
from smsbank.core.settings import Settings
from smsbank.faces.enrolment import enrol_customer_photo
from smsbank.faces.service import FaceService
from smsbank.requests.capture import issue_capture_link
from tests.conftest import SHARED_FACES, reset_database

_shared_engine: FaceService | None = None


@pytest.fixture(scope="session")
def face_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceService]:
    """The engine every face test shares: started and warmed once, stopped at the end.

    It holds no event-loop objects, so the per-test loops (and the browser test's
    server thread) can all use it. tests/browser re-uses this fixture; the module-level
    instance keeps it one engine per session even though pytest sees two definitions.
    """
    global _shared_engine
    if _shared_engine is None:
        settings = Settings(
            deepface_home=str(tmp_path_factory.mktemp("deepface")),
            face_workers=2,
            face_warmup=True,
        )
        service = FaceService(settings)
        asyncio.run(service.start())
        _shared_engine = service
    try:
        yield _shared_engine
    finally:
        asyncio.run(_shared_engine.stop())  # idempotent: the second definition's is a no-op


@pytest.fixture
async def face_app(settings: Settings, face_service: FaceService) -> AsyncIterator[Any]:
    """The app on an empty database, with the shared engine handed in."""
    await reset_database(settings.database_url)
    app = create_app(settings, services=Services(settings=settings, face=face_service))
    async with app.test_app() as test_app:
        yield test_app


@pytest.fixture
def face_client(face_app: Any) -> Any:
    return face_app.test_client()


# -- photos -------------------------------------------------------------------


def jpeg(image: Image.Image, quality: int = 92, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality, **options)
    return buffer.getvalue()


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> Image.Image:
    """Eileen Collins (skimage.data.astronaut), 512x512."""
    return Image.fromarray(skdata.astronaut())


@pytest.fixture(scope="session")
def grace() -> Image.Image:
    """Grace Hopper (matplotlib's sample data), 512x600."""
    return Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut: Image.Image) -> bytes:
    return jpeg(astronaut)


@pytest.fixture(scope="session")
def grace_jpeg(grace: Image.Image) -> bytes:
    return jpeg(grace)


@pytest.fixture(scope="session")
def no_face_jpeg() -> bytes:
    """A cup of coffee: a real photo with no face in it."""
    return jpeg(Image.fromarray(skdata.coffee()))


def changed_copies(image: Image.Image) -> dict[str, bytes]:
    """The same photo as a phone might send it again: cropped, tilted, lighter, darker,
    recompressed hard, or as PNG/WebP."""
    width, height = image.size
    return {
        "crop": jpeg(
            image.crop(
                (int(width * 0.08), int(height * 0.05), int(width * 0.92), int(height * 0.8))
            )
        ),
        "rotate_left": jpeg(image.rotate(8, resample=Image.Resampling.BICUBIC)),
        "rotate_right": jpeg(image.rotate(-8, resample=Image.Resampling.BICUBIC)),
        "brighter": jpeg(ImageEnhance.Brightness(image).enhance(1.35)),
        "darker": jpeg(ImageEnhance.Brightness(image).enhance(0.65)),
        "jpeg_quality_30": jpeg(image, quality=30),
        "png": encode(image, "PNG"),
        "webp": encode(image, "WEBP", quality=80),
    }


def png_header_only(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims width x height (a decompression bomb
    shape): the checks must refuse it from the header, never decode it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def noise_jpeg(width: int, height: int) -> bytes:
    """A JPEG that cannot compress (random pixels): big bytes for its size."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return jpeg(Image.fromarray(pixels), quality=100)


# -- shared photos (../shared/faces) -----------------------------------------------


def shared_faces_rows() -> list[dict[str, str]]:
    index = SHARED_FACES / "identities.csv"
    if not index.is_file():
        return []
    with index.open(newline="") as handle:
        return list(csv.DictReader(handle))


requires_shared_faces = pytest.mark.skipif(
    not (SHARED_FACES / "identities.csv").is_file(),
    reason=f"the shared face photos are not at {SHARED_FACES}",
)


def shared_photo(name: str) -> bytes:
    return Path(SHARED_FACES / name).read_bytes()


# -- customers and requests -----------------------------------------------------------


@pytest.fixture
def enrol(settings: Settings, face_service: FaceService) -> Any:
    """enrol(customer, photo_bytes) -> the customer, enrolled by the real engine."""

    async def enrol_photo(customer: Customer, photo: bytes) -> Customer:
        return await enrol_customer_photo(settings, customer.id, photo, "test", faces=face_service)

    return enrol_photo


@pytest.fixture
def open_withdrawal(settings: Settings) -> Any:
    """open_withdrawal(customer, amount, channel) -> (withdrawal, capture URL or None):
    a request whose code was accepted and which waits for the selfie (the code part
    is the withdrawal module's, tested there)."""

    async def factory(
        customer: Customer, amount: str = "20.00", channel: Channel = Channel.SMS
    ) -> tuple[Withdrawal, str | None]:
        withdrawal = await Withdrawal.create(
            customer_id=customer.id,
            amount_minor=to_minor(Decimal(amount)),
            status=WithdrawalStatus.AWAITING_SELFIE,
            channel=channel,
            code_verified_at=utcnow(),
            expires_at=utcnow() + timedelta(minutes=15),
        )
        url = None
        if channel == Channel.SMS:
            url = await issue_capture_link(
                settings,
                customer_id=customer.id,
                purpose=CapturePurpose.WITHDRAWAL,
                withdrawal_id=withdrawal.id,
            )
        return withdrawal, url

    return factory


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def path_of(url: str) -> str:
    return "/capture/" + token_of(url)
