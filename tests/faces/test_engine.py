"""The face engine on real photos: DeepFace's Dlib model and dlib detector, no mocks.

Always-on photos come from installed packages (skimage's astronaut, matplotlib's
Grace Hopper); the ../shared/faces set runs where it is present.
"""

from __future__ import annotations

import io
import itertools

import pytest
from deepface.modules.verification import find_distance
from PIL import Image

from smsbank.core.errors import BankError
from smsbank.core.settings import Settings
from smsbank.faces.images import PhotoRejected
from smsbank.faces.service import FaceService
from tests.faces.conftest import (
    changed_copies,
    jpeg,
    png_header_only,
    requires_shared_faces,
    shared_faces_rows,
    shared_photo,
)

DEEPFACE_DLIB_COSINE_THRESHOLD = 0.07


async def test_the_threshold_is_deepfaces_for_dlib_and_cosine(
    face_service: FaceService, astronaut_jpeg: bytes
) -> None:
    result = await face_service.analyse(astronaut_jpeg)
    assert result.threshold == DEEPFACE_DLIB_COSINE_THRESHOLD
    assert len(result.embedding) == 128
    assert face_service.ready


@pytest.mark.parametrize(
    "change",
    [
        "crop",
        "rotate_left",
        "rotate_right",
        "brighter",
        "darker",
        "jpeg_quality_30",
        "png",
        "webp",
    ],
)
@pytest.mark.parametrize("person", ["astronaut", "grace"])
async def test_a_changed_copy_verifies_and_the_other_person_does_not(
    face_service: FaceService, request: pytest.FixtureRequest, person: str, change: str
) -> None:
    image: Image.Image = request.getfixturevalue(person)
    other: Image.Image = request.getfixturevalue("grace" if person == "astronaut" else "astronaut")
    enrolled = (await face_service.analyse(jpeg(image))).embedding
    selfie = changed_copies(image)[change]
    same = await face_service.analyse(selfie, enrolled)
    assert same.verified, f"{person} {change}: distance {same.distance}"
    impostor = await face_service.analyse(changed_copies(other)[change], enrolled)
    assert not impostor.verified, f"{person} vs other, {change}: distance {impostor.distance}"


async def test_the_exif_orientation_is_applied(
    face_service: FaceService, astronaut: Image.Image, astronaut_jpeg: bytes
) -> None:
    """A phone stores the sensor's pixels and says "rotate me" in EXIF: the face is
    only upright (and found) once the orientation is applied."""
    enrolled = (await face_service.analyse(astronaut_jpeg)).embedding
    sideways = astronaut.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    result = await face_service.analyse(jpeg(sideways, exif=exif.tobytes()), enrolled)
    assert result.verified


async def test_a_large_photo_is_downscaled_and_still_verifies(
    face_service: FaceService, astronaut: Image.Image, astronaut_jpeg: bytes
) -> None:
    enrolled = (await face_service.analyse(astronaut_jpeg)).embedding
    big = astronaut.resize((4000, 4000), Image.Resampling.BICUBIC)  # 16 MP
    result = await face_service.analyse(jpeg(big, quality=85), enrolled)
    assert result.verified


