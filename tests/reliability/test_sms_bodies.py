"""SMS bodies at the edges still reach the command's real reply.

tests/webhooks/test_sms.py shows that any body Twilio can send gets exactly one
answer. Here each edge case (exactly 1,600 characters, emoji, control and invisible
characters, full-width digits, a code buried in padding) must get the answer of the
command it carries, not just a hint, and the inbound body is stored as it came.
"""

from __future__ import annotations

from typing import Any

import pytest

from smsbank.core.models import Customer, InboundMessage, MessageChannel, OutboundMessage
from smsbank.core.settings import Settings
from tests.webhooks.handset import CAPTURE_LINK_RE, Handset, code_in

LIMIT = 1600  # Twilio never delivers a longer body; the webhook refuses one


def padded(text: str, *, before: bool = False) -> str:
    pad = " " * (LIMIT - len(text))
    return pad + text if before else text + pad


@pytest.fixture
async def customer(make_customer: Any) -> Customer:
    created: Customer = await make_customer(name="Zoë Ünïcode 😀", balance="100.00")
    await Customer.filter(id=created.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await created.refresh_from_db()
    return created


async def reply_to(phone: Handset, body: str) -> tuple[str, str]:
    """(template, text) of the one SMS the bank queued in answer to `body`."""
    before = len(await phone.messages(MessageChannel.SMS))
    await phone.text(body)
    replies = (await phone.messages(MessageChannel.SMS))[before:]
    assert len(replies) == 1, [r.body for r in replies]
    return replies[0].template, replies[0].body


async def stored_body(customer: Customer) -> str:
    latest = await InboundMessage.filter(from_phone=customer.phone).order_by("-id").first()
    assert latest is not None
    return latest.body


@pytest.mark.parametrize(
    ("body", "template", "needle"),
    [
        (padded("BAL"), "reply.send_balance", "$100.00"),
        (padded("balance", before=True), "reply.send_balance", "$100.00"),
        ("\x00\x01\x02BAL\x7f\x1b", "reply.send_balance", "$100.00"),
        ("\u200bBAL\ufeff", "reply.send_balance", "$100.00"),
        # The name as a text writes it (GSM-7: ë and ï lose their dots, Ü keeps them).
        ("\r\n\tme\r\n", "reply.send_profile", "Zoe Ünicode ?,"),
        (padded("W 20"), "withdrawal_code", "$20.00"),
        ("\tw\u00a020\r\n", "withdrawal_code", "$20.00"),
        ("Ｗ ２０", "withdrawal_code", "$20.00"),  # full-width, as some keyboards type
        ("😀" * LIMIT, "reply.unknown", "HELP"),
        ("BAL 😀", "reply.unknown", "HELP"),
    ],
)
async def test_an_edge_case_body_gets_its_commands_reply(
    client: Any,
    settings: Settings,
    customer: Customer,
    body: str,
    template: str,
    needle: str,
) -> None:
    assert len(body) <= LIMIT
    phone = Handset(client, settings, customer.phone)
    got_template, text = await reply_to(phone, body)
    assert got_template == template, text
    assert needle in text
    # Stored as it came, every character (PostgreSQL text cannot hold NUL alone).
    assert await stored_body(customer) == body.replace("\x00", "\ufffd")


async def test_a_code_in_1600_characters_of_padding_approves_the_request(
    client: Any, settings: Settings, customer: Customer
) -> None:
    phone = Handset(client, settings, customer.phone)
    _, code_sms = await reply_to(phone, "W 20")
    body = padded("\u200b" + code_in(code_sms) + "\u200b", before=True)
    template, link_sms = await reply_to(phone, body)
    assert template == "withdrawal_capture_link" and CAPTURE_LINK_RE.search(link_sms)
    assert await stored_body(customer) == body
    assert await OutboundMessage.filter(template="withdrawal_code").count() == 1
