"""The bank served by a real hypercorn in a background thread, for the browser tests.

The server has its own event loop on 127.0.0.1 and the settings' port. A test prepares
the database before the server starts and from then on talks to the bank only over
HTTP, so the two event loops never share a database connection.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from hypercorn.asyncio import serve
from hypercorn.config import Config
from playwright.async_api import BrowserContext, async_playwright

from smsbank.app import create_app
from smsbank.faces.service import FaceService
from smsbank.services import Services
from smsbank.settings import Settings

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


class ServerThread(threading.Thread):
    """`create_app(settings)` served by hypercorn in this thread's own event loop;
    `faces` hands in an already warmed face engine (the session's shared one)."""

    def __init__(self, settings: Settings, faces: FaceService | None = None) -> None:
        super().__init__(name="hypercorn-test-server", daemon=True)
        self.settings = settings
        self.faces = faces
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # re-raised in the test by stop()
            self.failure = exc

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        config = Config()
        config.bind = [f"127.0.0.1:{self.settings.port}"]
        config.accesslog = None
        config.graceful_timeout = 5
        services = (
            Services(settings=self.settings, face=self.faces) if self.faces is not None else None
        )
        app = create_app(self.settings, services=services)
        await serve(app, config, shutdown_trigger=self.stopping.wait)

    def stop(self) -> None:
        if self.loop is not None and self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.join(timeout=30)
        assert not self.is_alive(), "the test server did not stop"
        if self.failure is not None:
            raise self.failure


async def wait_until_up(base: str, server: ServerThread, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.failure is not None:
                raise server.failure
            try:
                async with session.get(base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{base} did not come up within {within}s")


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
