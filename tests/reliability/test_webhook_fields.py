"""Missing and extra form fields on every Twilio webhook.

Each webhook gets the full form Twilio sends, with each field left out in turn: a
field the bank needs gives a clear 400 and stores nothing, any other is optional. Then
the full form with fields Twilio may add tomorrow (or a forger may add today):
unknown names, a 10 kB value, Unicode names, a lower-case twin of a real field, a
real field sent twice. They change nothing about what the webhook does. The routes
come from the app's URL map, so a new webhook cannot be missed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import pytest
from werkzeug.datastructures import MultiDict

from smsbank.core.models import Customer, InboundMessage, OutboundMessage, OutboundStatus
from smsbank.core.settings import Settings
from smsbank.outbox import enqueue_sms
from tests.twilio_signing import TwilioSigner, new_sid, sms_form, voice_form

EXTRAS = {
    "FromCity": "SAN FRANCISCO",
    "FromCountry": "US",
    "ToZip": "",
    "MessagingServiceSid": "MG" + "0" * 32,
    "NumMedia": "1",
    "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages/MM1/Media/ME1",
    "MediaContentType0": "image/jpeg",
    "AddOns": '{"status": "successful", "results": {}}',
    "ErrorCode": "30008",
    "SomethingTwilioAddsLater": "x" * 10_000,
    "Ünïcödé 😀": "😀",
    "body": "W 999",  # not Twilio's field: never read as the Body
    "digits": "3",
    "callsid": "CA" + "f" * 32,
}


@dataclass
class Scene:
    client: Any
    signer: TwilioSigner
    customer: Customer
    message: OutboundMessage  # sent, with a provider sid, for status callbacks


@dataclass(frozen=True)
class Webhook:
    form: Callable[[Scene], dict[str, str]]
    required: frozenset[str]  # fields whose absence is a 400
    query: Callable[[Scene], str] = lambda scene: ""


def _status_form(scene: Scene) -> dict[str, str]:
    sid = scene.message.provider_sid or ""
    return {
        "AccountSid": "ACtest",
        "From": scene.message.from_phone,
        "To": scene.message.to_phone,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
    }


WEBHOOKS: dict[str, Webhook] = {
    "/webhooks/twilio/sms": Webhook(
        lambda scene: sms_form(scene.customer.phone, "BAL"), frozenset({"From", "MessageSid"})
    ),
    # A call whose caller ID Twilio attests, and the menu our TwiML gives it.
    "/webhooks/twilio/voice": Webhook(
        lambda scene: voice_form(scene.customer.phone, StirVerstat="TN-Validation-Passed-A"),
        frozenset({"From", "CallSid"}),
    ),
    "/webhooks/twilio/voice/menu": Webhook(
        lambda scene: voice_form(scene.customer.phone, Digits="1"),
        frozenset({"From", "CallSid"}),
        lambda scene: "caller=verified",
    ),
    # MessageSid/SmsSid and MessageStatus/SmsStatus stand in for each other; without
    # both of a pair it is a 400 (tests/outbox/test_status_callbacks.py).
    "/webhooks/twilio/status": Webhook(
        _status_form, frozenset(), lambda scene: f"outbox_id={scene.message.id}"
    ),
}


@pytest.fixture
async def scene(client: Any, settings: Settings, make_customer: Any) -> Scene:
    customer = await make_customer(balance="100.00")
    message = await enqueue_sms(settings, to=customer.phone, body="hello", template="test")
    await OutboundMessage.filter(id=message.id).update(
        status=OutboundStatus.SENT, provider_sid=new_sid("SM")
    )
    await message.refresh_from_db()
    return Scene(client, TwilioSigner(settings), customer, message)


async def post(scene: Scene, path: str, form: Any) -> Any:
    query = WEBHOOKS[path].query(scene)
    return await scene.signer.post(scene.client, path, form, query=query)


def twiml(body: str) -> ElementTree.Element:
    return ElementTree.fromstring(body)  # noqa: S314 - the bank's own answer


async def does_its_job(scene: Scene, path: str, response: Any) -> None:
    """What the full form makes each webhook do: extras must not change it."""
    assert response.status_code == 200, await response.get_data(as_text=True)
    if path == "/webhooks/twilio/status":
        assert (await response.get_json())["status"] == "delivered"
        assert (await OutboundMessage.get(id=scene.message.id)).status == OutboundStatus.DELIVERED
        return
    root = twiml(await response.get_data(as_text=True))
    assert root.tag == "Response"
    if path == "/webhooks/twilio/sms":
        assert len(root) == 0
        replies = await OutboundMessage.filter(
            to_phone=scene.customer.phone, template__startswith="reply."
        )
        assert [r.template for r in replies] == ["reply.send_balance"]
        assert "$100.00" in replies[0].body
    elif path == "/webhooks/twilio/voice":
        assert root.find("Gather") is not None
    else:
        said = " ".join(element.text or "" for element in root.iter("Say"))
        assert "Your balance is $100.00" in said


def test_every_webhook_route_is_covered(app: Any) -> None:
    rules = app.app.url_map.iter_rules()
    routes = {rule.rule for rule in rules if rule.rule.startswith("/webhooks/")}
    assert routes == set(WEBHOOKS)


@pytest.mark.parametrize("path", list(WEBHOOKS))
async def test_each_missing_field_is_a_clear_400_or_optional(scene: Scene, path: str) -> None:
    webhook = WEBHOOKS[path]
    for field in webhook.form(scene):
        form = webhook.form(scene)
        del form[field]
        stored = await InboundMessage.all().count()
        response = await post(scene, path, form)
        if field in webhook.required:
            assert response.status_code == 400, field
            body = await response.get_json()
            assert body["error"]["code"] in ("missing_field", "invalid_field"), (field, body)
            assert await InboundMessage.all().count() == stored, field
        else:
            assert response.status_code == 200, (field, await response.get_data(as_text=True))
    # An empty form: every webhook says what is missing.
    response = await post(scene, path, {})
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "missing_field"


@pytest.mark.parametrize("path", list(WEBHOOKS))
async def test_extra_fields_change_nothing(scene: Scene, path: str) -> None:
    form = WEBHOOKS[path].form(scene) | EXTRAS
    await does_its_job(scene, path, await post(scene, path, form))


async def test_a_field_sent_twice_is_read_once(scene: Scene) -> None:
    path = "/webhooks/twilio/sms"
    form = MultiDict(list(sms_form(scene.customer.phone, "BAL").items()))
    form.add("Body", "W 999")
    form.add("From", "+15550189999")
    await does_its_job(scene, path, await post(scene, path, form))
    stored = await InboundMessage.get(from_phone=scene.customer.phone)
    assert stored.body == "BAL"
