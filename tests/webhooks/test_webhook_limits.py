"""One hostile upload must not stall the bank: a webhook without a signature is refused
before its body is read, a body past the cap is refused before it is read to its end,
and a body with too many fields is never parsed; meanwhile `/healthz` answers.

Raw HTTP/1.1 over real sockets to a real hypercorn server, so what is "read" is what the
server actually took off the wire. Nothing here is timed: each test shows an ORDER (the
answer arrives while the body is unsent or still streaming), which is only possible when
the server did not wait for, parse or hash the body."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from smsbank.settings import Settings
from tests.conftest import reset_database
from tests.fake_twilio import free_port
from tests.server_thread import ServerThread, wait_until_up
from tests.twilio_signing import TwilioSigner, new_sid, sms_form
from webhooks.signature import MAX_WEBHOOK_BYTES, MAX_WEBHOOK_FIELDS

WEBHOOKS = [
    "/webhooks/twilio/sms",
    "/webhooks/twilio/status",
    "/webhooks/twilio/voice",
    "/webhooks/twilio/voice/menu",
]
FIELD = b"MediaUrl00=&"  # an empty field: a million of them make the ~12 MB attack body
MILLION_FIELDS = 1_000_000
BOGUS = "bm90IGEgc2lnbmF0dXJlIGF0IGFsbA=="


@pytest.fixture
async def live_base(settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    served = settings.with_overrides(port=port)
    await reset_database(served.database_url)
    server = ServerThread(served)
    server.start()
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_until_up(base, server)
        yield base
    finally:
        server.stop()


async def connect(base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    netloc = urlsplit(base).netloc
    host, port = netloc.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    return reader, writer, netloc


async def read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1])


class Upload:
    """A POST on its own connection whose body the test sends piece by piece."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.sent = 0

    @classmethod
    async def start(cls, base: str, path: str, headers: dict[str, str]) -> Upload:
        reader, writer, netloc = await connect(base)
        lines = [f"POST {path} HTTP/1.1", f"Host: {netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        return cls(reader, writer)

    async def send(self, data: bytes, *, chunked: bool = False) -> None:
        framed = b"%x\r\n%s\r\n" % (len(data), data) if chunked else data
        self.writer.write(framed)
        await self.writer.drain()
        self.sent += len(data)

    async def stream(self, body: bytes, *, chunked: bool = False) -> None:
        """Send `body` in 64 KiB pieces until it is all sent or the server hangs up."""
        with contextlib.suppress(ConnectionError):
            for start in range(0, len(body), 64 * 1024):
                await self.send(body[start : start + 64 * 1024], chunked=chunked)

    async def status(self) -> int:
        return await read_status(self.reader)

    def close(self) -> None:
        self.writer.close()


async def healthz(base: str) -> int:
    reader, writer, netloc = await connect(base)
    try:
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {netloc}\r\n\r\n".encode())
        await writer.drain()
        return await read_status(reader)
    finally:
        writer.close()


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_a_webhook_without_a_signature_is_refused_before_its_body(
    live_base: str, path: str
) -> None:
    upload = await Upload.start(
        live_base, path, {"Content-Type": FORM, "Content-Length": str(len(FIELD) * MILLION_FIELDS)}
    )
    try:
        # Not one byte of the body is sent, and the answer comes anyway.
        assert await upload.status() == 403
        assert upload.sent == 0
        assert await healthz(live_base) == 200
    finally:
        upload.close()


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_a_huge_body_with_a_bogus_signature_is_refused_before_it_is_read(
    live_base: str, path: str
) -> None:
    body = FIELD * MILLION_FIELDS
    upload = await Upload.start(
        live_base,
        path,
        {"Content-Type": FORM, "Content-Length": str(len(body)), "X-Twilio-Signature": BOGUS},
    )
    try:
        # The declared length alone is refused: the answer comes with the body unsent...
        assert await upload.status() == 413
        assert upload.sent == 0
        # ...and the bank answers others while the attacker pushes the 12 MB anyway.
        sending = asyncio.create_task(upload.stream(body))
        assert await healthz(live_base) == 200
        await sending
    finally:
        upload.close()


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_a_chunked_flood_is_cut_at_the_cap_while_healthz_answers(
    live_base: str, path: str
) -> None:
    """No Content-Length: the server must count. The attacker streams the million-field
    body; the refusal arrives at the first chunk past the cap, with ~12 MB still to go,
    so the server neither waited for the body nor parsed it. (The test then stops
    sending: a server that hangs up on unread data resets the connection, and the
    answer could be lost with it.)"""
    body = FIELD * MILLION_FIELDS
    upload = await Upload.start(
        live_base,
        path,
        {"Content-Type": FORM, "Transfer-Encoding": "chunked", "X-Twilio-Signature": BOGUS},
    )
    try:
        await upload.send(body[:MAX_WEBHOOK_BYTES], chunked=True)
        assert await healthz(live_base) == 200  # while the upload is open
        await upload.send(body[MAX_WEBHOOK_BYTES : MAX_WEBHOOK_BYTES + len(FIELD)], chunked=True)
        assert await upload.status() == 413
        assert upload.sent < len(body) // 100
    finally:
        upload.close()


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_too_many_fields_are_refused_unparsed(
    client: Any, settings: Settings, path: str
) -> None:
    within_size = b"&" * (MAX_WEBHOOK_BYTES - 1)
    response = await client.post(
        path, data=within_size, headers={"Content-Type": FORM, "X-Twilio-Signature": BOGUS}
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "too_many_fields"


async def test_the_largest_real_twilio_sms_fits_the_caps(client: Any, settings: Settings) -> None:
    """A 1,600-character body of 4-byte characters and ten pictures: Twilio's biggest."""
    form = sms_form("+15550199001", "\U0001f600" * 1600)
    form.update({f"MediaUrl{i}": f"https://api.twilio.com/{new_sid('ME')}" * 2 for i in range(10)})
    form.update({f"MediaContentType{i}": "image/jpeg" for i in range(10)})
    form["NumMedia"] = "10"
    assert len(form) < MAX_WEBHOOK_FIELDS // 4
    response = await TwilioSigner(settings).post(client, "/webhooks/twilio/sms", form)
    assert response.status_code == 200
