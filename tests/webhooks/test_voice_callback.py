"""Inbound calls are not trusted on caller ID alone (SPEC §8).

The attack: anyone can call "from" a customer's number (caller ID is easy to spoof)
and the menu read the balance, the history and a fresh withdrawal code. Now a call
whose number Twilio does not attest hears only that the bank will call the registered
number back; the call-back goes through the outbox to the real phone and offers the
menu there, its key presses tied to that call by a signed URL. The call-back is placed
with the real twilio library against the local fake Twilio.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from smsbank import calls
from smsbank.clock import utcnow
from smsbank.models import Customer, MessageChannel, OutboundMessage, OutboundStatus
from smsbank.outbox.worker import deliver_due
from smsbank.settings import Settings
from smsbank.sms_backends import TwilioBackend
from tests.fake_twilio import FakeTwilio
from tests.twilio_signing import TwilioSigner, voice_form
from tests.webhooks.handset import Handset, digits_in_call

VOICE = "/webhooks/twilio/voice"
MENU = "/webhooks/twilio/voice/menu"
BANK_NUMBER = "+15550001111"


@pytest.fixture
async def fake() -> Any:
    async with FakeTwilio(account_sid="ACtest", auth_token="test-twilio-auth-token") as server:
        yield server


async def enrolled(make_customer: Any, balance: str = "1234.50") -> Customer:
    customer: Customer = await make_customer(balance=balance)
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await customer.refresh_from_db()
    return customer


def parse(body: bytes) -> ET.Element:
    root = ET.fromstring(body)  # noqa: S314 - our own app's (or our own TwiML's) answer
    assert root.tag == "Response"
    return root


def spoken(root: ET.Element) -> str:
    return " ".join(say.text or "" for say in root.iter("Say"))


async def twiml(response: Any) -> ET.Element:
    assert response.status_code == 200, await response.get_data()
    return parse(await response.get_data())


async def spoofed_call(client: Any, settings: Settings, caller: str, **extra: str) -> ET.Element:
    """A call from `caller` that Twilio does not attest (no StirVerstat, or a lower one)."""
    form = voice_form(caller, **extra)
    return await twiml(await TwilioSigner(settings).post(client, VOICE, form))


async def callbacks_to(phone: str) -> list[OutboundMessage]:
    return list(
        await OutboundMessage.filter(
            to_phone=phone, channel=MessageChannel.VOICE, template="voice_callback"
        ).order_by("id")
    )


@pytest.mark.parametrize("verstat", ["", "TN-Validation-Passed-B", "TN-Validation-Failed"])
async def test_a_call_not_attested_reads_nothing_private_and_is_called_back(
    client: Any, settings: Settings, make_customer: Any, verstat: str
) -> None:
    customer = await enrolled(make_customer)
    await Handset(client, settings, customer.phone).ask("W 20")  # a code is waiting
    extra = {"StirVerstat": verstat} if verstat else {}

    root = await spoofed_call(client, settings, customer.phone, **extra)

    said = spoken(root)
    assert "call it back" in said
    assert root.find(".//Gather") is None  # no menu on this call
    assert "1,234.50" not in said and not any(ch.isdigit() for ch in said)
    [callback] = await callbacks_to(customer.phone)
    assert callback.customer_id == customer.id
    assert callback.status == OutboundStatus.QUEUED
    # Pressing keys anyway (a menu URL without the mark of an attested call or a
    # call-back): nothing is read.
    menu = await twiml(
        await TwilioSigner(settings).post(client, MENU, voice_form(customer.phone, Digits="1"))
    )
    assert "1,234.50" not in spoken(menu) and menu.find(".//Gather") is None


async def test_a_stranger_hears_the_same_words_and_nobody_is_called(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    for_customer = spoken(await spoofed_call(client, settings, customer.phone))
    for_stranger = spoken(await spoofed_call(client, settings, "+15559990000"))
    assert for_customer == for_stranger  # a spoofer learns nothing, not even registration
    assert await callbacks_to("+15559990000") == []


async def test_the_call_back_offers_the_menu_to_the_registered_phone(
    client: Any, settings: Settings, make_customer: Any, fake: FakeTwilio
) -> None:
    customer = await enrolled(make_customer)
    texted = Handset(client, settings, customer.phone)
    await texted.ask("W 20")
    await spoofed_call(client, settings, customer.phone)

    twilio_settings = settings.with_overrides(
        sms_backend="twilio", twilio_api_base_url=fake.base_url
    )
    backend = TwilioBackend(twilio_settings, timeout=5)
    try:
        result = await deliver_due(twilio_settings, backend)
    finally:
        await backend.close()

    assert result.sent >= 1
    [placed] = [r for r in fake.accepted if r.kind == "call"]
    assert placed.form["To"] == customer.phone and placed.form["From"] == BANK_NUMBER
    gather = parse(placed.form["Twiml"].encode()).find("Gather")
    assert gather is not None and "press 1" in spoken(parse(placed.form["Twiml"].encode()))
    [callback] = await callbacks_to(customer.phone)
    action = urlsplit(gather.get("action", ""))
    assert action.path == MENU and action.query == f"callback={callback.id}"

    # Twilio posts the key pressed on that call, signed over the URL with its query.
    async def press(digit: str, to: str = customer.phone, query: str = action.query) -> Any:
        form = voice_form(BANK_NUMBER, to=to, Digits=digit, CallSid=placed.sid or "")
        form["Direction"] = "outbound-api"
        return await TwilioSigner(settings).post(client, MENU, form, query=query)

    balance = await twiml(await press("1"))
    assert "Your balance is $1,234.50." in spoken(balance)
    again = balance.find("Gather")
    assert again is not None and urlsplit(again.get("action", "")).query == action.query
    code = digits_in_call(spoken(await twiml(await press("3"))))
    [link] = await texted.ask(code)  # the code read on the call-back works
    assert "/c/" in link

    # The same reference on a call to another number, or an old one, reads nothing.
    other = await twiml(await press("1", to="+15550109999"))
    assert "1,234.50" not in spoken(other)
    await OutboundMessage.filter(id=callback.id).update(created_at=utcnow() - timedelta(hours=2))
    stale = await twiml(await press("1"))
    assert "1,234.50" not in spoken(stale)
    # Another reference under a genuine request's signature: refused, the query is signed.
    form = voice_form(BANK_NUMBER, to=customer.phone, Digits="1")
    genuine = TwilioSigner(settings).signature(MENU, form, action.query)
    forged = await TwilioSigner(settings).post(
        client, MENU, form, query=f"callback={callback.id + 1}", signature=genuine
    )
    assert forged.status_code == 403


async def test_calling_in_again_and_again_does_not_flood_the_customer_with_calls(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    for _ in range(6):
        await spoofed_call(client, settings, customer.phone)
    assert len(await callbacks_to(customer.phone)) == settings.callbacks_per_customer_per_hour
    # And all customers together stay under the bank's cap of calls an hour.
    other = await enrolled(make_customer)
    taken = settings.callbacks_per_customer_per_hour  # the calls placed above
    full = dataclasses.replace(settings, outbound_calls_per_hour=taken)
    assert not await calls.call_back(full, other)
    assert await callbacks_to(other.phone) == []


async def test_an_attested_call_still_hears_the_menu_at_once(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    form = voice_form(customer.phone, StirVerstat="TN-Validation-Passed-A")
    root = await twiml(await TwilioSigner(settings).post(client, VOICE, form))
    gather = root.find("Gather")
    assert gather is not None
    assert urlsplit(gather.get("action", "")).query == "caller=verified"
    assert await callbacks_to(customer.phone) == []


async def test_a_spanish_speaking_customer_is_called_back_in_spanish(
    client: Any, settings: Settings, make_customer: Any, fake: FakeTwilio
) -> None:
    customer: Customer = await make_customer(balance="1234.50", language="es")

    root = await spoofed_call(client, settings, customer.phone)
    # Before anyone is known, the same words for every caller, in both languages.
    assert [say.get("language") for say in root.iter("Say")] == ["en-US", "es-MX"]
    assert "le devolveremos la llamada" in spoken(root)

    twilio_settings = settings.with_overrides(
        sms_backend="twilio", twilio_api_base_url=fake.base_url
    )
    backend = TwilioBackend(twilio_settings, timeout=5)
    try:
        await deliver_due(twilio_settings, backend)
    finally:
        await backend.close()
    [placed] = [r for r in fake.accepted if r.kind == "call"]
    call_twiml = parse(placed.form["Twiml"].encode())
    assert "Le llama SMS Bank" in spoken(call_twiml) and "oprima 1" in spoken(call_twiml)
    assert {say.get("language") for say in call_twiml.iter("Say")} == {"es-MX"}

    gather = call_twiml.find("Gather")
    assert gather is not None
    form = voice_form(BANK_NUMBER, to=customer.phone, Digits="1", CallSid=placed.sid or "")
    query = urlsplit(gather.get("action", "")).query
    balance = await twiml(await TwilioSigner(settings).post(client, MENU, form, query=query))
    assert "Su saldo es de $1,234.50." in spoken(balance)
