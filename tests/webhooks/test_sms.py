"""Banking by SMS over HTTP: every test texts the bank through the signed webhook, the
way Twilio delivers messages, and reads the answers from the outbox table."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from werkzeug.datastructures import FileStorage

from smsbank.core.clock import utcnow
from smsbank.core.errors import Conflict
from smsbank.core.models import (
    AuditEvent,
    CaptureToken,
    Conversation,
    ConversationState,
    Customer,
    EntryKind,
    InboundMessage,
    LedgerEntry,
    MessageChannel,
    OneTimeCode,
    OutboundMessage,
    OutboundStatus,
    PhoneChange,
    PhoneChangeStatus,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.core.settings import Settings
from smsbank.requests import phone_changes, withdrawals
from tests.conftest import SHARED_FACES
from tests.texts import assert_reads_well
from tests.twilio_signing import TwilioSigner, new_sid, sms_form
from tests.webhooks.handset import (
    CAPTURE_LINK_RE,
    SMS_PATH,
    Handset,
    capture_path,
    code_in,
    digits_in_call,
)

FACES_AVAILABLE = (SHARED_FACES / "A_26.jpg").is_file()
NEW_NUMBER = "+15557654321"
NEW_ENDING = "ending 4321"  # how a text names the new number


def photo(name: str) -> FileStorage:
    """One of the shared test photos (two photos of identity A match each other)."""
    data = (SHARED_FACES / name).read_bytes()
    return FileStorage(io.BytesIO(data), filename=name, content_type="image/jpeg")


async def enrolled(make_customer: Any, balance: str = "100.00", **kwargs: Any) -> Customer:
    customer: Customer = await make_customer(balance=balance, **kwargs)
    # Any bytes mark the face as enrolled for flows that never compare faces.
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await customer.refresh_from_db()
    return customer


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests are about the single selfie of SPEC §9: liveness off."""
    return settings.with_overrides(liveness="off")


@pytest.fixture
def phone_of(client: Any, settings: Settings) -> Any:
    def factory(customer_or_number: Customer | str) -> Handset:
        number = (
            customer_or_number if isinstance(customer_or_number, str) else customer_or_number.phone
        )
        return Handset(client, settings, number)

    return factory


async def conversation_state(customer: Customer) -> ConversationState:
    conversation = await Conversation.get(customer_id=customer.id)
    return conversation.state


async def open_withdrawal(customer: Customer) -> Withdrawal:
    withdrawal = await Withdrawal.filter(customer_id=customer.id).order_by("-id").first()
    assert withdrawal is not None
    return withdrawal


# --- the whole withdrawal -------------------------------------------------------------


async def test_a_full_withdrawal_by_sms(
    make_customer: Any, phone_of: Any, settings: Settings
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)

    [code_sms] = await phone.ask("WITHDRAW 20")
    assert "$20.00" in code_sms and f"ending {customer.account_number[-4:]}" in code_sms
    assert "expires in 5 minutes" in code_sms
    assert_reads_well(code_sms)
    assert await conversation_state(customer) == ConversationState.AWAITING_WITHDRAWAL_CODE

    [link_sms] = await phone.ask(code_in(code_sms))
    link = CAPTURE_LINK_RE.search(link_sms)
    assert link, link_sms
    assert "valid 10 minutes" in link_sms
    assert_reads_well(link_sms, segments_at_most=2)
    assert await conversation_state(customer) == ConversationState.AWAITING_WITHDRAWAL_SELFIE

    # The selfie itself is the capture page's job (tests/capture_page); its verdict
    # arrives through the shared withdrawal state machine.
    withdrawal = await open_withdrawal(customer)
    await withdrawals.selfie_verified(settings, withdrawal.id, distance=0.03, actor="capture")

    [confirmation] = await phone.new()
    await withdrawal.refresh_from_db()
    assert withdrawal.status == WithdrawalStatus.COMPLETED
    assert withdrawal.reference and withdrawal.reference in confirmation
    assert "$20.00" in confirmation and "$80.00" in confirmation
    assert_reads_well(confirmation)
    assert await conversation_state(customer) == ConversationState.IDLE
    [balance] = await phone.ask("BAL")
    assert f"ending {customer.account_number[-4:]}" in balance and "$80.00" in balance
    assert_reads_well(balance)
    assert await LedgerEntry.filter(kind=EntryKind.WITHDRAWAL).count() == 1


