"""The dev phone's routes: console mode only, signed webhooks, the thread as JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from smsbank.app import create_app
from smsbank.core.models import InboundMessage, OutboundMessage, OutboundStatus
from smsbank.core.settings import Settings
from smsbank.outbox import enqueue_call, enqueue_sms
from tests.conftest import reset_database
from tests.twilio_signing import TwilioSigner, sms_form

FIELDS = {"direction", "from", "to", "body", "channel", "status", "created_at"}


async def thread(client: Any, phone: str) -> list[dict[str, Any]]:
    response = await client.get("/dev/messages", query_string={"phone": phone})
    assert response.status_code == 200
    messages: list[dict[str, Any]] = (await response.get_json())["messages"]
    return messages


async def test_messages_lists_both_directions_oldest_first(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer(phone="+15550120001")
    other = await make_customer(phone="+15550120002")
    signer = TwilioSigner(settings)
    response = await signer.post(client, "/webhooks/twilio/sms", sms_form(customer.phone, "BAL"))
    assert response.status_code == 200
    await enqueue_call(settings, to=customer.phone, say="1, 2, 3", template="voice_code")
    await enqueue_sms(settings, to=other.phone, body="not for this phone", template="t")

    messages = await thread(client, customer.phone)

    assert [set(m) for m in messages] == [FIELDS] * len(messages)
    assert [(m["direction"], m["channel"]) for m in messages] == [
        ("inbound", "sms"),
        ("outbound", "sms"),
        ("outbound", "voice"),
    ]
    inbound, reply, call = messages
    assert inbound == {
        "direction": "inbound",
        "from": customer.phone,
        "to": "+15550001111",
        "body": "BAL",
        "channel": "sms",
        "status": "received",
        "created_at": inbound["created_at"],
    }
    assert reply["to"] == customer.phone and reply["from"] == settings.twilio_phone_number
    assert "100.00" in reply["body"]
    assert reply["status"] == "queued"
    assert call["body"] == "1, 2, 3"
    times = [datetime.fromisoformat(m["created_at"]) for m in messages]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert "not for this phone" not in {m["body"] for m in messages}


async def test_messages_accepts_any_common_phone_format(client: Any, settings: Settings) -> None:
    await enqueue_sms(settings, to="+15550120003", body="hello", template="t")

    assert [m["body"] for m in await thread(client, "(555) 012-0003")] == ["hello"]
    assert await thread(client, "+15550129999") == []


async def test_messages_shows_the_current_delivery_status(client: Any, settings: Settings) -> None:
    message = await enqueue_sms(settings, to="+15550120004", body="hello", template="t")
    await OutboundMessage.filter(id=message.id).update(status=OutboundStatus.DELIVERED)

    [shown] = await thread(client, "+15550120004")

    assert shown["status"] == "delivered"


async def test_send_posts_a_signed_webhook_through_the_real_route(
    client: Any, make_customer: Any
) -> None:
    customer = await make_customer(phone="+15550120005")

    response = await client.post("/dev/phone/send", json={"from": "555-012-0005", "body": "BAL"})

    assert response.status_code == 200
    answer = await response.get_json()
    assert answer["webhook_status"] == 200
    stored = await InboundMessage.get(message_sid=answer["message_sid"])
    assert stored.from_phone == customer.phone and stored.body == "BAL"
    messages = await thread(client, customer.phone)
    assert [m["direction"] for m in messages] == ["inbound", "outbound"]


async def test_send_and_messages_refuse_bad_input_with_400(client: Any) -> None:
    bad_sends: list[dict[str, Any]] = [
        {"data": "not json", "headers": {"Content-Type": "application/json"}},
        {"json": ["BAL"]},
        {"json": {"body": "BAL"}},
        {"json": {"from": "nonsense", "body": "BAL"}},
        {"json": {"from": 5550120006, "body": "BAL"}},
        {"json": {"from": "+15550120006"}},
        {"json": {"from": "+15550120006", "body": "   "}},
        {"json": {"from": "+15550120006", "body": 42}},
        {"json": {"from": "+15550120006", "body": "x" * 1601}},
    ]
    for kwargs in bad_sends:
        response = await client.post("/dev/phone/send", **kwargs)
        assert response.status_code == 400, kwargs
        assert "message" in (await response.get_json())["error"]

    for query in ({}, {"phone": ""}, {"phone": "12"}, {"phone": "+1555\x00"}, {"phone": "x" * 500}):
        response = await client.get("/dev/messages", query_string=query)
        assert response.status_code == 400, query
        assert (await response.get_json())["error"]["code"] in ("missing_field", "invalid_phone")


async def test_the_page_and_its_files_are_served(client: Any) -> None:
    page = await client.get("/dev/phone", query_string={"phone": "555 012 0007"})
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert 'id="compose"' in html and 'value="+15550120007"' in html
    assert "/dev/static/devphone.js" in html
    assert "https://" not in html.split("<body>", 1)[1]  # no CDN, nothing external
    for name, kind in (("devphone.js", "javascript"), ("devphone.css", "text/css")):
        response = await client.get(f"/dev/static/{name}")
        assert response.status_code == 200
        assert kind in response.headers["Content-Type"]
    for name in ("nothing.js", "..%2Fdevphone.py", "%2E%2E"):
        response = await client.get(f"/dev/static/{name}")
        assert response.status_code == 404, name


@pytest.fixture(params=["development, twilio backend", "production"])
async def twilio_mode_app(
    request: pytest.FixtureRequest, settings: Settings, production_settings: Settings
) -> AsyncIterator[Any]:
    if request.param == "production":
        twilio_settings = production_settings
    else:
        twilio_settings = settings.with_overrides(sms_backend="twilio")
    await reset_database(twilio_settings.database_url)
    app = create_app(twilio_settings)
    async with app.test_app() as test_app:
        yield test_app


async def test_every_dev_route_is_404_outside_console_mode(twilio_mode_app: Any) -> None:
    client = twilio_mode_app.test_client()
    for method, path, kwargs in (
        ("GET", "/dev/phone", {}),
        ("GET", "/dev/messages?phone=%2B15550120008", {}),
        ("POST", "/dev/phone/send", {"json": {"from": "+15550120008", "body": "BAL"}}),
        ("GET", "/dev/static/devphone.js", {}),
        ("GET", "/dev/static/devphone.css", {}),
    ):
        response = await client.open(path, method=method, **kwargs)
        assert response.status_code == 404, path
        assert (await response.get_json())["error"]["code"] == "not_found"
    assert await InboundMessage.all().count() == 0
    # Not refused by a check that could be forgotten: the routes are not there at all.
    dev_rules = [rule.rule for rule in twilio_mode_app.app.url_map.iter_rules()]
    assert not [rule for rule in dev_rules if rule.startswith("/dev")]
