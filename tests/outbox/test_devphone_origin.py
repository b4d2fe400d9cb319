"""A web page must not drive a developer's dev phone: no cross-site send (CSRF), no
reading the thread through a DNS-rebound name, JSON only on the send endpoint.

Real requests to a real hypercorn server, and a real Chromium on another origin trying
the classic JSON CSRF (a text/plain form and a no-cors fetch, both sent by browsers
without asking the server first)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from smsbank.models import InboundMessage
from smsbank.settings import Settings
from tests.chromium import headless_chromium
from tests.fake_twilio import free_port
from tests.raw_http import connect, read_status

PHONE = "+15550140001"
SEND = {"from": PHONE, "body": "BAL"}


async def test_send_takes_json_only(client: Any) -> None:
    # A form (urlencoded or text/plain) is what a cross-site page can post without a
    # CORS preflight; its body can still be valid JSON.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = await client.post(
            "/dev/phone/send", data=json.dumps(SEND), headers={"Content-Type": content_type}
        )
        assert response.status_code == 415, content_type
        assert (await response.get_json())["error"]["code"] == "unsupported_media_type"
    assert await InboundMessage.all().count() == 0


async def test_every_route_refuses_another_origin_or_host(client: Any) -> None:
    refusals = (
        ({"Origin": "http://evil.example"}, "cross_origin"),
        ({"Origin": "null"}, "cross_origin"),
        ({"Origin": "http://127.0.0.1:8080"}, "cross_origin"),  # another local service
        ({"Host": "evil.example:5000"}, "forbidden_host"),  # a DNS-rebound name
        ({"Host": "127.0.0.1.evil.example"}, "forbidden_host"),
    )
    for headers, code in refusals:
        for method, path, kwargs in (
            ("GET", "/dev/phone", {}),
            ("GET", f"/dev/messages?phone={PHONE.replace('+', '%2B')}", {}),
            ("GET", "/dev/static/devphone.js", {}),
            ("POST", "/dev/phone/send", {"json": SEND}),
        ):
            response = await client.open(path, method=method, headers=headers, **kwargs)
            assert response.status_code == 403, (headers, path)
            assert (await response.get_json())["error"]["code"] == code
    assert await InboundMessage.all().count() == 0


async def test_own_pages_and_hosts_are_served(client: Any, settings: Settings) -> None:
    # Loopback names, the public host (a tunnel), and the bank's own origin.
    for headers in (
        {"Host": "localhost:5000", "Origin": "http://localhost:5000"},
        {"Host": "127.0.0.1:5000", "Origin": "http://127.0.0.1:5000"},
        {"Host": "[::1]:5000"},
        {"Host": "bank.example.test", "Origin": settings.base_url},
    ):
        response = await client.get("/dev/messages", query_string={"phone": PHONE}, headers=headers)
        assert response.status_code == 200, headers
    response = await client.post(
        "/dev/phone/send", json=SEND, headers={"Origin": "http://localhost", "Host": "localhost"}
    )
    assert response.status_code == 200


async def thread_over_http(base: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(base + "/dev/messages", params={"phone": PHONE}) as response,
    ):
        assert response.status == 200
        messages: list[dict[str, Any]] = (await response.json())["messages"]
        return messages


async def test_real_requests_from_elsewhere_are_refused(live_bank: str) -> None:
    port = live_bank.rsplit(":", 1)[1]
    async with aiohttp.ClientSession() as session:
        async with session.get(
            live_bank + "/dev/messages",
            params={"phone": PHONE},
            headers={"Host": f"rebound.example:{port}"},
        ) as response:
            assert response.status == 403
        async with session.post(
            live_bank + "/dev/phone/send", json=SEND, headers={"Origin": "http://evil.example"}
        ) as response:
            assert response.status == 403
        async with session.post(
            live_bank + "/dev/phone/send",
            data=json.dumps(SEND),
            headers={"Content-Type": "text/plain", "Origin": live_bank},
        ) as response:
            assert response.status == 415
        async with session.post(
            live_bank + "/dev/phone/send", json=SEND, headers={"Origin": live_bank}
        ) as response:
            assert response.status == 200  # the page's own request
    # A Host that is not a host at all (the test client cannot even send it): refused.
    reader, writer, _ = await connect(live_bank)
    try:
        writer.write(b"GET /dev/messages?phone=%2B15550140001 HTTP/1.1\r\nHost: [::1\r\n\r\n")
        assert await read_status(reader) == 403
    finally:
        writer.close()
    received = [m["body"] for m in await thread_over_http(live_bank) if m["direction"] == "inbound"]
    assert received == ["BAL"]


# The classic JSON CSRF: a text/plain form whose one field name and value join into a
# JSON document, and a no-cors fetch. Neither needs the server's permission to be sent.
ATTACKER_PAGE = """<!doctype html><html><body>
<iframe name="sink"></iframe>
<form id="csrf" method="POST" action="{send}" enctype="text/plain" target="sink">
<input name='{{"from": "{phone}", "body": "HISTORY", "x": "' value='"}}'>
</form>
<script>
(async () => {{
  const landed = new Promise(resolve => {{
    document.querySelector("iframe").addEventListener("load", resolve, {{once: true}});
  }});
  document.getElementById("csrf").submit();
  await landed;
  await fetch("{send}", {{method: "POST", mode: "no-cors",
    headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({payload})}});
  try {{
    await fetch("{send}", {{method: "POST", headers: {{"Content-Type": "application/json"}},
      body: JSON.stringify({payload})}});
  }} catch (refused) {{}}
  document.title = "attack sent";
}})();
</script></body></html>"""


@pytest.fixture
async def attacker_origin(live_bank: str) -> AsyncIterator[str]:
    """A page on another origin (another port of this machine), as any website would be."""
    page = ATTACKER_PAGE.format(
        send=live_bank + "/dev/phone/send",
        phone=PHONE,
        payload=json.dumps({"from": PHONE, "body": "BAL"}),
    )

    async def serve_page(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", serve_page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


@pytest.mark.browser
async def test_a_page_on_another_origin_cannot_text_from_the_dev_phone(
    chromium: str, live_bank: str, attacker_origin: str, tmp_path: Path
) -> None:
    async with headless_chromium(chromium, tmp_path / "chromium-profile") as browser:
        page = await browser.new_page()
        await page.goto(attacker_origin)
        await page.wait_for_function("document.title === 'attack sent'", timeout=20_000)
    # Every request above has been answered: nothing reached the bank's webhook.
    assert await thread_over_http(live_bank) == []