async def test_a_full_withdrawal_following_the_capture_link_over_http(
    app: Any, make_customer: Any, phone_of: Any, client: Any
) -> None:
    """The capture page's POST is built by the faces work; this runs once it exists."""
    rules = {(r.rule, m) for r in app.app.url_map.iter_rules() for m in r.methods}
    if ("/capture/<token>", "POST") not in rules:
        pytest.skip("POST /capture/<token> is not registered yet (capture_page)")
    if not FACES_AVAILABLE:
        pytest.skip("needs the photos in ../shared/faces")
    customer = await make_customer()
    enrol = await client.put(
        f"/api/v1/customers/{customer.id}/face",
        files={"photo": photo("A_26.jpg")},
        headers={"Authorization": "Bearer test-admin-key-0123456789abcdef"},
    )
    if enrol.status_code != 200:
        pytest.skip(f"face enrolment unavailable here ({enrol.status_code})")
    phone = phone_of(customer)
    [code_sms] = await phone.ask("W 20")
    [link_sms] = await phone.ask(code_in(code_sms))
    link = CAPTURE_LINK_RE.search(link_sms)
    assert link
    # The short link leads to the page, which posts to /capture/<token>.
    short = await client.get(link.group(0).removeprefix("https://bank.example.test"))
    assert short.status_code == 302 and short.headers["Location"] == capture_path(link_sms)
    page = await client.get(capture_path(link_sms))
    assert page.status_code == 200
    selfie = await client.post(capture_path(link_sms), files={"selfie": photo("A_27.jpg")})
    assert (await selfie.get_json())["status"] == "verified"
    [confirmation] = await phone.new()
    assert "$80.00" in confirmation


