"""The voice webhooks: the `<Gather>` menu for customers, a refusal for strangers, and
each menu choice. TwiML is always parsed as XML, never matched as a string."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import pytest

from smsbank import ledger
from smsbank.models import Customer, InboundMessage, MessageChannel, OutboundMessage
from smsbank.settings import Settings
from tests.twilio_signing import TwilioSigner, new_sid, voice_form
from tests.webhooks.handset import CAPTURE_LINK_RE, Handset, digits_in_call

VOICE = "/webhooks/twilio/voice"
MENU = "/webhooks/twilio/voice/menu"
NEW_NUMBER = "+15557654321"
ATTESTED = "TN-Validation-Passed-A"


async def enrolled(make_customer: Any) -> Customer:
    customer: Customer = await make_customer()
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await customer.refresh_from_db()
    return customer


async def twiml(response: Any) -> ET.Element:
    assert response.status_code == 200, await response.get_data()
    assert response.content_type.startswith("text/xml")
    root = ET.fromstring(await response.get_data())  # noqa: S314 - our own app's answer
    assert root.tag == "Response"
    return root


def spoken(root: ET.Element) -> list[str]:
    return [say.text or "" for say in root.iter("Say")]


async def call(client: Any, settings: Settings, path: str, caller: str, **extra: str) -> Any:
    """A call whose caller ID Twilio attests, as a customer's own phone's is: the first
    webhook carries `StirVerstat`, the menu's URL the mark our TwiML gave it."""
    if path == VOICE:
        extra.setdefault("StirVerstat", ATTESTED)
        return await TwilioSigner(settings).post(client, path, voice_form(caller, **extra))
    return await TwilioSigner(settings).post(
        client, path, voice_form(caller, **extra), query="caller=verified"
    )


