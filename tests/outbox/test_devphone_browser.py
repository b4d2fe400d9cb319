"""The dev phone in a real headless Chromium against a real hypercorn server.

The server runs in a background thread (its own event loop) on 127.0.0.1 and a free
port, with the outbox worker on and the console backend, sharing the test database.
The test prepares the database before the server starts, and from then on talks to the
bank only over HTTP, so the two event loops never share a database connection.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect
from tortoise import Tortoise

from smsbank.customers import create_customer
from smsbank.db import tortoise_config
from smsbank.models import Customer
from smsbank.settings import Settings
from tests.conftest import ADMIN_KEY, reset_database
from tests.fake_twilio import free_port
from tests.server_thread import CHROMIUM_ARGS, ServerThread, wait_until_up

pytestmark = pytest.mark.browser

PHONE = "+15550130001"
CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
WAIT_MS = 20_000  # bounded waits for the page to show what the server did


@pytest.fixture
def server_settings(settings: Settings) -> Iterator[Settings]:
    port = free_port()
    yield settings.with_overrides(
        public_base_url=f"http://127.0.0.1:{port}",
        port=port,
        outbox_enabled=True,
        outbox_poll_seconds=0.1,
    )


@pytest.fixture
async def enrolled_customer(server_settings: Settings) -> AsyncIterator[int]:
    """A customer with $100 and a face enrolled (any embedding bytes mark enrolment)."""
    await reset_database(server_settings.database_url)
    await Tortoise.init(
        config=tortoise_config(server_settings.database_url), _enable_global_fallback=True
    )
    try:
        customer = await create_customer(
            "Ada Lovelace", PHONE, currency="USD", initial_deposit=None, actor="test"
        )
        await Customer.filter(id=customer.id).update(
            face_embedding=b"enrolled", face_model="Dlib", balance_minor=10_000
        )
    finally:
        await Tortoise.close_connections()
    yield customer.id


@pytest.fixture
async def live_base(server_settings: Settings, enrolled_customer: int) -> AsyncIterator[str]:
    server = ServerThread(server_settings)
    server.start()
    base = server_settings.base_url
    try:
        await wait_until_up(base, server)
        yield base
    finally:
        server.stop()


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

            link = page.locator(".msg.outbound a.link", has_text="/capture/")
            await expect(link).to_have_count(1, timeout=WAIT_MS)
            href = await link.get_attribute("href")
            assert href is not None and href.startswith(f"{live_base}/capture/")

            # The link opens (in a new tab, as a phone would open it from a text).
            async with page.expect_popup() as popup_info:
                await link.click()
            capture = await popup_info.value
            await capture.wait_for_load_state()
            assert capture.url == href
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