async def test_wrong_code_five_times_cancels_the_withdrawal(
    make_customer: Any, phone_of: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    real = code_in((await phone.ask("W 20"))[0])
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"

    answers = [await phone.ask(wrong) for _ in range(5)]
    for left, [answer] in zip((4, 3, 2), answers, strict=False):
        assert f"not right. You have {left} tries left." in answer
        assert_reads_well(answer)
    assert answers[3] == ["SMS Bank: That code is not right. You have 1 try left."]
    [failed] = answers[4]
    assert "not approved" in failed and "Too many wrong codes" in failed
    assert "To try again, text W and the amount." in failed
    withdrawal = await open_withdrawal(customer)
    assert withdrawal.status == WithdrawalStatus.CANCELLED
    assert await conversation_state(customer) == ConversationState.IDLE
    # The real code is dead with its request.
    [reply] = await phone.ask(real)
    assert "No code is waiting" in reply
    await customer.refresh_from_db()
    assert customer.balance == Decimal("100.00")


async def test_an_expired_code_is_refused(make_customer: Any, phone_of: Any) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    code = code_in((await phone.ask("W 20"))[0])
    # Five minutes pass (the clock is not touched: the code's expiry is moved instead).
    await OneTimeCode.all().update(expires_at=utcnow() - timedelta(seconds=1))

    [reply] = await phone.ask(code)
    assert "expired" in reply and "CALL" in reply
    assert (await open_withdrawal(customer)).status == WithdrawalStatus.AWAITING_CODE
    # CALL gives a fresh code, which works.
    [calling] = await phone.ask("CALL")
    assert "calling you" in calling
    fresh = digits_in_call((await phone.last_call()).body)
    [link_sms] = await phone.ask(fresh)
    assert CAPTURE_LINK_RE.search(link_sms)


async def test_a_code_answered_late_gives_the_link_its_full_ten_minutes(
    make_customer: Any, phone_of: Any
) -> None:
    """The link SMS says "valid 10 minutes": a code answered with 2 minutes of the
    request left must not leave a link that outlives its request."""
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    code = code_in((await phone.ask("W 20"))[0])
    soon = utcnow() + timedelta(minutes=2)
    await Withdrawal.all().update(expires_at=soon)
    await Conversation.all().update(expires_at=soon)

    [link_sms] = await phone.ask(code)
    assert CAPTURE_LINK_RE.search(link_sms) and "10 minutes" in link_sms
    token = await CaptureToken.get(customer_id=customer.id)
    withdrawal = await open_withdrawal(customer)
    conversation = await Conversation.get(customer_id=customer.id)
    assert withdrawal.expires_at >= token.expires_at > soon + timedelta(minutes=7)
    assert conversation.expires_at == withdrawal.expires_at


async def test_a_conversation_past_its_timeout_starts_over(
    make_customer: Any, phone_of: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    code = code_in((await phone.ask("W 20"))[0])
    past = utcnow() - timedelta(seconds=1)
    await Withdrawal.all().update(expires_at=past)
    await Conversation.all().update(expires_at=past)

    [reply] = await phone.ask(code)
    assert "No code is waiting" in reply
    assert (await open_withdrawal(customer)).status == WithdrawalStatus.EXPIRED
    assert await conversation_state(customer) == ConversationState.IDLE


async def test_a_code_for_20_cannot_approve_another_request(
    make_customer: Any, phone_of: Any
) -> None:
    customer = await enrolled(make_customer, balance="500.00")
    phone = phone_of(customer)
    code_for_20 = code_in((await phone.ask("W 20"))[0])
    [code_sms_400] = await phone.ask("W 400")
    assert "$400.00" in code_sms_400
    first, second = await Withdrawal.filter(customer_id=customer.id).order_by("id")
    assert first.status == WithdrawalStatus.CANCELLED

    [reply] = await phone.ask(code_for_20)
    assert "not right" in reply
    await second.refresh_from_db()
    assert second.status == WithdrawalStatus.AWAITING_CODE and second.code_failures == 1

    [link_sms] = await phone.ask(code_in(code_sms_400))
    assert "$400.00" in link_sms and CAPTURE_LINK_RE.search(link_sms)


async def test_a_code_cannot_approve_another_customers_request(
    make_customer: Any, phone_of: Any
) -> None:
    alice = await enrolled(make_customer, name="Alice")
    bob = await enrolled(make_customer, name="Bob")
    alice_code = code_in((await phone_of(alice).ask("W 20"))[0])
    await phone_of(bob).ask("W 20")
    [reply] = await phone_of(bob).ask(alice_code)
    assert "not right" in reply
    assert (await open_withdrawal(bob)).status == WithdrawalStatus.AWAITING_CODE


async def test_withdrawal_refusals_leave_nothing_behind(make_customer: Any, phone_of: Any) -> None:
    plain = await make_customer()  # no face enrolled
    [reply] = await phone_of(plain).ask("W 20")
    assert "face enrolled" in reply
    rich = await enrolled(make_customer, balance="100.00")
    [reply] = await phone_of(rich).ask("W 100.01")
    assert "not enough money" in reply
    [reply] = await phone_of(rich).ask("W lots")
    assert "W 20" in reply
    assert await Withdrawal.all().count() == 0
    assert await conversation_state(rich) == ConversationState.IDLE


async def test_abort_cancels_the_pending_withdrawal(make_customer: Any, phone_of: Any) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    code = code_in((await phone.ask("W 20"))[0])
    [cancelled] = await phone.ask("abort")
    assert "$20.00 is cancelled" in cancelled and "Nothing was taken" in cancelled
    assert (await open_withdrawal(customer)).status == WithdrawalStatus.CANCELLED
    assert await conversation_state(customer) == ConversationState.IDLE
    [reply] = await phone.ask(code)
    assert "No code is waiting" in reply
    [nothing] = await phone.ask("ABORT")
    assert "nothing to cancel" in nothing and "HELP" in nothing
    assert_reads_well(nothing)


async def test_abort_after_the_code_kills_the_capture_link_too(
    make_customer: Any, phone_of: Any, settings: Settings
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    await phone.ask(code_in((await phone.ask("W 20"))[0]))
    assert await conversation_state(customer) == ConversationState.AWAITING_WITHDRAWAL_SELFIE
    await phone.ask("ABORT")
    withdrawal = await open_withdrawal(customer)
    assert withdrawal.status == WithdrawalStatus.CANCELLED
    with pytest.raises(Conflict):
        await withdrawals.selfie_verified(settings, withdrawal.id, distance=0.01, actor="t")


# --- replays and signatures -------------------------------------------------------------


async def test_a_replayed_message_sid_is_processed_once(make_customer: Any, phone_of: Any) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    sid = new_sid()
    await phone.text("W 20", sid=sid)
    await phone.text("W 20", sid=sid)
    await phone.text("W 20", sid=sid)
    assert await InboundMessage.filter(message_sid=sid).count() == 1
    assert await Withdrawal.all().count() == 1
    assert len(await phone.new()) == 1


async def test_the_same_message_sid_at_the_same_moment_is_processed_once(
    make_customer: Any, phone_of: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    sid = new_sid()
    await asyncio.gather(*(phone.text("W 20", sid=sid) for _ in range(8)))
    assert await InboundMessage.filter(message_sid=sid).count() == 1
    assert await Withdrawal.all().count() == 1
    assert await OneTimeCode.all().count() == 1
    assert len(await phone.new()) == 1


async def test_different_messages_at_the_same_moment_are_all_processed(
    make_customer: Any, phone_of: Any
) -> None:
    customers = [await make_customer() for _ in range(5)]
    await asyncio.gather(*(phone_of(c).text("BAL") for c in customers))
    for customer in customers:
        assert len(await phone_of(customer).new()) == 1


@pytest.mark.parametrize("signature", [None, "", "Zm9yZ2Vk", "wrong-token"])
async def test_forged_or_missing_signatures_change_nothing(
    make_customer: Any, client: Any, settings: Settings, signature: str | None
) -> None:
    customer = await enrolled(make_customer)
    form = sms_form(customer.phone, "W 20")
    headers = {}
    if signature == "wrong-token":
        other = settings.with_overrides(twilio_auth_token="an-attackers-guess")
        headers["X-Twilio-Signature"] = TwilioSigner(other).signature(SMS_PATH, form)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    response = await client.post(SMS_PATH, form=form, headers=headers)
    assert response.status_code == 403
    body = await response.get_json()
    assert body["error"]["code"] == "invalid_signature"
    assert await InboundMessage.all().count() == 0
    assert await OutboundMessage.all().count() == 0
    assert await Withdrawal.all().count() == 0
    assert not await Conversation.exists(customer_id=customer.id)


async def test_a_signature_for_another_body_changes_nothing(
    make_customer: Any, client: Any, settings: Settings
) -> None:
    customer = await enrolled(make_customer)
    signer = TwilioSigner(settings)
    signed = sms_form(customer.phone, "BAL")
    tampered = {**signed, "Body": "W 900"}
    response = await client.post(SMS_PATH, form=tampered, headers=signer.headers(SMS_PATH, signed))
    assert response.status_code == 403
    assert await InboundMessage.all().count() == 0


# --- opt-out, strangers, floods -----------------------------------------------------------


async def test_stop_then_start(make_customer: Any, phone_of: Any) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    assert await phone.ask("STOP") == []  # Twilio itself confirms the opt-out
    await customer.refresh_from_db()
    assert customer.sms_opted_out

    # Nothing is sent, and nothing starts, until the customer opts back in.
    for text in ("BAL", "W 20", "HELP", "hello"):
        assert await phone.ask(text) == []
    assert await Withdrawal.all().count() == 0
    assert await OutboundMessage.all().count() == 0

    assert await phone.ask("start") == []
    await customer.refresh_from_db()
    assert not customer.sms_opted_out
    [balance] = await phone.ask("BAL")
    assert "$100.00" in balance
    actions = await AuditEvent.filter(customer_id=customer.id).values_list("action", flat=True)
    assert "sms.opted_out" in actions and "sms.opted_in" in actions


@pytest.mark.parametrize("word", ["STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "stop"])
async def test_every_opt_out_keyword_is_honoured_and_none_is_a_command(
    make_customer: Any, phone_of: Any, word: str
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    await phone.ask("W 20")
    assert await phone.ask(word) == []
    await customer.refresh_from_db()
    assert customer.sms_opted_out
    # CANCEL is Twilio's keyword, not ours: the withdrawal is still pending.
    assert (await open_withdrawal(customer)).status == WithdrawalStatus.AWAITING_CODE


async def test_a_message_after_stop_that_the_bank_would_send_is_suppressed(
    make_customer: Any, phone_of: Any, settings: Settings
) -> None:
    """A selfie finishing after STOP: the confirmation is stored, never sent."""
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    await phone.ask(code_in((await phone.ask("W 20"))[0]))
    await phone.ask("STOP")
    withdrawal = await open_withdrawal(customer)
    await withdrawals.selfie_verified(settings, withdrawal.id, distance=0.02, actor="capture")
    last = (await phone.messages())[-1]
    assert last.template == "withdrawal_completed"
    assert last.status == OutboundStatus.SUPPRESSED


async def test_an_unregistered_sender_hears_once_a_day_and_learns_nothing(
    make_customer: Any, phone_of: Any
) -> None:
    await enrolled(make_customer)
    stranger = phone_of("+15559990000")
    [reply] = await stranger.ask("BAL")
    assert "not registered" in reply and "visit a branch" in reply
    assert_reads_well(reply)
    for text in ("W 20", "123456", "HELP", "PHONE +15550100100"):
        assert await stranger.ask(text) == []
    assert await Withdrawal.all().count() == 0
    assert await PhoneChange.all().count() == 0
    # Another unknown number gets its own one reply; STOP from a stranger gets none.
    assert len(await phone_of("+15559990001").ask("hi")) == 1
    assert await phone_of("+15559990002").ask("STOP") == []
    # A day later the stranger hears it once more.
    await OutboundMessage.filter(to_phone=stranger.number).update(
        created_at=utcnow() - timedelta(hours=25)
    )
    assert len(await stranger.ask("BAL")) == 1
    assert await InboundMessage.filter(from_phone=stranger.number).count() == 6


async def test_a_stranger_who_said_stop_hears_nothing_until_start(phone_of: Any) -> None:
    stranger = phone_of("+15559990000")
    assert await stranger.ask("STOP") == []
    assert await stranger.ask("hello") == []
    assert await stranger.ask("START") == []
    [reply] = await stranger.ask("hello")
    assert "not registered" in reply


async def test_a_flood_from_one_number_is_throttled_without_hurting_others(
    make_customer: Any, phone_of: Any, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    flooder = phone_of(await make_customer(name="Flood"))
    other = phone_of(await make_customer(name="Calm"))
    limit = settings.inbound_rate_limit_per_minute
    for _ in range(limit):
        assert len(await flooder.ask("BAL")) == 1
    with caplog.at_level(logging.WARNING, logger="smsbank"):
        for _ in range(5):
            assert await flooder.ask("BAL") == []
    # The count stops a little past the limit; the onset is still told from the rest.
    assert [r.getMessage() for r in caplog.records].count("inbound sms throttled") == 1
    assert len(await other.ask("BAL")) == 1
    # Opting out is always honoured, flood or not.
    await flooder.ask("STOP")
    assert await Customer.filter(phone=flooder.number, sms_opted_out=True).exists()
    # Every message is still recorded (so a redelivery is still recognised).
    assert await InboundMessage.filter(from_phone=flooder.number).count() == limit + 6
    # A minute later the number is heard again.
    await InboundMessage.filter(from_phone=flooder.number).update(
        created_at=utcnow() - timedelta(minutes=2)
    )
    await flooder.ask("START")
    assert len(await flooder.ask("BAL")) == 1


# --- look-ups and help ------------------------------------------------------------------


async def test_me_history_and_help(make_customer: Any, phone_of: Any, settings: Settings) -> None:
    customer = await enrolled(make_customer, name="Grace Hopper")
    phone = phone_of(customer)
    [me] = await phone.ask("ME")
    last4 = customer.account_number[-4:]
    assert "Grace Hopper" in me and "face enrolled: yes" in me
    assert f"account ending {last4}" in me and f"phone ending {customer.phone[-4:]}" in me
    assert customer.account_number not in me and customer.phone not in me
    assert_reads_well(me)

    from smsbank.core import ledger

    for amount in ("1", "2", "3", "4", "5", "6"):
        await ledger.deposit(customer.id, Decimal(amount))
    [history] = await phone.ask("history")
    lines = history.splitlines()
    assert lines[0] == "SMS Bank: Your last 5 transactions:"
    assert len(lines) == 7
    assert "+$6.00" in lines[1] and "+$2.00" in lines[5]
    assert lines[6] == "Balance: $121.00."
    assert_reads_well(history, segments_at_most=2)
    [help_text] = await phone.ask("help")
    for command in ("BAL", "ME", "HISTORY", "W 20", "PHONE", "ABORT", "CALL", "ESPANOL"):
        assert command in help_text
    assert_reads_well(help_text, segments_at_most=2)
    [hint] = await phone.ask("what is this")
    assert "HELP" in hint
    # Each reply is filed under what caused it, for the outbox's records and audits.
    templates = [m.template for m in await phone.messages()]
    assert templates == ["reply.send_profile", "reply.send_history", "reply.help", "reply.unknown"]


async def test_history_without_transactions(make_customer: Any, phone_of: Any) -> None:
    customer = await make_customer(balance=None)
    [reply] = await phone_of(customer).ask("HISTORY")
    assert "No transactions yet" in reply


@pytest.mark.parametrize(
    "body",
    [
        "x" * 1600,
        "😀" * 800,
        "BAL 😀",
        "\x00\x01\x02BAL\x7f",
        "\u202eLAB",
        "W\u00a020",
        "\r\n\tBAL\r\n",
        "",
        "Ｗ ２０",
    ],
)
async def test_any_body_twilio_can_send_is_handled(
    make_customer: Any, phone_of: Any, body: str
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    replies = await phone.ask(body)
    assert len(replies) == 1
    stored = await InboundMessage.get(from_phone=customer.phone)
    assert "\x00" not in stored.body


# --- the webhook's own input checks ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"From": None}, 400),
        ({"MessageSid": None}, 400),
        ({"From": ""}, 400),
        ({"MessageSid": "   "}, 400),
        ({"MessageSid": "SM" + "a" * 100}, 400),
        ({"MessageSid": "SM<script>"}, 400),
        ({"From": "+1" * 40}, 400),
        ({"From": "+1555\x00"}, 400),
        ({"Body": "x" * 1601}, 400),
        ({"Body": None}, 200),  # a picture without text
        ({"To": None}, 200),
        ({"Unexpected": "field", "MediaUrl0": "https://x.test/a.jpg"}, 200),
    ],
)
async def test_webhook_form_checks(
    client: Any, settings: Settings, make_customer: Any, change: dict[str, Any], status: int
) -> None:
    customer = await make_customer()
    form = sms_form(customer.phone, "BAL")
    for key, value in change.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    response = await TwilioSigner(settings).post(client, SMS_PATH, form)
    assert response.status_code == status
    if status == 400:
        body = await response.get_json()
        assert body["error"]["code"] in ("missing_field", "invalid_field")
        assert await InboundMessage.all().count() == 0


async def test_only_post_is_accepted(client: Any) -> None:
    response = await client.get(SMS_PATH)
    assert response.status_code == 405
    assert (await response.get_json())["error"]["code"] == "method_not_allowed"


# --- phone change ------------------------------------------------------------------------------


async def test_phone_change_by_sms(make_customer: Any, phone_of: Any, settings: Settings) -> None:
    customer = await enrolled(make_customer)
    old = phone_of(customer)
    new = phone_of(NEW_NUMBER)

    [told] = await old.ask(f"PHONE {NEW_NUMBER}")
    assert NEW_ENDING in told and "ABORT" in told
    assert_reads_well(told)
    [code_sms] = await new.new()
    code = code_in(code_sms)
    assert "from your current phone" in code_sms and "expires in 5 minutes" in code_sms
    assert_reads_well(code_sms)
    assert await conversation_state(customer) == ConversationState.AWAITING_PHONE_CODE

    [link_sms] = await old.ask(code)
    assert CAPTURE_LINK_RE.search(link_sms) and "valid 10 minutes" in link_sms
    assert_reads_well(link_sms, segments_at_most=2)
    assert await new.new() == []
    assert await conversation_state(customer) == ConversationState.AWAITING_PHONE_SELFIE

    change = await PhoneChange.get(customer_id=customer.id)
    await phone_changes.selfie_verified(settings, change.id, distance=0.02, actor="capture")
    [old_notice] = await old.new()
    [new_notice] = await new.new()
    assert f"changed to the number {NEW_ENDING}" in old_notice and "not you" in old_notice
    assert "now your banking number" in new_notice
    assert_reads_well(old_notice)
    assert_reads_well(new_notice)
    await customer.refresh_from_db()
    assert customer.phone == NEW_NUMBER
    assert await conversation_state(customer) == ConversationState.IDLE

    [balance] = await new.ask("BAL")
    assert "$100.00" in balance
    [stranger] = await old.ask("BAL")
    assert "not registered" in stranger


async def test_phone_change_refusals(make_customer: Any, phone_of: Any) -> None:
    customer = await enrolled(make_customer)
    taken = await make_customer(name="Someone Else")
    phone = phone_of(customer)
    [reply] = await phone.ask(f"PHONE {taken.phone}")
    assert "another customer" in reply
    [reply] = await phone.ask(f"PHONE {customer.phone}")
    assert "already your number" in reply
    [reply] = await phone.ask("PHONE 12")
    assert "PHONE +15557654321" in reply
    assert await PhoneChange.all().count() == 0


async def test_the_code_texted_from_the_new_phone_does_nothing(
    make_customer: Any, phone_of: Any
) -> None:
    customer = await enrolled(make_customer)
    await phone_of(customer).ask(f"PHONE {NEW_NUMBER}")
    new = phone_of(NEW_NUMBER)
    code = code_in((await new.new())[0])
    [reply] = await new.ask(code)
    assert "not registered" in reply
    change = await PhoneChange.get(customer_id=customer.id)
    assert change.status == PhoneChangeStatus.AWAITING_CODE


async def test_abort_a_phone_change_and_illegal_moves_in_between(
    make_customer: Any, phone_of: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    await phone.ask(f"PHONE {NEW_NUMBER}")
    [reply] = await phone.ask("W 20")
    assert "Finish or ABORT your number change" in reply
    assert await Withdrawal.all().count() == 0
    [cancelled] = await phone.ask("ABORT")
    assert f"number {NEW_ENDING} is cancelled" in cancelled
    assert_reads_well(cancelled)
    change = await PhoneChange.get(customer_id=customer.id)
    assert change.status == PhoneChangeStatus.CANCELLED
    assert await conversation_state(customer) == ConversationState.IDLE


async def test_wrong_phone_change_codes_five_times(make_customer: Any, phone_of: Any) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    await phone.ask(f"PHONE {NEW_NUMBER}")
    real = code_in((await phone_of(NEW_NUMBER).new())[0])
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    answers = [await phone.ask(wrong) for _ in range(5)]
    assert answers[3] == ["SMS Bank: That code is not right. You have 1 try left."]
    [cancelled] = answers[4]
    assert "Too many wrong codes: the number change is cancelled." in cancelled
    assert "To try again, text PHONE and the new number." in cancelled
    assert await conversation_state(customer) == ConversationState.IDLE


# --- CALL ----------------------------------------------------------------------------------------


async def test_call_reads_a_fresh_withdrawal_code(make_customer: Any, phone_of: Any) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    texted = code_in((await phone.ask("W 20"))[0])
    [calling] = await phone.ask("CALL")
    assert "calling you now" in calling
    assert_reads_well(calling)
    call = await phone.last_call()
    assert call.channel == MessageChannel.VOICE and call.template == "withdrawal_code_call"
    assert call.status == OutboundStatus.QUEUED
    spoken = digits_in_call(call.body)
    # The fresh code replaces the texted one.
    if spoken != texted:
        [reply] = await phone.ask(texted)
        assert "not right" in reply
    [link_sms] = await phone.ask(spoken)
    assert CAPTURE_LINK_RE.search(link_sms)
    # Once the code is accepted there is nothing left to call about.
    [reply] = await phone.ask("CALL")
    assert "already accepted" in reply


async def test_call_for_a_phone_change_rings_the_new_number(
    make_customer: Any, phone_of: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    await phone.ask(f"PHONE {NEW_NUMBER}")
    [reply] = await phone.ask("CALL")
    assert f"calling the number {NEW_ENDING}" in reply
    assert await phone.messages(MessageChannel.VOICE) == []
    call = await phone_of(NEW_NUMBER).last_call()
    [link_sms] = await phone.ask(digits_in_call(call.body))
    assert CAPTURE_LINK_RE.search(link_sms)


async def test_call_with_nothing_pending(make_customer: Any, phone_of: Any) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    [reply] = await phone.ask("CALL")
    assert "No code is waiting" in reply
    assert await phone.messages(MessageChannel.VOICE) == []


async def test_codes_are_rate_limited_and_the_customer_is_told(
    make_customer: Any, phone_of: Any, settings: Settings
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    await phone.ask("W 20")
    for _ in range(settings.otp_send_limit - 1):
        await phone.ask("CALL")
    [reply] = await phone.ask("CALL")
    # How long to wait, from the window: the oldest code leaves it in 10 minutes.
    assert "Too many codes requested. Please try again in 10 minutes." in reply
    assert len(await phone.messages(MessageChannel.VOICE)) == settings.otp_send_limit - 1
    assert (await open_withdrawal(customer)).status == WithdrawalStatus.AWAITING_CODE


async def test_nothing_secret_reaches_the_logs(
    make_customer: Any, phone_of: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Our own log records, before the formatter's masking (a second line of defence)."""
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    caplog.set_level("DEBUG", logger="smsbank")
    code = code_in((await phone.ask("W 20"))[0])
    await phone.ask(code)
    await phone.ask("CALL")
    await phone.ask("W 900000")
    records = [r for r in caplog.records if r.name.startswith("smsbank")]
    assert any(r.getMessage() == "sms handled" for r in records)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in records)
    assert code not in logged
    assert customer.phone not in logged
    assert "/capture/" not in logged and "/c/" not in logged


async def test_a_whole_conversation_reads_well(
    make_customer: Any, phone_of: Any, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The conversation shown in docs/sms.md (`pytest -s -k reads_well` prints it)."""
    customer = await enrolled(make_customer, name="Ada Lovelace")
    phone = phone_of(customer)
    transcript: list[str] = []

    async def say(text: str) -> list[str]:
        replies = await phone.ask(text)
        transcript.append(f"> {text}")
        transcript.extend(f"< {reply}" for reply in replies)
        return replies

    await say("BAL")
    await say("ME")
    [code_sms] = await say("W 20")
    await say(code_in(code_sms))
    withdrawal = await open_withdrawal(customer)
    await withdrawals.selfie_verified(settings, withdrawal.id, distance=0.04, actor="capture")
    transcript.append("(selfie taken on the capture page and verified)")
    transcript.extend(f"< {text}" for text in await phone.new())
    await say("HISTORY")
    await say(f"PHONE {NEW_NUMBER}")
    for text in await phone_of(NEW_NUMBER).new():
        transcript.append(f"(SMS to the new number: {text})")
    await say("CALL")
    for call in await OutboundMessage.filter(channel=MessageChannel.VOICE):
        transcript.append(f"(call to the number ending {call.to_phone[-4:]}: {call.body})")
    await say("ABORT")
    [not_understood] = await say("what can I do")
    await say("ESPAÑOL")
    await say("SALDO")
    await say("R 20,50")
    print("\n".join(transcript))

    assert transcript[1].startswith("< SMS Bank: The balance of account ending")
    assert "withdrawal of $20.00 is approved" in "\n".join(transcript)
    assert not_understood.startswith("SMS Bank: Sorry, we did not understand that.")
    assert transcript[-1].startswith("< SMS Bank: Ese monto no es valido.")
    for line in transcript:
        if line.startswith("< "):
            assert_reads_well(line[2:], segments_at_most=2)


async def test_a_failed_selfie_ends_the_conversation_and_a_new_request_can_start(
    make_customer: Any, phone_of: Any, settings: Settings
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    await phone.ask(code_in((await phone.ask("W 20"))[0]))
    withdrawal = await open_withdrawal(customer)
    await withdrawals.selfie_failed(
        settings, withdrawal.id, reason="the selfies ran out", actor="c"
    )
    [failed] = await phone.new()
    assert "not approved" in failed
    assert await conversation_state(customer) == ConversationState.IDLE
    [code_sms] = await phone.ask("W 10")
    assert "$10.00" in code_sms


async def test_a_new_withdrawal_while_waiting_for_the_selfie_replaces_it(
    make_customer: Any, phone_of: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = phone_of(customer)
    await phone.ask(code_in((await phone.ask("W 20"))[0]))
    [code_sms] = await phone.ask("W 30")
    assert "$30.00" in code_sms
    first, second = await Withdrawal.filter(customer_id=customer.id).order_by("id")
    assert first.status == WithdrawalStatus.CANCELLED
    assert second.status == WithdrawalStatus.AWAITING_CODE
    assert await conversation_state(customer) == ConversationState.AWAITING_WITHDRAWAL_CODE
    conversation = await Conversation.get(customer_id=customer.id)
    assert conversation.withdrawal_id == second.id


@settings_(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=st.text(max_size=1600) | st.sampled_from(["W 20", "PHONE +15557654321", "123456"]))
async def test_whatever_a_customer_texts_the_webhook_answers_twiml(
    make_customer: Any, phone_of: Any, body: str
) -> None:
    customer = await enrolled(make_customer)  # a fresh customer (and number) per example
    replies = await phone_of(customer).ask(body)
    assert len(replies) <= 1
    assert all(reply.strip() for reply in replies)
