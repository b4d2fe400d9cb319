"""SMS pumping and toll fraud: the bank texts and calls only numbers in its allowed
countries (never a premium-rate one), and caps what strangers and calls can cost.

A stranger's text reaches the full path whichever way it comes in (a read-only command
is first offered to the group commit of `smsbank/sms/group_commit.py`, which hands every
non-customer back), so both ways are tested.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from smsbank.models import (
    Customer,
    InboundMessage,
    MessageChannel,
    OutboundMessage,
    PhoneChange,
)
from smsbank.settings import Settings
from smsbank.sms.group_commit import InboundBatcher
from smsbank.sms.inbound import Handled, InboundSms, Result
from smsbank.sms.router import handle_inbound_sms
from tests.twilio_signing import new_sid
from tests.webhooks.handset import Handset, code_in

UK_MOBILE = "+447700900123"  # outside the allowed countries (US, from the bank's number)
JAMAICA = "+18762345678"  # +1 like the US, but another country
PREMIUM = "+19005551234"  # a US premium-rate number
HOME = "+15559990000"  # an ordinary number in the allowed country


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Two calls an hour, so a test can reach the cap."""
    return dataclasses.replace(settings, outbound_calls_per_hour=2)


async def enrolled(make_customer: Any, **kwargs: Any) -> Customer:
    customer: Customer = await make_customer(**kwargs)
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await customer.refresh_from_db()
    return customer


def batcher_of(client: Any) -> InboundBatcher:
    batcher: InboundBatcher = client.app.extensions["smsbank"].inbound_batch
    return batcher


async def by_batch_and_alone(
    settings: Settings, client: Any, phone: str, texts: tuple[str, str] = ("BAL", "W 20")
) -> list[Result]:
    """The first text through the app's batcher (read-only: offered to the group commit),
    the second through the full path alone."""
    batched, alone = (InboundSms(new_sid(), phone, "+15550001111", text) for text in texts)
    [first] = await asyncio.gather(handle_inbound_sms(settings, batched, batcher_of(client)))
    return [first, await handle_inbound_sms(settings, alone)]


async def texts_to(phone: str) -> list[str]:
    return [m.body for m in await OutboundMessage.filter(to_phone=phone).order_by("id")]


# --- strangers ---------------------------------------------------------------------


@pytest.mark.parametrize("stranger", [UK_MOBILE, JAMAICA, PREMIUM])
async def test_a_stranger_outside_the_allowed_countries_gets_no_reply(
    client: Any, settings: Settings, stranger: str
) -> None:
    results = await by_batch_and_alone(settings, client, stranger)

    assert [r.handled for r in results] == [Handled.UNREGISTERED] * 2
    assert [r.replies for r in results] == [[], []]
    assert await texts_to(stranger) == []
    assert await InboundMessage.filter(from_phone=stranger).count() == 2  # still recorded


async def test_a_stranger_at_home_still_hears_once_that_the_number_is_not_registered(
    client: Any, settings: Settings
) -> None:
    results = await by_batch_and_alone(settings, client, HOME)

    assert [len(r.replies) for r in results] == [1, 0]  # once a day, as before
    [reply] = await texts_to(HOME)
    assert "not registered" in reply


async def test_replies_to_strangers_are_capped_per_hour_for_all_numbers_together(
    client: Any, settings: Settings
) -> None:
    capped = dataclasses.replace(settings, stranger_replies_per_hour=2)
    strangers = [f"+1555999{n:04d}" for n in range(4)]

    for number in strangers[:2]:  # through the batcher
        await asyncio.gather(
            handle_inbound_sms(capped, InboundSms(new_sid(), number, "", "BAL"), batcher_of(client))
        )
    for number in strangers[2:]:  # through the full path
        await handle_inbound_sms(capped, InboundSms(new_sid(), number, "", "W 20"))

    answered = [number for number in strangers if await texts_to(number)]
    assert answered == strangers[:2]
    # Another app worker counts the same cap: it lives in the database.
    other_worker = InboundBatcher(capped)
    late = InboundSms(new_sid(), "+15559998888", "", "BAL")
    await asyncio.gather(handle_inbound_sms(capped, late, other_worker))
    assert await texts_to(late.from_phone) == []


# --- PHONE and CALL ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "why"),
    [(UK_MOBILE, "only text and call numbers in US"), (PREMIUM, "premium-rate")],
)
async def test_phone_to_a_number_outside_or_premium_is_refused(
    client: Any, settings: Settings, make_customer: Any, number: str, why: str
) -> None:
    customer = await enrolled(make_customer)
    phone = Handset(client, settings, customer.phone)

    [reply] = await phone.ask(f"PHONE {number}")

    assert why in reply
    assert await texts_to(number) == []  # no code went there
    assert await PhoneChange.all().count() == 0


async def test_a_branch_cannot_start_a_change_to_a_number_outside_either(
    client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await make_customer()
    response = await client.post(
        "/request_update_otp",
        json={"customer_id": customer.id, "new_phone_number": UK_MOBILE},
        headers=staff,
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "destination_not_allowed"
    assert await texts_to(UK_MOBILE) == []


async def test_call_to_a_registered_number_outside_the_allowed_countries_is_refused(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer, phone=UK_MOBILE)  # registered before the policy
    phone = Handset(client, settings, customer.phone)
    texted = code_in((await phone.ask("W 20"))[0])

    [reply] = await phone.ask("CALL")

    assert "only text and call numbers in US" in reply
    assert await phone.messages(MessageChannel.VOICE) == []
    [link] = await phone.ask(texted)  # the texted code was not replaced: it still works
    assert "/c/" in link


async def test_calls_are_capped_per_hour_and_the_customer_is_told(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    phones = [Handset(client, settings, (await enrolled(make_customer)).phone) for _ in range(3)]
    codes = [code_in((await phone.ask("W 20"))[0]) for phone in phones]

    replies = [(await phone.ask("CALL"))[0] for phone in phones]

    assert [len(await phone.messages(MessageChannel.VOICE)) for phone in phones] == [1, 1, 0]
    assert "calling you now" in replies[0] and "calling you now" in replies[1]
    assert "cannot call" in replies[2] and "code we texted" in replies[2]
    [link] = await phones[2].ask(codes[2])  # its texted code still works
    assert "/c/" in link
