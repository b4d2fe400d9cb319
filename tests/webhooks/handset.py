"""A customer's phone for tests: texts the bank through the signed webhook, reads what
the bank sent it from the outbox table (exactly what the worker would deliver)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from smsbank.core.models import MessageChannel, OutboundMessage
from smsbank.core.settings import Settings
from tests.twilio_signing import TwilioSigner, sms_form

SMS_PATH = "/webhooks/twilio/sms"
# The link as texted: its short form, `<base>/c/<22-character token>`.
CAPTURE_LINK_RE = re.compile(
    r"https://bank\.example\.test/c/(?P<token>[A-Za-z0-9_\-]{22})(?![\w-])"
)


def capture_path(text: str) -> str:
    """`/capture/<token>` for the link in `text`: where the page lives and posts."""
    link = CAPTURE_LINK_RE.search(text)
    assert link, text
    return "/capture/" + link.group("token")


def code_in(text: str) -> str:
    """The code of a code SMS: it must be the only standalone 6-digit number in it."""
    codes = re.findall(r"(?<!\d)\d{6}(?!\d)", text)
    assert len(codes) == 1, text
    return codes[0]


def digits_in_call(say: str) -> str:
    """The code a call reads out digit by digit ("1, 2, 3, 4, 5, 6")."""
    match = re.search(r"code is ((?:\d, ){5}\d)", say)
    assert match, say
    return match.group(1).replace(", ", "")


def assert_empty_twiml(response: Any, body: bytes) -> None:
    assert response.status_code == 200, body
    assert response.content_type.startswith("text/xml")
    root = ET.fromstring(body)  # noqa: S314 - our own app's answer, not untrusted input
    assert root.tag == "Response" and len(root) == 0 and not (root.text or "").strip()


class Handset:
    """One phone number texting the bank."""

    def __init__(self, client: Any, settings: Settings, number: str) -> None:
        self.client = client
        self.signer = TwilioSigner(settings)
        self.number = number
        self.seen = 0  # outbox id up to which `new()` has shown messages

    async def text(self, body: str, *, sid: str | None = None) -> Any:
        """Send an SMS; the webhook must answer with empty TwiML."""
        response = await self.signer.post(
            self.client, SMS_PATH, sms_form(self.number, body, sid=sid)
        )
        assert_empty_twiml(response, await response.get_data())
        return response

    async def messages(self, channel: MessageChannel | None = None) -> list[OutboundMessage]:
        query = OutboundMessage.filter(to_phone=self.number)
        if channel is not None:
            query = query.filter(channel=channel)
        return list(await query.order_by("id"))

    async def new(self) -> list[str]:
        """SMS bodies the bank queued for this phone since the last call."""
        rows = [m for m in await self.messages(MessageChannel.SMS) if m.id > self.seen]
        everything = await self.messages()
        if everything:
            self.seen = max(self.seen, everything[-1].id)
        return [m.body for m in rows]

    async def ask(self, body: str) -> list[str]:
        """Text the bank and return what it queued for this phone in answer."""
        await self.new()
        await self.text(body)
        return await self.new()

    async def last_call(self) -> OutboundMessage:
        calls = await self.messages(MessageChannel.VOICE)
        assert calls, "no call was placed to this phone"
        return calls[-1]
