"""The names tests/browser/test_capture_page.py imports from here, where the capture-page
branch expects them; the helpers live in tests/bank_server.py and tests/chromium.py.
Remove once that branch is merged and imports them from there."""

from __future__ import annotations

from tests.bank_server import ServerThread
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, headless_chromium

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "ServerThread", "headless_chromium", "wait_until_up"]


async def wait_until_up(base: str, server: ServerThread) -> None:
    await server.wait_until_up(base)
