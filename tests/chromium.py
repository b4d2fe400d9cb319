"""The system Chromium, headless, for the browser tests (never a downloaded one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, async_playwright

CHROMIUM = "/usr/bin/chromium"
# What Chromium needs to run headless here without reaching for the network.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--no-sandbox",
    "--headless=new",
]


@asynccontextmanager
async def headless_chromium(
    chromium: str, profile: Path, **options: Any
) -> AsyncIterator[BrowserContext]:
    """The system Chromium, headless, with its own profile folder; closed afterwards."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, headless=True, args=CHROMIUM_ARGS, **options
        )
        try:
            yield browser
        finally:
            await browser.close()