@pytest.mark.parametrize(
    ("photo", "status", "code"),
    [
        ("no_face", 422, "no_face"),
        ("garbage", 415, "unsupported_photo_type"),
        ("truncated", 422, "photo_unreadable"),
        ("huge_png", 413, "photo_too_large"),
        ("tiny_face", 422, "face_too_small"),
        ("blank_png", 422, "no_face"),
    ],
)
async def test_unusable_photos_get_clear_errors(
    face_service: FaceService,
    astronaut: Image.Image,
    astronaut_jpeg: bytes,
    no_face_jpeg: bytes,
    photo: str,
    status: int,
    code: str,
) -> None:
    # A face dlib still finds (about 50 px) but too small to tell people apart.
    canvas = Image.new("RGB", (600, 450), (200, 200, 200))
    canvas.paste(astronaut.resize((280, 280)), (160, 80))
    photos = {
        "no_face": no_face_jpeg,
        "garbage": b"\x00\x01 definitely not an image" * 50,
        "truncated": astronaut_jpeg[: len(astronaut_jpeg) // 2],
        "huge_png": png_header_only(20_000, 20_000),
        "tiny_face": jpeg(canvas),
        "blank_png": _png(Image.new("L", (1, 1))),
    }
    with pytest.raises(BankError) as caught:
        await face_service.analyse(photos[photo])
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.message


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


async def test_a_configured_threshold_is_used(
    settings: Settings, astronaut_jpeg: bytes, astronaut: Image.Image
) -> None:
    """SMSBANK_FACE_THRESHOLD replaces DeepFace's. (Its own engine, in this process.)"""
    strict = FaceService(settings.with_overrides(face_threshold=0.0001), workers=0)
    await strict.start()
    try:
        enrolled = (await strict.analyse(astronaut_jpeg)).embedding
        result = await strict.analyse(changed_copies(astronaut)["brighter"], enrolled)
    finally:
        await strict.stop()
    assert result.threshold == 0.0001
    assert result.distance is not None and result.distance > 0.0001
    assert not result.verified


# -- ../shared/faces -----------------------------------------------------------

ROWS = shared_faces_rows()
SINGLES = [row["file"] for row in ROWS if row["faces"] == "1"]
IDENTITY = {row["file"]: row["identity"] for row in ROWS}
PAIRS = list(itertools.combinations(SINGLES, 2))


@pytest.fixture(scope="module")
def shared_embeddings(face_service: FaceService) -> dict[str, list[float]]:
    """Every single-face photo's embedding, computed once for the module."""
    import asyncio

    async def embed_all() -> dict[str, list[float]]:
        # As many at once as there are workers: the pool refuses a long queue (503).
        limit = asyncio.Semaphore(face_service.workers)

        async def embed(name: str) -> list[float]:
            async with limit:
                return (await face_service.analyse(shared_photo(name))).embedding

        results = await asyncio.gather(*(embed(name) for name in SINGLES))
        return dict(zip(SINGLES, results, strict=True))

    return asyncio.run(embed_all())


@requires_shared_faces
@pytest.mark.faces
@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_every_shared_pair_is_judged_right(
    shared_embeddings: dict[str, list[float]], first: str, second: str
) -> None:
    """Same letter: verified; different letters: refused (at DeepFace's threshold)."""
    distance = float(find_distance(shared_embeddings[first], shared_embeddings[second], "cosine"))
    same_person = IDENTITY[first] == IDENTITY[second]
    verified = distance <= DEEPFACE_DLIB_COSINE_THRESHOLD
    assert verified == same_person, f"{first} vs {second}: distance {distance:.4f}"


@requires_shared_faces
@pytest.mark.faces
@pytest.mark.parametrize("name", [row["file"] for row in ROWS if row["faces"] != "1"])
async def test_group_photos_are_refused_as_several_faces(
    face_service: FaceService, name: str
) -> None:
    with pytest.raises(PhotoRejected) as caught:
        await face_service.analyse(shared_photo(name))
    assert caught.value.code == "several_faces"
    assert "more than one face" in caught.value.message


@requires_shared_faces
@pytest.mark.faces
async def test_a_full_size_phone_photo_verifies(face_service: FaceService) -> None:
    """A_26.jpg is kept at its original 2.4 MB / 3.1 MP: enrol another A, verify it."""
    photo = shared_photo("A_26.jpg")
    assert len(photo) > 2_000_000
    enrolled = (await face_service.analyse(shared_photo("A_27.jpg"))).embedding
    assert (await face_service.analyse(photo, enrolled)).verified
    stranger = (await face_service.analyse(shared_photo("B_30.jpg"))).embedding
    assert not (await face_service.analyse(photo, stranger)).verified
