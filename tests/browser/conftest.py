"""The browser tests drive the capture page with the face tests' shared engine and photos,
in the system Chromium with a fake front camera: Chromium's own fake device playing a
Y4M clip. The clip must be 4:2:0 (ffmpeg's yuv420p): 4:4:4 or grey makes getUserMedia
fail with NotFoundError."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Page, async_playwright

from smsbank.core.settings import Settings
from smsbank.texts.i18n import LANGUAGES, catalog
from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.faces.conftest import (  # noqa: F401 (fixtures are found by being imported here)
    astronaut,
    astronaut_jpeg,
    face_service,
    grace,
    jpeg,
    open_withdrawal,
)
from tests.fake_twilio import free_port

# A camera that is a file, granted without asking.
CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
WAIT_MS = 30_000  # bounded waits for what the page shows after the server's work


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg): it makes the fake camera")
    return CHROMIUM


def fake_camera(image: Image.Image, folder: Path, name: str) -> Path:
    """A 2-second 4:2:0 Y4M clip of a still photo, for Chromium's fake camera."""
    photo = folder / f"{name}.jpg"
    photo.write_bytes(jpeg(image))
    clip = folder / f"{name}.y4m"
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-y", "-loop", "1", "-i", str(photo), "-t", "2",
            "-vf", "scale=640:-2,format=yuv420p", "-f", "yuv4mpegpipe", str(clip),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return clip


@pytest.fixture(scope="module")
def cameras(
    chromium: str,
    tmp_path_factory: pytest.TempPathFactory,
    astronaut: Image.Image,  # noqa: F811 (the fixture imported above)
    grace: Image.Image,  # noqa: F811
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cameras")
    return {
        "astronaut": fake_camera(astronaut, folder, "astronaut"),
        "grace": fake_camera(grace, folder, "grace"),
    }


@pytest.fixture
def server_settings(settings: Settings) -> Iterator[Settings]:
    """A server on a free port, taking single selfies (`SMSBANK_LIVENESS=off`); the
    head-turn challenge's tests ask for `challenge_settings`."""
    port = free_port()
    yield settings.with_overrides(
        public_base_url=f"http://127.0.0.1:{port}", port=port, liveness="off"
    )


@asynccontextmanager
async def browser_page(folder: Path, camera: Path | None = None) -> AsyncIterator[Page]:
    """A page of a fresh headless Chromium (profile in `folder`), with `camera` as its
    front camera when given; closed afterwards. Tests using it ask for the `chromium`
    fixture, which skips them where Chromium is missing."""
    args = [*CHROMIUM_ARGS]
    if camera is not None:
        args += [*CAMERA_ARGS, f"--use-file-for-fake-video-capture={camera}"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(folder / "profile"), executable_path=CHROMIUM, headless=True, args=args
        )
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


def said(language: str, msgid: str) -> str:
    """What the page says for a msgid in `language` (the catalog's translation)."""
    return catalog(language).gettext(msgid)


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    """Each language the pages speak, one test run each."""
    return str(request.param)