async def test_a_customer_hears_the_menu(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    root = await twiml(await call(client, settings, VOICE, customer.phone))
    [gather] = root.findall("Gather")
    assert gather.get("numDigits") == "1"
    assert (
        gather.get("action")
        == "https://bank.example.test/webhooks/twilio/voice/menu?caller=verified"
    )
    assert gather.get("method") == "POST"
    menu = " ".join(spoken(gather))
    for choice in ("press 1", "press 2", "press 3"):
        assert choice in menu
    # After the Gather (nothing pressed): a goodbye and a hang-up, in that order.
    tags = [child.tag for child in root]
    assert tags == ["Gather", "Say", "Hangup"]
    stored = await InboundMessage.get(from_phone=customer.phone)
    assert stored.channel == MessageChannel.VOICE and stored.customer_id == customer.id


async def test_a_spanish_speaking_customer_hears_everything_in_spanish(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer(language="es")
    await ledger.deposit(customer.id, Decimal("5"))
    root = await twiml(await call(client, settings, VOICE, customer.phone))
    [gather] = root.findall("Gather")
    assert "oprima 1" in " ".join(spoken(gather))
    assert {say.get("language") for say in root.iter("Say")} == {"es-MX"}

    balance = await twiml(await call(client, settings, MENU, customer.phone, Digits="1"))
    assert spoken(balance)[0] == "Su saldo es de $105.00."
    history = await twiml(await call(client, settings, MENU, customer.phone, Digits="2"))
    said = spoken(history)
    assert said[0] == "Sus últimos 2 movimientos."  # spoken words keep their accents
    assert re.fullmatch(r"Depósito de \$5\.00 el \d{1,2} de [a-z]+\.", said[1]), said[1]
    assert {say.get("language") for say in history.iter("Say")} == {"es-MX"}


async def test_an_english_speaking_customer_hears_english(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    root = await twiml(await call(client, settings, VOICE, customer.phone))
    assert {say.get("language") for say in root.iter("Say")} == {"en-US"}


async def test_a_stranger_hears_the_number_is_not_registered(
    client: Any, settings: Settings
) -> None:
    root = await twiml(await call(client, settings, VOICE, "+15559990000"))
    assert root.find("Gather") is None
    assert "not registered" in " ".join(spoken(root))
    assert root[-1].tag == "Hangup"


async def test_the_same_call_asking_twice_is_stored_once(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    sid = new_sid("CA")
    for _ in range(2):
        await twiml(await call(client, settings, VOICE, customer.phone, CallSid=sid))
    assert await InboundMessage.filter(message_sid=sid).count() == 1


async def test_press_1_for_the_balance(client: Any, settings: Settings, make_customer: Any) -> None:
    customer = await make_customer(balance="1234.50")
    root = await twiml(await call(client, settings, MENU, customer.phone, Digits="1"))
    assert spoken(root)[0] == "Your balance is $1,234.50."
    # The menu is offered again.
    assert root.find("Gather") is not None


async def test_press_2_for_the_last_transactions(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    from decimal import Decimal

    customer = await make_customer(balance="10.00")
    await ledger.deposit(customer.id, Decimal("5"))
    root = await twiml(await call(client, settings, MENU, customer.phone, Digits="2"))
    said = spoken(root)
    assert said[0] == "Your last 2 transactions."
    assert said[1].startswith("Deposit of $5.00 on ")
    assert said[2].startswith("Deposit of $10.00 on ")


async def test_press_3_reads_a_fresh_withdrawal_code(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = Handset(client, settings, customer.phone)
    await phone.ask("W 20")
    root = await twiml(await call(client, settings, MENU, customer.phone, Digits="3"))
    code = digits_in_call(spoken(root)[0])
    [link_sms] = await phone.ask(code)
    assert CAPTURE_LINK_RE.search(link_sms)


async def test_press_3_for_a_phone_change_calls_the_new_number(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    old = Handset(client, settings, customer.phone)
    await old.ask(f"PHONE {NEW_NUMBER}")
    root = await twiml(await call(client, settings, MENU, customer.phone, Digits="3"))
    said = " ".join(spoken(root))
    assert "calling your new number" in said
    # Never read on this call (from the old phone): the code proves the NEW number.
    assert not any(ch.isdigit() for ch in said.replace("1, 2 or 3", ""))
    outbound = await OutboundMessage.filter(
        to_phone=NEW_NUMBER, channel=MessageChannel.VOICE
    ).first()
    assert outbound is not None
    [link_sms] = await old.ask(digits_in_call(outbound.body))
    assert CAPTURE_LINK_RE.search(link_sms)


async def test_press_3_with_nothing_pending(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    root = await twiml(await call(client, settings, MENU, customer.phone, Digits="3"))
    assert spoken(root)[0] == "You have no request waiting for a code."


@pytest.mark.parametrize("digits", ["9", "", "*", "12", "#"])
async def test_other_keys_offer_the_menu_again(
    client: Any, settings: Settings, make_customer: Any, digits: str
) -> None:
    customer = await make_customer()
    root = await twiml(await call(client, settings, MENU, customer.phone, Digits=digits))
    if digits.startswith(("1", "2", "3")):
        return  # only the first key counts; covered above
    assert "not one of the choices" in spoken(root)[0]
    assert root.find("Gather") is not None


async def test_a_stranger_pressing_keys_learns_nothing(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    await make_customer(balance="999.00")
    root = await twiml(await call(client, settings, MENU, "+15559990000", Digits="1"))
    said = " ".join(spoken(root))
    assert "not registered" in said and "999" not in said
    assert root.find("Gather") is None


@pytest.mark.parametrize("path", [VOICE, MENU])
async def test_voice_webhooks_need_a_signature(
    client: Any, settings: Settings, make_customer: Any, path: str
) -> None:
    customer = await make_customer()
    form = voice_form(customer.phone, Digits="1")
    response = await client.post(path, form=form, headers={"X-Twilio-Signature": "forged"})
    assert response.status_code == 403
    assert (await response.get_json())["error"]["code"] == "invalid_signature"
    assert await InboundMessage.all().count() == 0


@pytest.mark.parametrize("missing", ["From", "CallSid"])
async def test_voice_webhooks_need_from_and_callsid(
    client: Any, settings: Settings, make_customer: Any, missing: str
) -> None:
    customer = await make_customer()
    form = voice_form(customer.phone)
    form.pop(missing)
    response = await TwilioSigner(settings).post(client, VOICE, form)
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "missing_field"
