"""Group commit of read-only SMS commands (`smsbank/sms/group_commit.py`).

Messages handed in together (`asyncio.gather` over `handle_inbound_sms`, as concurrent
webhooks do) share a transaction and must get exactly what the one-at-a-time path
gives; whatever the batch must not decide (a stranger, an opted-out customer, a
request waiting for a code, a flood, a duplicate) ends as that path would end it.
The webhook itself hands every message to the app's batcher, so the rest of the SMS
suite (tests/webhooks/test_sms.py) runs through it too.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from smsbank.app import create_app
from smsbank.models import (
    ConversationState,
    Customer,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
)
from smsbank.settings import Settings
from smsbank.sms import group_commit
from smsbank.sms.conversation import parse
from smsbank.sms.group_commit import InboundBatcher
from smsbank.sms.inbound import Handled, InboundSms, Result
from smsbank.sms.router import handle_inbound_sms
from tests.conftest import reset_database
from tests.twilio_signing import new_sid
from tests.webhooks.handset import Handset

STRANGER = "+15559990000"


def sms(phone: str, body: str, sid: str | None = None) -> InboundSms:
    return InboundSms(sid or new_sid(), phone, "+15550001111", body)


def batcher_of(client: Any) -> InboundBatcher:
    batcher: InboundBatcher = client.app.extensions["smsbank"].inbound_batch
    return batcher


async def together(
    settings: Settings, batcher: InboundBatcher, messages: list[InboundSms]
) -> list[Result]:
    """Hand the messages in at the same moment, as concurrent webhooks would."""
    return list(await asyncio.gather(*(handle_inbound_sms(settings, m, batcher) for m in messages)))


async def outbox_of(phone: str) -> list[tuple[Any, ...]]:
    rows = await OutboundMessage.filter(to_phone=phone).order_by("id")
    return [(r.channel, r.from_phone, r.body, r.template, r.customer_id, r.status) for r in rows]


async def test_texts_arriving_together_share_one_transaction(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customers = [
        await make_customer(phone=f"+1555020{i:04d}", balance=f"{i}.25") for i in range(12)
    ]
    batcher = batcher_of(client)
    before, decided = batcher.batches, batcher.decided

    results = await together(settings, batcher, [sms(c.phone, "BAL") for c in customers])

    assert (batcher.batches, batcher.decided) == (before + 1, decided + 12)
    for index, (customer, result) in enumerate(zip(customers, results, strict=True)):
        assert result.handled == Handled.PROCESSED
        [reply] = result.replies
        assert f"${index}.25" in reply and customer.account_number[-4:] in reply
        assert [row[2] for row in await outbox_of(customer.phone)] == [reply]
        assert await InboundMessage.filter(customer_id=customer.id).count() == 1


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("enrolled", [False, True], ids=["no_face", "face_enrolled"])
@pytest.mark.parametrize(
    "body", ["BAL", "ME", "HELP", "hello there", "123456", "ABORT", "W abc", "SALDO", "DATOS"]
)
async def test_a_batch_answers_and_stores_exactly_what_the_full_path_does(
    client: Any, settings: Settings, make_customer: Any, body: str, enrolled: bool, language: str
) -> None:
    batched = await make_customer(name="Ada Lovelace", phone="+15550201000", language=language)
    alone = await make_customer(name="Ada Lovelace", phone="+15550202000", language=language)
    # Same name, balance and account ending (all a reply shows of it), so the replies
    # can be compared as text.
    prefix = batched.account_number[:-5]
    await Customer.filter(id=batched.id).update(account_number=prefix + "10000")
    await Customer.filter(id=alone.id).update(account_number=prefix + "20000")
    if enrolled:  # ME says whether a face is enrolled
        await Customer.filter(id__in=[batched.id, alone.id]).update(face_embedding=b"\x01" * 16)
    batcher = batcher_of(client)
    decided = batcher.decided

    [by_batch] = await together(settings, batcher, [sms(batched.phone, body)])
    by_full_path = await handle_inbound_sms(settings, sms(alone.phone, body))

    assert batcher.decided == decided + 1  # the batch took it
    assert by_batch.handled == by_full_path.handled == Handled.PROCESSED
    assert by_batch.state == by_full_path.state == ConversationState.IDLE
    assert by_batch.replies == [
        reply.replace(alone.phone[-4:], batched.phone[-4:]) for reply in by_full_path.replies
    ]
    rows_batch, rows_alone = await outbox_of(batched.phone), await outbox_of(alone.phone)
    assert [(r[0], r[1], r[3], r[5]) for r in rows_batch] == [
        (r[0], r[1], r[3], r[5]) for r in rows_alone
    ]
    assert [r[4] for r in rows_batch] == [batched.id] * len(rows_batch)
    inbound = await InboundMessage.get(customer_id=batched.id)
    assert (inbound.body, inbound.from_phone, inbound.to_phone) == (
        body,
        batched.phone,
        "+15550001111",
    )


async def test_what_the_batch_must_not_decide_ends_as_the_full_path_ends_it(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    regular = await make_customer(phone="+15550203001")
    opted_out = await make_customer(phone="+15550203002")
    waiting = await make_customer(phone="+15550203003")
    await Customer.filter(id=opted_out.id).update(sms_opted_out=True)
    await Customer.filter(id=waiting.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await handle_inbound_sms(settings, sms(waiting.phone, "W 20"))  # now waiting for a code
    code_messages = len(await outbox_of(waiting.phone))
    batcher = batcher_of(client)
    decided = batcher.decided

    results = await together(
        settings,
        batcher,
        [
            sms(regular.phone, "BAL"),
            sms(STRANGER, "BAL"),
            sms(opted_out.phone, "BAL"),
            sms(waiting.phone, "BAL"),
        ],
    )

    assert [r.handled for r in results] == [
        Handled.PROCESSED,
        Handled.UNREGISTERED,
        Handled.OPTED_OUT,
        Handled.PROCESSED,
    ]
    assert batcher.decided == decided + 1  # the regular customer's; the rest went alone
    # The balance, and the withdrawal still waiting for its code.
    assert results[3].state == ConversationState.AWAITING_WITHDRAWAL_CODE
    assert "$100.00" in results[3].replies[0]
    [unregistered] = await outbox_of(STRANGER)
    assert "not registered" in unregistered[2]
    assert await outbox_of(opted_out.phone) == []
    assert len(await outbox_of(waiting.phone)) == code_messages + len(results[3].replies)
    for phone in (regular.phone, STRANGER, opted_out.phone):
        assert await InboundMessage.filter(from_phone=phone).count() == 1


async def test_texts_a_moment_apart_share_one_batch(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    """The batch waits a moment (BATCH_WINDOW_SECONDS) for others to join its first
    message: texts parsed in different turns of the event loop share one commit."""
    customers = [await make_customer(phone=f"+1555020{i:04d}") for i in range(4)]
    batcher = batcher_of(client)
    before = batcher.batches

    async def turns_later(turns: int, phone: str) -> Any:
        for _ in range(turns):  # arrives a few turns of the loop after the first text
            await asyncio.sleep(0)
        return await handle_inbound_sms(settings, sms(phone, "BAL"), batcher)

    results = await asyncio.gather(*(turns_later(i, c.phone) for i, c in enumerate(customers)))

    assert [r.handled for r in results] == [Handled.PROCESSED] * 4
    assert batcher.batches == before + 1


async def test_a_flood_in_one_batch_is_throttled_past_the_limit(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    strict = dataclasses.replace(settings, inbound_rate_limit_per_minute=3)
    batcher = InboundBatcher(strict)

    results = await together(strict, batcher, [sms(customer.phone, "BAL") for _ in range(5)])

    assert [r.handled for r in results] == [Handled.PROCESSED] * 3 + [Handled.THROTTLED] * 2
    assert batcher.decided == 3  # the two over the limit were throttled by the full path
    assert len(await outbox_of(customer.phone)) == 3
    assert await InboundMessage.filter(from_phone=customer.phone).count() == 5


async def test_the_same_message_twice_at_once_is_answered_once(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    sid = new_sid()
    batcher = batcher_of(client)
    decided = batcher.decided

    results = await together(
        settings, batcher, [sms(customer.phone, "BAL", sid), sms(customer.phone, "BAL", sid)]
    )

    assert [r.handled for r in results] == [Handled.PROCESSED, Handled.DUPLICATE]
    assert batcher.decided == decided + 2  # both by batches (one after the other)
    assert await InboundMessage.filter(message_sid=sid).count() == 1
    assert len(await outbox_of(customer.phone)) == 1


async def test_a_sid_repeated_within_one_batch_is_a_duplicate_of_the_first(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    """`submit` on its own (not through `in_order`) may put one message twice in a batch."""
    customer = await make_customer()
    sid = new_sid()
    batcher = batcher_of(client)
    before = batcher.batches
    event = parse("BAL")

    results = await asyncio.gather(
        batcher.submit(sms(customer.phone, "BAL", sid), event),
        batcher.submit(sms(customer.phone, "BAL", sid), event),
    )

    assert [r.handled if r else None for r in results] == [Handled.PROCESSED, Handled.DUPLICATE]
    assert batcher.batches == before + 1
    assert await InboundMessage.filter(message_sid=sid).count() == 1
    assert len(await outbox_of(customer.phone)) == 1


@pytest.mark.parametrize("second", ["W 20", "STOP"])
async def test_one_numbers_texts_are_handled_in_the_order_they_arrived(
    client: Any, settings: Settings, make_customer: Any, second: str
) -> None:
    """BAL (batched: it waits out the window) then, a moment later, a text the batch
    cannot take: the second must not overtake the first."""
    customer = await make_customer()
    await Customer.filter(id=customer.id).update(face_embedding=b"\x01" * 16)  # may withdraw
    batcher = batcher_of(client)

    async def turns_later(turns: int, body: str) -> Result:
        for _ in range(turns):
            await asyncio.sleep(0)
        return await handle_inbound_sms(settings, sms(customer.phone, body), batcher)

    first, then = await asyncio.gather(turns_later(0, "BAL"), turns_later(1, second))

    assert first.handled == then.handled == Handled.PROCESSED
    inbound = await InboundMessage.filter(from_phone=customer.phone).order_by("id")
    assert [m.body for m in inbound] == ["BAL", second]
    outbox = await outbox_of(customer.phone)
    assert "$100.00" in outbox[0][2]  # the balance went out first, and was not silenced
    assert outbox[0][5] == OutboundStatus.QUEUED


async def test_a_mixed_batch_ends_each_message_as_the_full_path_would(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    regular = await make_customer(phone="+15550301001")
    earlier = await make_customer(phone="+15550301002")
    opted_out = await make_customer(phone="+15550301003")
    await Customer.filter(id=opted_out.id).update(sms_opted_out=True)
    stored_before = sms(earlier.phone, "BAL")
    await handle_inbound_sms(settings, stored_before)
    batcher = batcher_of(client)
    twice, opted_twice = new_sid(), new_sid()

    results = await together(
        settings,
        batcher,
        [
            sms(regular.phone, "BAL", twice),
            sms(earlier.phone, "BAL"),
            sms(opted_out.phone, "BAL", opted_twice),
            sms(regular.phone, "ME"),
            sms(STRANGER, "BAL"),
            sms(regular.phone, "BAL", twice),
            stored_before,
            sms(opted_out.phone, "BAL", opted_twice),
            sms(regular.phone, "HELP"),
        ],
    )

    assert [r.handled for r in results] == [
        Handled.PROCESSED,
        Handled.PROCESSED,
        Handled.OPTED_OUT,
        Handled.PROCESSED,
        Handled.UNREGISTERED,
        Handled.DUPLICATE,
        Handled.DUPLICATE,
        Handled.DUPLICATE,
        Handled.PROCESSED,
    ]
    inbound = await InboundMessage.filter(from_phone=regular.phone).order_by("id")
    assert [m.body for m in inbound] == ["BAL", "ME", "HELP"]
    assert len(await outbox_of(regular.phone)) == 3


async def test_a_duplicate_of_an_earlier_webhook_does_not_count_toward_the_flood_limit(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    strict = dataclasses.replace(settings, inbound_rate_limit_per_minute=3)
    first = sms(customer.phone, "BAL")
    await handle_inbound_sms(strict, first)
    await handle_inbound_sms(strict, sms(customer.phone, "BAL"))
    batcher = InboundBatcher(strict)

    results = await together(
        strict, batcher, [first, sms(customer.phone, "BAL"), sms(customer.phone, "BAL")]
    )

    assert [r.handled for r in results] == [
        Handled.DUPLICATE,
        Handled.PROCESSED,
        Handled.THROTTLED,
    ]


async def test_a_batch_that_fails_leaves_every_message_to_the_full_path(
    client: Any, settings: Settings, make_customer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = [await make_customer(phone=f"+1555020{i:04d}") for i in range(5)]

    # Fault injection (no real fault makes a batch fail on demand): the batch's machine
    # step raises after the batch has already written rows for earlier messages.
    async def broken(*args: Any) -> None:
        raise RuntimeError("a bug in the batch")

    monkeypatch.setattr(group_commit, "run_machine", broken)
    batcher = batcher_of(client)
    before, decided = batcher.batches, batcher.decided

    results = await together(settings, batcher, [sms(c.phone, "BAL") for c in customers])

    assert (batcher.batches, batcher.decided) == (before, decided)  # nothing committed
    for customer, result in zip(customers, results, strict=True):
        assert result.handled == Handled.PROCESSED and len(result.replies) == 1
        rows = await outbox_of(customer.phone)
        assert [(r[2], r[5]) for r in rows] == [(result.replies[0], OutboundStatus.QUEUED)]
        assert await InboundMessage.filter(customer_id=customer.id).count() == 1


async def test_texts_through_the_webhook_at_once_all_get_their_answer(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customers = [await make_customer(phone=f"+1555020{i:04d}") for i in range(20)]
    phones = [Handset(client, settings, c.phone) for c in customers]

    await asyncio.gather(*(phone.text("BAL") for phone in phones))

    for phone in phones:
        [reply] = await phone.new()
        assert "$100.00" in reply


@pytest.fixture
def without_group_commit(settings: Settings) -> Settings:
    return settings.with_overrides(sms_group_commit=False)


async def test_with_group_commit_off_every_text_is_answered_alone(
    without_group_commit: Settings, make_customer: Any
) -> None:
    await reset_database(without_group_commit.database_url)
    bank = create_app(without_group_commit)
    async with bank.test_app() as app:
        assert bank.extensions["smsbank"].inbound_batch is None
        customer = await make_customer(phone="+15550209000", balance="7.25")
        phone = Handset(app.test_client(), without_group_commit, customer.phone)
        [balance] = await phone.ask("BAL")
        assert "$7.25" in balance
        await phone.ask("STOP")  # one that acts takes the same path as ever
        assert (await Customer.get(id=customer.id)).sms_opted_out
        assert await InboundMessage.filter(customer_id=customer.id).count() == 2
