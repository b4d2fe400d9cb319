"""The dev phone in a real headless Chromium against a real hypercorn server.

The server runs in a background thread (its own event loop) on 127.0.0.1 and a free
port, with the outbox worker on and the console backend, sharing the test database.
The test prepares the database before the server starts, and from then on talks to the
bank only over HTTP, so the two event loops never share a database connection.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from smsbank.core.customers import create_customer
from smsbank.core.models import Customer, OutboundMessage, OutboundStatus
from smsbank.core.settings import Settings
from tests.bank_server import serving
from tests.browser.axe import blocking_violations
from tests.chromium import CHROMIUM_ARGS
from tests.conftest import ADMIN_KEY, fresh_database
from tests.fake_twilio import free_port

pytestmark = pytest.mark.browser

PHONE = "+15550130001"
CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
WAIT_MS = 20_000  # bounded waits for the page to show what the server did
PHONE_SCREEN = {"width": 390, "height": 844}  # a common phone, in CSS pixels
FLOOD_LIMIT = 3  # texts a minute from one number before the bank stops answering
OLD_MESSAGES = 30  # enough history to fill more than a phone's screen


@pytest.fixture
def server_settings(settings: Settings) -> Iterator[Settings]:
    port = free_port()
    yield settings.with_overrides(
        public_base_url=f"http://127.0.0.1:{port}",
        port=port,
        outbox_enabled=True,
        outbox_poll_seconds=0.1,
        inbound_rate_limit_per_minute=FLOOD_LIMIT,
    )


@pytest.fixture
async def enrolled_customer(server_settings: Settings) -> AsyncIterator[int]:
    """A customer with $100 and a face enrolled (any embedding bytes mark enrolment)."""
    async with fresh_database(server_settings.database_url):
        customer = await create_customer(
            "Ada Lovelace", PHONE, currency="USD", initial_deposit=None, actor="test"
        )
        await Customer.filter(id=customer.id).update(
            face_embedding=b"enrolled", face_model="Dlib", balance_minor=10_000
        )
        # An earlier conversation, longer than the screen (already delivered).
        for number in range(1, OLD_MESSAGES + 1):
            await OutboundMessage.create(
                to_phone=PHONE,
                from_phone=server_settings.twilio_phone_number,
                body=f"SMS Bank: old message {number}.",
                template="test.history",
                customer_id=customer.id,
                status=OutboundStatus.SENT,
                next_attempt_at=customer.created_at,
            )
    yield customer.id


@pytest.fixture
async def live_base(server_settings: Settings, enrolled_customer: int) -> AsyncIterator[str]:
    async with serving(server_settings) as base:
        yield base


async def open_phone(playwright: Any, chromium: str, profile: Path, **options: Any) -> Any:
    return await playwright.chromium.launch_persistent_context(
        str(profile), executable_path=chromium, headless=True, args=CHROMIUM_ARGS, **options
    )


async def test_at_a_phones_size_the_text_box_stays_put_and_the_newest_message_shows(
    chromium: str, live_base: str, tmp_path: Path
) -> None:
    async with async_playwright() as playwright:
        browser = await open_phone(
            playwright, chromium, tmp_path / "profile", viewport=PHONE_SCREEN
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{live_base}/dev/phone?phone={PHONE.replace('+', '%2B')}")
            newest_old = page.locator(".msg", has_text=f"old message {OLD_MESSAGES}.")
            # Reopened with a long thread: the newest message is on screen, not the oldest.
            await expect(newest_old).to_be_in_viewport(timeout=WAIT_MS)
            await expect(page.locator(".msg", has_text="old message 1.")).not_to_be_in_viewport()
            await expect(page.locator("#body")).to_be_in_viewport()

            for _ in range(2):
                await page.fill("#body", "BAL")
                await page.click("#send")
                # The button is off while a text is being sent: a second click then
                # would send nothing (seen on a busy machine).
                await expect(page.locator("#send")).to_be_enabled()
            replies = page.locator(".msg.outbound", has_text="balance")
            await expect(replies).to_have_count(2, timeout=WAIT_MS)
            # After sending, the newest reply is whole on screen and the box did not move.
            await expect(replies.last).to_be_in_viewport(ratio=1, timeout=WAIT_MS)
            await expect(page.locator("#body")).to_be_in_viewport(ratio=1)
            await expect(page.locator("#send")).to_be_in_viewport(ratio=1)
            # Only the thread scrolls, never the page.
            assert await page.evaluate(
                "document.scrollingElement.scrollHeight <= window.innerHeight"
            )
        finally:
            await browser.close()


async def test_texts_the_bank_ignored_for_flooding_say_so(
    chromium: str, live_base: str, tmp_path: Path
) -> None:
    async with async_playwright() as playwright:
        browser = await open_phone(playwright, chromium, tmp_path / "profile")
        try:
            page = await browser.new_page()
            await page.goto(f"{live_base}/dev/phone?phone={PHONE.replace('+', '%2B')}")
            for _ in range(FLOOD_LIMIT + 1):
                await page.fill("#body", "BAL")
                await page.click("#send")
                await expect(page.locator("#send")).to_be_enabled()
            sent = page.locator(".msg.inbound")
            await expect(sent).to_have_count(FLOOD_LIMIT + 1, timeout=WAIT_MS)
            await expect(sent.last).to_contain_text("no reply: rate-limited", timeout=WAIT_MS)
            for answered in range(FLOOD_LIMIT):
                await expect(sent.nth(answered)).not_to_contain_text("rate-limited")
            balances = page.locator(".msg.outbound", has_text="balance")
            await expect(balances).to_have_count(FLOOD_LIMIT, timeout=WAIT_MS)
        finally:
            await browser.close()


async def test_a_call_shows_as_a_labelled_bubble_and_the_page_passes_axe(
    chromium: str, live_base: str, tmp_path: Path
) -> None:
    async with async_playwright() as playwright:
        browser = await open_phone(
            playwright, chromium, tmp_path / "profile", viewport=PHONE_SCREEN
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{live_base}/dev/phone?phone={PHONE.replace('+', '%2B')}")
            await page.fill("#body", "W 20")
            await page.click("#send")
            await expect(page.locator(".msg.outbound").last).to_contain_text(CODE, timeout=WAIT_MS)
            await page.fill("#body", "CALL")
            await page.click("#send")
            call = page.locator(".msg.voice")
            await expect(call).to_have_count(1, timeout=WAIT_MS)
            await expect(call.locator(".badge")).to_have_text("Call")
            shown = await call.inner_text()
            # Words only: no emoji or other pictographs a phone's font may lack.
            assert all(unicodedata.category(ch) != "So" for ch in shown), shown
            assert await blocking_violations(page) == []
        finally:
            await browser.close()


async def test_withdraw_by_text_in_the_dev_phone(
    chromium: str,
    live_base: str,
    server_settings: Settings,
    enrolled_customer: int,
    tmp_path: Path,
) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{live_base}/dev/phone?phone={PHONE.replace('+', '%2B')}")
            outbound = page.locator(".msg.outbound")

            await page.fill("#body", "WITHDRAW 20")
            await page.click("#send")

            await expect(page.locator(".msg.inbound").first).to_contain_text(
                "WITHDRAW 20", timeout=WAIT_MS
            )
            await expect(outbound.last).to_contain_text(CODE, timeout=WAIT_MS)
            code_text = await outbound.last.inner_text()
            assert "$20.00" in code_text
            found = CODE.search(code_text)
            assert found is not None
            # The console backend marks it sent; the thread shows that too.
            await expect(outbound.last).to_contain_text("sent", timeout=WAIT_MS)

            await page.fill("#body", found.group(0))
            await page.press("#body", "Enter")

            link = page.locator(".msg.outbound a.link", has_text="/c/")
            await expect(link).to_have_count(1, timeout=WAIT_MS)
            href = await link.get_attribute("href")
            assert href is not None and href.startswith(f"{live_base}/c/")

            # The link opens (in a new tab, as a phone would open it from a text).
            async with page.expect_popup() as popup_info:
                await link.click()
            capture = await popup_info.value
            await capture.wait_for_load_state()
            # The short link redirects to the page at /capture/<token>.
            assert capture.url == href.replace("/c/", "/capture/")
            # ...on the selfie page for this withdrawal.
            await expect(capture.locator("#capture")).to_be_visible(timeout=WAIT_MS)
            await expect(capture.locator("#title")).to_contain_text("$20.00")
            assert await page.locator("#error").is_hidden()
        finally:
            await browser.close()

    # What the page showed is what the bank did: a withdrawal waiting for its selfie.
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{live_base}/api/v1/withdrawals",
            params={"status": "awaiting_selfie"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as response,
    ):
        assert response.status == 200
        [withdrawal] = (await response.json())["withdrawals"]
    assert withdrawal["customer_id"] == enrolled_customer
    assert withdrawal["amount"] == "20.00"
