"""`/docs` in a real headless Chromium: Swagger UI renders the OpenAPI 3.1 document (the
operations are on the page), under the pages' Content-Security-Policy with no violation,
from the bank's own files, and a staff key given to "Authorize" works but is never
stored by the browser."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from tests.chromium import headless_chromium
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.browser
WAIT_MS = 20_000

# Recorded by the page itself: every resource or script the policy refused.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""
STORED = "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"


async def test_docs_render_the_operations_and_keep_no_key(
    chromium: str, live_bank: str, tmp_path: Path
) -> None:
    async with headless_chromium(chromium, tmp_path / "chromium-profile") as browser:
        page = await browser.new_page()
        await page.add_init_script(RECORD_VIOLATIONS)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        response = await page.goto(f"{live_bank}/docs")
        assert response is not None and response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]

        paths = page.locator(".opblock-summary-path")
        await expect(paths.filter(has_text="/api/v1/customers").first).to_be_visible(
            timeout=WAIT_MS
        )
        await expect(paths.filter(has_text="/verify_face")).to_be_visible()
        assert await page.get_by_text("Unable to render this definition").count() == 0

        # Authorize with the staff key, then call the API from the page.
        await page.click("button.authorize")
        await page.fill(".modal-ux input[type=text], .modal-ux input[type=password]", ADMIN_KEY)
        await page.click(".modal-ux button.authorize")
        await page.click(".modal-ux button.btn-done")
        listing = page.locator('[data-path="/api/v1/customers"]')
        operation = page.locator(".opblock-get", has=listing)
        await operation.locator(".opblock-summary").click()
        await operation.locator("button.try-out__btn").click()
        await operation.locator("button.execute").click()
        status = operation.locator(".live-responses-table tr.response .response-col_status")
        await expect(status).to_have_text("200", timeout=WAIT_MS)

        # The key worked, and the browser keeps nothing of it.
        assert await page.evaluate(STORED) == "[[],[]]"
        assert await browser.cookies() == []
        await page.reload()
        await expect(paths.first).to_be_visible(timeout=WAIT_MS)
        assert await page.evaluate(STORED) == "[[],[]]"
        assert await page.locator("button.authorize.locked").count() == 0

        assert await page.evaluate("window.__violations") == []
        origins = {f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" for url in requested}
        assert origins == {live_bank}  # no CDN, nothing from elsewhere
