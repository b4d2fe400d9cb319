"""The capture page in a real headless Chromium, fed a fake front camera made from a
photo, against a real hypercorn server and the real face engine.

The server runs in a background thread (its own event loop) on 127.0.0.1 and a free
port, sharing the test's database and the session's warmed face engine. The test
prepares the database before the server starts and from then on talks to the bank only
over HTTP, so the two event loops never share a database connection.

The camera is Chromium's fake device playing a still photo (tests/browser/conftest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from smsbank.core import ledger
from smsbank.core.customers import create_customer
from smsbank.core.settings import Settings
from smsbank.faces.enrolment import enrol_customer_photo
from smsbank.faces.service import FaceService
from tests.bank_server import serving
from tests.browser.conftest import CAMERA_ARGS, WAIT_MS
from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import ADMIN_KEY, fresh_database
from tests.faces.conftest import token_of

pytestmark = pytest.mark.browser

PHONE = "+15550140001"


@pytest.fixture
async def withdrawal_link(
    server_settings: Settings,
    face_service: FaceService,
    astronaut_jpeg: bytes,
    open_withdrawal: Any,
) -> dict[str, Any]:
    """The astronaut enrolled with $100, a $20 withdrawal waiting for its selfie, its link."""
    async with fresh_database(server_settings.database_url):
        customer = await create_customer(
            "Eileen Collins", PHONE, currency="USD", initial_deposit=None, actor="test"
        )
        await ledger.deposit(customer.id, Decimal("100"))
        await enrol_customer_photo(
            server_settings, customer.id, astronaut_jpeg, "test", faces=face_service
        )
        withdrawal, link = await open_withdrawal(customer, "20")
    # The link as texted (its short form), on the server at 127.0.0.1 (the fixture's base
    # URL is a placeholder).
    url = server_settings.base_url + "/c/" + token_of(link)
    return {"customer_id": customer.id, "withdrawal_id": withdrawal.id, "url": url}


@pytest.fixture
async def live_base(
    server_settings: Settings, face_service: FaceService, withdrawal_link: dict[str, Any]
) -> AsyncIterator[str]:
    async with serving(server_settings, face_service) as base:
        yield base


async def staff_get(base: str, path: str) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with aiohttp.ClientSession() as session, session.get(base + path, headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def take_and_send_selfie(camera: Path, url: str, profile: Path) -> Any:
    """Open the link with this fake camera, take the selfie, send it; return the page."""
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, *CAMERA_ARGS, f"--use-file-for-fake-video-capture={camera}"],
    )
    page = await browser.new_page()
    await page.goto(url)
    take = page.locator("#take")
    await expect(take).to_be_visible(timeout=WAIT_MS)
    await expect(take).to_be_enabled(timeout=WAIT_MS)  # the camera delivers frames
    await take.click()
    await expect(page.locator("#shot")).to_be_visible(timeout=WAIT_MS)
    await page.click("#send")
    return playwright, browser, page


async def test_the_enrolled_face_verifies_and_the_withdrawal_is_recorded(
    cameras: dict[str, Path], live_base: str, withdrawal_link: dict[str, Any], tmp_path: Path
) -> None:
    url = withdrawal_link["url"]
    assert url.startswith(live_base + "/c/")  # the short link, as texted: it redirects
    playwright, browser, page = await take_and_send_selfie(
        cameras["astronaut"], url, tmp_path / "profile"
    )
    try:
        status = page.locator("#status")
        await expect(status).to_have_attribute("data-status", "verified", timeout=WAIT_MS)
        await expect(page.locator("#title")).to_have_text("Withdrawal approved")
        await expect(status).to_contain_text("your withdrawal is approved")
        assert await page.locator("#again").is_hidden()
    finally:
        await browser.close()
        await playwright.stop()

    customer_id = withdrawal_link["customer_id"]
    history = await staff_get(live_base, f"/api/v1/customers/{customer_id}/transactions")
    withdrawals = [t for t in history["transactions"] if t["kind"] == "withdrawal"]
    assert [(t["amount"], t["balance_after"]) for t in withdrawals] == [("20.00", "80.00")]
    listed = await staff_get(live_base, f"/api/v1/withdrawals?customer_id={customer_id}")
    assert listed["withdrawals"][0]["status"] == "completed"
    assert listed["withdrawals"][0]["reference"] == withdrawals[0]["reference"]


async def test_another_person_is_asked_to_try_again(
    cameras: dict[str, Path], live_base: str, withdrawal_link: dict[str, Any], tmp_path: Path
) -> None:
    playwright, browser, page = await take_and_send_selfie(
        cameras["grace"], withdrawal_link["url"], tmp_path / "profile"
    )
    try:
        status = page.locator("#status")
        await expect(status).to_have_attribute("data-status", "retry", timeout=WAIT_MS)
        await expect(status).to_contain_text("did not match")
        await expect(page.locator("#attempts")).to_have_text("2 attempts left")
        await expect(page.locator("#again")).to_be_visible()
        # "Try again" goes back to the camera for another selfie.
        await page.click("#again")
        await expect(page.locator("#take")).to_be_visible(timeout=WAIT_MS)
    finally:
        await browser.close()
        await playwright.stop()

    customer_id = withdrawal_link["customer_id"]
    history = await staff_get(live_base, f"/api/v1/customers/{customer_id}/transactions")
    assert [t["kind"] for t in history["transactions"]] == ["deposit"]
    listed = await staff_get(live_base, f"/api/v1/withdrawals?customer_id={customer_id}")
    assert listed["withdrawals"][0]["status"] == "awaiting_selfie"
