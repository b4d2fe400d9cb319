"""Every state of the capture page in a customer's words, in the customer's language,
in a real headless Chromium against a real server (and with nothing axe-core calls
serious or critical on any of them).

What a customer would check: after success the heading says it is done (not "Take a
clear selfie"); a used or cancelled link says why once, in plain words, not as a red
error; "2 attempts left" appears once; a file that is not a photo is refused without a
developer's wording; the page is in the customer's language, `<html lang>` included.

The camera is Chromium's fake device playing a still photo (tests/browser/conftest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from smsbank.core import ledger
from smsbank.core.clock import utcnow
from smsbank.core.customers import create_customer
from smsbank.core.models import CaptureToken, Customer
from smsbank.core.settings import Settings
from smsbank.faces.enrolment import enrol_customer_photo
from smsbank.faces.service import FaceService
from smsbank.requests.capture import hash_token, issue_enrolment_link
from smsbank.requests.withdrawals import cancel_withdrawal
from smsbank.texts.i18n import Text, localize
from tests.bank_server import serving
from tests.browser.axe import blocking_violations
from tests.browser.conftest import WAIT_MS, browser_page, said
from tests.conftest import fresh_database
from tests.faces.conftest import token_of

pytestmark = pytest.mark.browser


@pytest.fixture
async def links(
    chromium: str,
    server_settings: Settings,
    face_service: FaceService,
    astronaut_jpeg: bytes,
    open_withdrawal: Any,
    language: str,
) -> dict[str, str]:
    """Links of customers who speak `language`: a withdrawal waiting for its selfie, one
    cancelled (ABORT) after its link was sent, one whose link expired, an enrolment
    link, and a withdrawal of a customer whose selfie checks are locked."""
    async with fresh_database(server_settings.database_url):
        saver = await create_customer(
            "Eileen Collins", "+15550140001", currency="USD", language=language, actor="test"
        )
        await ledger.deposit(saver.id, Decimal("100"))
        await enrol_customer_photo(
            server_settings, saver.id, astronaut_jpeg, "test", faces=face_service
        )
        _, waiting = await open_withdrawal(saver, "20")
        cancelled, aborted = await open_withdrawal(saver, "30")
        await cancel_withdrawal(cancelled.id, actor="customer")
        _, expired = await open_withdrawal(saver, "40")
        await CaptureToken.filter(token_hash=hash_token(token_of(expired))).update(
            expires_at=utcnow() - timedelta(seconds=1)
        )
        newcomer = await create_customer(
            "Ana Torres", "+15550140002", currency="USD", language=language, actor="test"
        )
        enrolment = await issue_enrolment_link(server_settings, newcomer, actor="test")
        locked = await create_customer(
            "Sally Ride", "+15550140003", currency="USD", language=language, actor="test"
        )
        await enrol_customer_photo(
            server_settings, locked.id, astronaut_jpeg, "test", faces=face_service
        )
        await Customer.filter(id=locked.id).update(face_locked=True)
        _, face_locked = await open_withdrawal(locked, "20")
    base = server_settings.base_url
    return {
        name: base + "/c/" + token_of(url)
        for name, url in (
            ("withdrawal", waiting),
            ("aborted", aborted),
            ("expired", expired),
            ("enrolment", enrolment),
            ("face_locked", face_locked),
        )
    }


@pytest.fixture
async def live_base(
    server_settings: Settings, face_service: FaceService, links: dict[str, str]
) -> AsyncIterator[str]:
    async with serving(server_settings, face_service) as base:
        yield base


async def page_text(page: Page) -> str:
    return str(await page.locator("body").inner_text())


async def assert_accessible(page: Page) -> None:
    assert await blocking_violations(page) == []


async def assert_in_language(page: Page, language: str) -> None:
    await expect(page.locator("html")).to_have_attribute("lang", language)


async def test_a_selfie_that_does_not_match_says_the_attempts_left_once(
    cameras: dict[str, Path], live_base: str, links: dict[str, str], language: str, tmp_path: Path
) -> None:
    async with browser_page(tmp_path, cameras["grace"]) as page:
        await page.goto(links["withdrawal"])
        await assert_in_language(page, language)
        await expect(page.locator("#title")).to_have_text(
            localize(Text("Confirm your withdrawal of {amount}", amount="$20.00"), language)
        )
        await assert_accessible(page)
        await page.locator("#take").click(timeout=WAIT_MS)
        await expect(page.locator("#shot")).to_be_visible(timeout=WAIT_MS)
        await assert_accessible(page)
        await page.click("#send")
        status = page.locator("#status")
        await expect(status).to_have_attribute("data-status", "retry", timeout=WAIT_MS)
        await expect(status).to_have_text(
            said(
                language,
                "That selfie did not match your enrolled face. Face the camera in good light "
                "and try again.",
            )
        )
        left = localize(Text.counted("{count} attempt left", "{count} attempts left", 2), language)
        await expect(page.locator("#attempts")).to_have_text(left)
        assert (await page_text(page)).count(left) == 1
        await assert_accessible(page)


async def test_after_enrolling_the_page_says_done_and_the_reopened_link_says_used_once(
    cameras: dict[str, Path], live_base: str, links: dict[str, str], language: str, tmp_path: Path
) -> None:
    async with browser_page(tmp_path, cameras["astronaut"]) as page:
        await page.goto(links["enrolment"])
        await expect(page.locator("#title")).to_have_text(said(language, "Enrol your face"))
        await page.locator("#take").click(timeout=WAIT_MS)
        await expect(page.locator("#shot")).to_be_visible(timeout=WAIT_MS)
        await page.click("#send")
        status = page.locator("#status")
        await expect(status).to_have_attribute("data-status", "enrolled", timeout=WAIT_MS)
        await expect(page.locator("#title")).to_have_text(said(language, "Face enrolled"))
        instructions = said(
            language,
            "Take a clear selfie: face the camera in good light, nobody else in the "
            "picture. We keep a mathematical description of your face, not the photo.",
        )
        assert instructions not in await page_text(page)
        await assert_accessible(page)

        response = await page.goto(links["enrolment"])
        assert response is not None and response.status == 410
        await assert_in_language(page, language)
        await expect(page.locator("#title")).to_have_text(said(language, "Link already used"))
        used = said(language, "This link has already been used. Each link works only once.")
        assert (await page_text(page)).count(used) == 1
        # Used is not an error the customer made: not shown as one (red).
        await expect(status).not_to_have_class("status bad")
        await assert_accessible(page)


async def test_a_file_that_is_not_a_photo_is_refused_in_a_customers_words(
    cameras: dict[str, Path], live_base: str, links: dict[str, str], language: str, tmp_path: Path
) -> None:
    not_a_photo = tmp_path / "notes.txt"
    not_a_photo.write_text("shopping list: milk, bread\n")
    async with browser_page(tmp_path, cameras["astronaut"]) as page:
        await page.goto(links["withdrawal"])
        await page.locator("#use-file").click(timeout=WAIT_MS)
        await expect(page.locator("#fallback")).to_be_visible()
        await assert_accessible(page)
        await page.set_input_files("#file", str(not_a_photo))
        await page.click("#send")
        status = page.locator("#status")
        await expect(status).to_have_attribute("data-status", "retry", timeout=WAIT_MS)
        await expect(status).to_have_text(
            said(language, "That file is not a photo. Take a selfie with the camera and send it.")
        )
        assert "JPEG" not in await page_text(page)
        await assert_accessible(page)


async def test_a_cancelled_withdrawal_says_so_in_plain_words(
    live_base: str, links: dict[str, str], language: str, tmp_path: Path
) -> None:
    async with browser_page(tmp_path) as page:
        response = await page.goto(links["aborted"])
        assert response is not None and response.status == 410
        await assert_in_language(page, language)
        await expect(page.locator("#title")).to_have_text(said(language, "Nothing to confirm"))
        why = said(
            language,
            "This withdrawal was cancelled or has already ended, so there is nothing to "
            "confirm. To withdraw money, text us again.",
        )
        text = await page_text(page)
        assert text.count(why) == 1 and "waiting for a selfie" not in text
        await assert_accessible(page)


async def test_a_link_that_is_not_valid_says_so(
    live_base: str, links: dict[str, str], language: str, tmp_path: Path
) -> None:
    async with browser_page(tmp_path) as page:
        response = await page.goto(live_base + "/c/" + "A" * 22)
        assert response is not None and response.status == 404
        # Nobody is known behind an unknown link: the page speaks the default language.
        await assert_in_language(page, "en")
        await expect(page.locator("#title")).to_have_text("Link not valid")
        await assert_accessible(page)


@pytest.mark.parametrize(
    ("name", "http", "heading", "why"),
    [
        (
            "expired",
            410,
            "Link expired",
            "This link has expired. Links work for 10 minutes; please ask for a new one.",
        ),
        (
            "face_locked",
            403,
            "Selfie checks locked",
            "Too many selfies did not match. Please visit your branch.",
        ),
    ],
)
async def test_a_link_that_cannot_be_used_says_why_once(
    live_base: str,
    links: dict[str, str],
    language: str,
    tmp_path: Path,
    name: str,
    http: int,
    heading: str,
    why: str,
) -> None:
    async with browser_page(tmp_path) as page:
        response = await page.goto(links[name])
        assert response is not None and response.status == http
        await assert_in_language(page, language)
        await expect(page.locator("#title")).to_have_text(said(language, heading))
        assert (await page_text(page)).count(said(language, why)) == 1
        await assert_accessible(page)
