"""Malformed phone numbers on every route that takes one: a clear 400 (or, by SMS, the
"not valid" reply), and nothing created, changed or sent.

The routes are the staff API's (found in /openapi.json, so a new one cannot be
missed), the branch endpoints, the `PHONE` SMS command and the dev phone's routes.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage

from smsbank.core.models import Customer, OneTimeCode, OutboundMessage, PhoneChange
from smsbank.core.settings import Settings
from tests.webhooks.handset import Handset

CUSTOMER_PHONE = "+15550170001"

MALFORMED = [
    "   ",
    "abc",
    "+",
    "+1",
    "12",
    "+1555",
    "+999123",
    "+0 5550100124",
    "+1 555 010 0124 0",  # one digit too many
    "5" * 41,
    "9" * 100,
    "+1555O1OO124",  # the letter O typed for zero: not another person's number
    "+1 555 OlO Ol24",
    "+1 (555) CALL-NOW",
    "+1555\x000100124",
    "+1555\x7f0100124",
    "+1 555 010 0124\n+1 555 010 0125",
    "+1555😀0100124",
    "+1555\u202e0100124",
    "+15550100124+15550100125",
    "<script>alert(1)</script>",
    "'; DROP TABLE customer; --",
    "NaN",
    "null",
    "1e10",
    "-1",
]
NOT_STRINGS: list[Any] = [15550100124, 1.5, True, None, ["+15550100124"], {"phone": "+1"}]
# Codes a refusal may carry: the phone is invalid or missing, or the body is (schema).
REFUSALS = {"invalid_phone", "missing_field", "invalid_request"}


@dataclass
class Bank:
    client: Any
    settings: Settings
    staff: dict[str, str]
    customer: Customer


async def refused(response: Any, number: object) -> None:
    body = await response.get_json()
    assert response.status_code == 400, (number, body)
    assert body["error"]["code"] in REFUSALS, (number, body)


# -- one function per route: send `number` where the route takes a phone ---------------


async def get_customers(bank: Bank, number: Any) -> None:
    response = await bank.client.get(
        "/api/v1/customers", headers=bank.staff, query_string={"phone": number}
    )
    await refused(response, number)


async def post_customers(bank: Bank, number: Any) -> None:
    response = await bank.client.post(
        "/api/v1/customers", headers=bank.staff, json={"name": "Ada", "phone": number}
    )
    await refused(response, number)


async def get_customer_details_by_phone(bank: Bank, number: Any) -> None:
    response = await bank.client.get(
        "/get_customer_details_by_phone", headers=bank.staff, query_string={"phone": number}
    )
    await refused(response, number)


async def post_add_customer(bank: Bank, number: Any) -> None:
    # The phone is checked before the photo: these bytes are never looked at.
    photo = FileStorage(io.BytesIO(b"not looked at"), filename="p.jpg", content_type="image/jpeg")
    response = await bank.client.post(
        "/add_customer",
        headers=bank.staff,
        form={"name": "Ada", "phone_number": number},
        files={"photo": photo},
    )
    await refused(response, number)


async def post_request_update_otp(bank: Bank, number: Any) -> None:
    response = await bank.client.post(
        "/request_update_otp",
        headers=bank.staff,
        json={"customer_id": bank.customer.id, "new_phone_number": number},
    )
    await refused(response, number)


async def post_update_mobile(bank: Bank, number: Any) -> None:
    response = await bank.client.post(
        "/update_mobile",
        headers=bank.staff,
        json={"customer_id": bank.customer.id, "new_phone_number": number, "otp": "123456"},
    )
    await refused(response, number)


async def sms_phone_command(bank: Bank, number: Any) -> None:
    phone = Handset(bank.client, bank.settings, bank.customer.phone)
    replies = await phone.ask(f"PHONE {number}")
    assert len(replies) == 1 and "PHONE +1" in replies[0], (number, replies)


async def get_dev_messages(bank: Bank, number: Any) -> None:
    response = await bank.client.get("/dev/messages", query_string={"phone": number})
    await refused(response, number)


async def post_dev_phone_send(bank: Bank, number: Any) -> None:
    response = await bank.client.post("/dev/phone/send", json={"from": number, "body": "BAL"})
    await refused(response, number)


async def get_dev_phone(bank: Bank, number: Any) -> None:
    # The page only pre-fills the number: a malformed one is dropped, never echoed.
    response = await bank.client.get("/dev/phone", query_string={"phone": number})
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    match = re.search(r'id="phone"[^>]*value="([^"]*)"', html, re.DOTALL)
    assert match is not None and match.group(1) == "", number


Route = Callable[[Bank, Any], Awaitable[None]]
# Documented staff routes, by their /openapi.json operation.
DOCUMENTED: dict[str, Route] = {
    "GET /api/v1/customers": get_customers,
    "POST /api/v1/customers": post_customers,
    "GET /get_customer_details_by_phone": get_customer_details_by_phone,
    "POST /add_customer": post_add_customer,
    "POST /request_update_otp": post_request_update_otp,
    "POST /update_mobile": post_update_mobile,
}
# Routes the staff document leaves out: Twilio's webhook and the dev phone.
UNDOCUMENTED: dict[str, Route] = {
    "SMS PHONE <number>": sms_phone_command,
    "GET /dev/messages": get_dev_messages,
    "POST /dev/phone/send": post_dev_phone_send,
    "GET /dev/phone": get_dev_phone,
}
ROUTES = DOCUMENTED | UNDOCUMENTED
JSON_ROUTES = {"POST /api/v1/customers", "POST /request_update_otp", "POST /update_mobile"}
JSON_ROUTES |= {"POST /dev/phone/send"}


def applies(route: str, number: str) -> bool:
    if route.startswith("SMS"):
        # The SMS parser reads control and invisible characters as spaces on purpose
        # (keyboards insert them), so a number split by one is not malformed there.
        return not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in number)
    return True


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # One number texts every case within a minute: above the flood limit otherwise.
    return settings.with_overrides(inbound_rate_limit_per_minute=1000)


@pytest.fixture
async def bank(client: Any, settings: Settings, staff: dict[str, str], make_customer: Any) -> Bank:
    customer = await make_customer(name="Phone Owner", phone=CUSTOMER_PHONE)
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    return Bank(client, settings, staff, customer)


@pytest.mark.parametrize("route", list(ROUTES))
async def test_malformed_numbers_are_refused_and_change_nothing(bank: Bank, route: str) -> None:
    attempt = ROUTES[route]
    numbers: list[Any] = [n for n in MALFORMED if applies(route, n)]
    if route in JSON_ROUTES:
        numbers += NOT_STRINGS
    for number in numbers:
        await attempt(bank, number)

    assert await Customer.all().values_list("phone", flat=True) == [CUSTOMER_PHONE]
    assert await PhoneChange.all().count() == 0
    assert await OneTimeCode.all().count() == 0
    sent = await OutboundMessage.all().values_list("template", "to_phone")
    assert set(sent) <= {("reply.malformed", CUSTOMER_PHONE)}


async def test_every_documented_route_that_takes_a_phone_is_covered(client: Any) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    takes_a_phone = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", [])]
            for content in operation.get("requestBody", {}).get("content", {}).values():
                names += list(content.get("schema", {}).get("properties", {}))
            if any("phone" in name for name in names):
                takes_a_phone.add(f"{method.upper()} {path}")
    assert takes_a_phone == set(DOCUMENTED)
