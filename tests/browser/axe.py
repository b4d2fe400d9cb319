"""Accessibility checks in the browser tests: axe-core, run inside the page under test.

axe-core comes from npm (`tests/browser/package.json`, installed by `make install-test`).
Its script is evaluated through the DevTools protocol rather than added as a `<script>`
tag, so a page's Content-Security-Policy (which rightly refuses inline scripts) does not
stop the check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

AXE_SCRIPT = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
# What a user with a screen reader, low vision or a keyboard cannot get past.
BLOCKING_IMPACTS = ("serious", "critical")


def axe_script() -> str:
    if not AXE_SCRIPT.is_file():
        pytest.fail(f"{AXE_SCRIPT} is missing: run `make install-test` (npm ci in tests/browser)")
    return AXE_SCRIPT.read_text(encoding="utf-8")


async def blocking_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each
    (rule, impact, the elements it names), so a failing assert says what to fix."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_script())
    result: dict[str, Any] = await page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} -> "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"])
        for violation in result["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]
