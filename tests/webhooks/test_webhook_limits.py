"""One hostile upload must not stall the bank: a webhook without a signature is refused
before its body is read, a body past the cap is refused before it is read to its end,
and a body with too many fields is never parsed; meanwhile `/healthz` answers.

Raw HTTP/1.1 over real sockets to a real hypercorn server, so what is "read" is what the
server actually took off the wire. Nothing here is timed: each test shows an ORDER (the
answer arrives while the body is unsent or still streaming), which is only possible when
the server did not wait for, parse or hash the body."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from smsbank.core.settings import Settings
from tests.raw_http import Upload, healthz
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


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_a_webhook_without_a_signature_is_refused_before_its_body(
    live_bank: str, path: str
) -> None:
    upload = await Upload.start(
        live_bank, path, {"Content-Type": FORM, "Content-Length": str(len(FIELD) * MILLION_FIELDS)}
    )
    try:
        # Not one byte of the body is sent, and the answer comes anyway.
        assert await upload.status() == 403
        assert upload.sent == 0
        assert await healthz(live_bank) == 200
    finally:
        upload.close()


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_a_huge_body_with_a_bogus_signature_is_refused_before_it_is_read(
    live_bank: str, path: str
) -> None:
    body = FIELD * MILLION_FIELDS
    upload = await Upload.start(
        live_bank,
        path,
        {"Content-Type": FORM, "Content-Length": str(len(body)), "X-Twilio-Signature": BOGUS},
    )
    try:
        # The declared length alone is refused: the answer comes with the body unsent...
        assert await upload.status() == 413
        assert upload.sent == 0
        # ...and the bank answers others while the attacker pushes the 12 MB anyway.
        sending = asyncio.create_task(upload.stream(body))
        assert await healthz(live_bank) == 200
        await sending
    finally:
        upload.close()


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_a_chunked_flood_is_cut_at_the_cap_while_healthz_answers(
    live_bank: str, path: str
) -> None:
    """No Content-Length: the server must count. The attacker streams the million-field
    body; the refusal arrives at the first chunk past the cap, with ~12 MB still to go,
    so the server neither waited for the body nor parsed it. (The test then stops
    sending: a server that hangs up on unread data resets the connection, and the
    answer could be lost with it.)"""
    body = FIELD * MILLION_FIELDS
    upload = await Upload.start(
        live_bank,
        path,
        {"Content-Type": FORM, "Transfer-Encoding": "chunked", "X-Twilio-Signature": BOGUS},
    )
    try:
        await upload.send(body[:MAX_WEBHOOK_BYTES], chunked=True)
        assert await healthz(live_bank) == 200  # while the upload is open
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
