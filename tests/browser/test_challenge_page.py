"""The head-turn challenge of SPEC §9a on the capture page, in a real headless Chromium
against a real server and the real face engine, in both languages the bank speaks.

The camera is Chromium's fake device playing a synthetic clip (never a person): a still
photo here, and a synthetic head-turn sequence from tests/head_turns.py for the genuine
case. Chromium's fake camera starts its clip when the page opens the camera and loops
it; the page opens the camera after the customer presses Start and films from its first
frame, so a clip made to the page's step timing plays in step with it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat
from playwright.async_api import Page, expect

from smsbank.core import ledger
from smsbank.core.customers import create_customer
from smsbank.core.settings import Settings
from smsbank.faces.enrolment import enrol_customer_photo
from smsbank.faces.service import FaceService
from tests.bank_server import serving
from tests.browser.axe import blocking_violations
from tests.browser.conftest import WAIT_MS, browser_page, said
from tests.conftest import fresh_database
from tests.faces.conftest import jpeg, token_of
from tests.head_turns import genuine, write_y4m

pytestmark = pytest.mark.browser

# The page's steps (capture_page/static/challenge.js): straight ahead 1.5 s, then each
# turn 1.8 s and back to the centre 1.2 s. A synthetic clip of the same length plays in
# step with them: frontal, left and back, right and back, as the fixed order asks.
CHALLENGE_SECONDS = 1.5 + 2 * (1.8 + 1.2)
CLIP_FPS = 10


@pytest.fixture
def challenge_settings(server_settings: Settings) -> Settings:
    """The bank as it runs by default (liveness challenge), with the turns in a fixed
    order (left, then right: a test-only setting) so a clip can be made to match."""
    return server_settings.with_overrides(liveness="challenge", liveness_steps="left,right")


@pytest.fixture
async def link(
    chromium: str,
    challenge_settings: Settings,
    face_service: FaceService,
    astronaut_jpeg: bytes,
    open_withdrawal: Any,
    language: str,
) -> str:
    """The astronaut enrolled with $100 (speaking `language`), a $20 withdrawal waiting
    for its check, its link as texted."""
    async with fresh_database(challenge_settings.database_url):
        customer = await create_customer(
            "Eileen Collins", "+15550140001", currency="USD", language=language, actor="test"
        )
        await ledger.deposit(customer.id, Decimal("100"))
        await enrol_customer_photo(
            challenge_settings, customer.id, astronaut_jpeg, "test", faces=face_service
        )
        _, url = await open_withdrawal(customer, "20")
    return challenge_settings.base_url + "/c/" + token_of(url)


@pytest.fixture
async def live_base(
    challenge_settings: Settings, face_service: FaceService, link: str
) -> AsyncIterator[str]:
    async with serving(challenge_settings, face_service) as base:
        yield base


# Test instrumentation, injected by the test (not part of the page): keeps a copy of
# what the page's script hands to fetch, so the test sees the frames exactly as sent.
RECORD_FRAMES = """
(() => {
  const send = window.fetch;
  const base64 = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 8192) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    }
    return btoa(text);
  };
  window.fetch = function (url, options) {
    const body = options && options.body;
    if (body instanceof FormData && body.has("frame")) {
      window.recordedAnswer = Promise.all(
        body.getAll("frame").map((frame) => frame.arrayBuffer().then(base64))
      ).then((frames) => ({ challenge: body.get("challenge"), frames: frames }));
    }
    return send.apply(this, arguments);
  };
})();
"""


async def frames_posted(page: Page) -> tuple[str, list[bytes]]:
    """The challenge id and the frames, in order, that the page posted."""
    answer = await page.evaluate("window.recordedAnswer")
    return str(answer["challenge"]), [base64.b64decode(frame) for frame in answer["frames"]]


def difference(a: Image.Image, b: Image.Image) -> float:
    size = (64, 64)
    one = ImageOps.fit(a.convert("L"), size)
    two = ImageOps.fit(b.convert("L"), size)
    return float(ImageStat.Stat(ImageChops.difference(one, two)).mean[0])


async def expect_arrow(page: Page, side: str) -> None:
    """The arrow is on `side` of the preview and points that way (the path points right;
    a mirror of it, left)."""
    arrow = page.locator(".arrow")
    await expect(arrow).to_be_visible()
    box = await arrow.bounding_box()
    frame = await page.locator("#guide .frame").bounding_box()
    assert box is not None and frame is not None
    on_the_left = box["x"] + box["width"] / 2 < frame["x"] + frame["width"] / 2
    flipped = (await arrow.evaluate("e => getComputedStyle(e).transform")).startswith("matrix(-")
    assert (on_the_left, flipped) == ((True, True) if side == "left" else (False, False))


async def assert_accessible(page: Page) -> None:
    assert await blocking_violations(page) == []


async def test_there_is_no_upload_and_without_a_camera_the_page_sends_the_customer_to_a_branch(
    live_base: str, link: str, language: str, tmp_path: Path
) -> None:
    async with browser_page(tmp_path) as page:  # no camera at all
        await page.goto(link)
        await expect(page.locator("html")).to_have_attribute("lang", language)
        await expect(page.locator("input[type=file]")).to_have_count(0)
        await assert_accessible(page)
        await page.click("#start")
        reason = page.locator("#no-camera-reason")
        await expect(reason).to_be_visible(timeout=WAIT_MS)
        problems = [
            said(language, msgid)
            for msgid in (
                "This browser cannot open the camera here.",
                "The camera was not allowed.",
                "The camera could not be opened.",
            )
        ]
        shown = await reason.inner_text()
        assert any(shown.startswith(problem) for problem in problems), shown
        branch = said(
            language,
            "Without a camera this check cannot be done here. To confirm it is you, please "
            "visit your branch with an ID.",
        )
        await expect(page.locator("#no-camera")).to_contain_text(branch)
        await expect(page.locator("input[type=file]")).to_have_count(0)
        await assert_accessible(page)


async def test_a_still_photo_is_shown_the_steps_filmed_and_refused(
    cameras: dict[str, Path],
    astronaut: Image.Image,
    live_base: str,
    link: str,
    language: str,
    tmp_path: Path,
) -> None:
    async with browser_page(tmp_path, cameras["astronaut"]) as page:
        await page.add_init_script(RECORD_FRAMES)
        await page.goto(link)
        await expect(page.locator("#title")).to_contain_text("$20.00")
        await page.click("#start")
        guide = page.locator("#guide")
        words = page.locator("#step-words")
        # One step at a time: straight ahead, then the customer's own left (the arrow
        # points left, where their mirrored face turns), then back, then right.
        await expect(words).to_have_text(said(language, "Look straight at the camera"))
        await expect(guide).to_have_attribute("data-step", "left", timeout=WAIT_MS)
        await expect(words).to_have_text(said(language, "Turn your head to your left"))
        await expect_arrow(page, "left")
        await assert_accessible(page)
        await expect(guide).to_have_attribute("data-step", "right", timeout=WAIT_MS)
        await expect(words).to_have_text(said(language, "Turn your head to your right"))
        await expect_arrow(page, "right")
        status = page.locator("#status")
        await expect(status).to_have_attribute("data-status", "retry", timeout=WAIT_MS)
        challenge, frames = await frames_posted(page)
        assert len(challenge) == 22
        assert 8 <= len(frames) <= 40  # the server's min_frames and max_frames
        pictures = [Image.open(io.BytesIO(frame)) for frame in frames]
        assert {picture.format for picture in pictures} == {"JPEG"}
        assert max(max(picture.size) for picture in pictures) <= 640
        # As the camera sees it: the photo the fake camera plays, not its mirror image.
        first = pictures[0]
        assert difference(first, astronaut) < difference(first, ImageOps.mirror(astronaut))

        # A photo does not turn its head: refused, in the bank's words, with a way on.
        await expect(status).to_have_attribute("data-reason", "liveness")
        await expect(page.locator("#again")).to_be_visible()
        await assert_accessible(page)


@pytest.fixture(scope="module")
def head_turn_camera(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, astronaut: Image.Image
) -> Path:
    """A synthetic clip of the enrolled astronaut turning her head left, then right
    (tests/head_turns.py: her photo re-rendered through a generic 3D face; no real
    footage), for Chromium's fake camera."""
    folder = tmp_path_factory.mktemp("head-turns")
    photo = folder / "astronaut.jpg"
    photo.write_bytes(jpeg(astronaut))
    frames = genuine(photo, ["left", "right"], frames=round(CHALLENGE_SECONDS * CLIP_FPS))
    return write_y4m(frames, folder / "astronaut-turns.y4m", fps=CLIP_FPS)


async def test_a_head_turning_as_asked_approves_the_withdrawal(
    head_turn_camera: Path, live_base: str, link: str, language: str, tmp_path: Path
) -> None:
    async with browser_page(tmp_path, head_turn_camera) as page:
        await page.goto(link)
        await page.click("#start")
        status = page.locator("#status")
        await expect(status).to_have_attribute("data-status", "verified", timeout=WAIT_MS)
        await expect(page.locator("#title")).to_have_text(said(language, "Withdrawal approved"))
        await expect(page.locator("#again")).to_be_hidden()
        await assert_accessible(page)
