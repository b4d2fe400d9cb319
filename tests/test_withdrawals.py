"""The shared withdrawal state machine, driven directly (the HTTP and SMS layers are
tested in their own suites)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from smsbank.core import ledger
from smsbank.core.errors import Conflict, Forbidden, Gone, InsufficientFunds, LimitExceeded
from smsbank.core.models import (
    Channel,
    Customer,
    EntryKind,
    LedgerEntry,
    OutboundMessage,
    WithdrawalStatus,
)
from smsbank.core.settings import Settings
from smsbank.requests import phone_changes, withdrawals
from tests.webhooks.handset import CAPTURE_LINK_RE, code_in


async def enrolled(make_customer: Any, balance: str = "100.00") -> Customer:
    customer: Customer = await make_customer(balance=balance)
    # Any bytes mark the face as enrolled for flows that never compare faces.
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await customer.refresh_from_db()
    return customer


async def last_sms(phone: str) -> str:
    message = await OutboundMessage.filter(to_phone=phone).order_by("-id").first()
    assert message is not None
    return message.body


async def test_sms_withdrawal_from_code_to_ledger(
    db: None, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    withdrawal = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
    )
    text = await last_sms(customer.phone)
    assert "$20.00" in text and "account ending " + customer.account_number[-4:] in text
    outcome = await withdrawals.verify_code(settings, withdrawal.id, code_in(text), actor="test")
    assert outcome.ok
    link_text = await last_sms(customer.phone)
    assert CAPTURE_LINK_RE.search(link_text)

    result = await withdrawals.selfie_verified(settings, withdrawal.id, distance=0.03, actor="test")
    assert result.entry is not None
    assert result.withdrawal.status == WithdrawalStatus.COMPLETED
    assert result.withdrawal.reference == result.entry.reference
    confirmation = await last_sms(customer.phone)
    assert result.entry.reference in confirmation and "$80.00" in confirmation
    await customer.refresh_from_db()
    assert customer.balance == Decimal("80.00")

    with pytest.raises(Conflict):
        await withdrawals.selfie_verified(settings, withdrawal.id, distance=0.03, actor="test")
    with pytest.raises(Conflict):
        await withdrawals.record_withdrawal(settings, withdrawal.id, actor="test")
    assert await LedgerEntry.filter(kind=EntryKind.WITHDRAWAL).count() == 1


async def test_two_selfies_at_once_give_one_debit(
    db: None, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    withdrawal = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("30"), channel=Channel.SMS, actor="test"
    )
    code = code_in(await last_sms(customer.phone))
    await withdrawals.verify_code(settings, withdrawal.id, code, actor="test")

    async def post_selfie() -> str:
        try:
            await withdrawals.selfie_verified(settings, withdrawal.id, distance=0.02, actor="t")
            return "recorded"
        except Conflict:
            return "conflict"

    results = await asyncio.gather(*(post_selfie() for _ in range(6)))
    assert sorted(results) == ["conflict"] * 5 + ["recorded"]
    await customer.refresh_from_db()
    assert customer.balance == Decimal("70.00")
    assert await ledger.ledger_total_minor(customer.id) == customer.balance_minor


async def test_wrong_code_five_times_cancels(
    db: None, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    withdrawal = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
    )
    real = code_in(await last_sms(customer.phone))
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    lefts = []
    for _ in range(5):
        outcome = await withdrawals.verify_code(settings, withdrawal.id, wrong, actor="test")
        assert not outcome.ok
        lefts.append(outcome.attempts_left)
    assert lefts == [4, 3, 2, 1, 0]
    assert outcome.withdrawal.status == WithdrawalStatus.CANCELLED
    with pytest.raises(Conflict):
        await withdrawals.verify_code(settings, withdrawal.id, real, actor="test")


async def test_a_new_code_does_not_reset_failures(
    db: None, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    withdrawal = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
    )
    for _ in range(3):
        await withdrawals.verify_code(settings, withdrawal.id, "000000", actor="test")
    fresh = await withdrawals.resend_code(settings, withdrawal.id, actor="test")
    outcome = await withdrawals.verify_code(settings, withdrawal.id, "999999", actor="test")
    assert outcome.attempts_left == 1
    assert (await withdrawals.verify_code(settings, withdrawal.id, fresh, actor="test")).ok


async def test_a_code_for_one_request_cannot_approve_another(
    db: None, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer, balance="500.00")
    first = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
    )
    code_for_20 = code_in(await last_sms(customer.phone))
    second = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("400"), channel=Channel.SMS, actor="test"
    )
    await first.refresh_from_db()
    assert first.status == WithdrawalStatus.CANCELLED
    outcome = await withdrawals.verify_code(settings, second.id, code_for_20, actor="test")
    assert not outcome.ok


async def test_expired_code_is_refused(db: None, settings: Settings, make_customer: Any) -> None:
    customer = await enrolled(make_customer)
    quick = settings.with_overrides(otp_ttl_seconds=0)
    withdrawal = await withdrawals.start_withdrawal(
        quick, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
    )
    code = code_in(await last_sms(customer.phone))
    outcome = await withdrawals.verify_code(quick, withdrawal.id, code, actor="test")
    assert not outcome.ok and "expired" in outcome.message


async def test_expired_request_is_gone(db: None, settings: Settings, make_customer: Any) -> None:
    customer = await enrolled(make_customer)
    quick = settings.with_overrides(conversation_timeout_seconds=0)
    withdrawal = await withdrawals.start_withdrawal(
        quick, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
    )
    with pytest.raises(Gone):
        await withdrawals.verify_code(quick, withdrawal.id, "123456", actor="test")


@pytest.mark.parametrize(
    ("setup", "amount", "error"),
    [
        ("plain", "20", Conflict),  # no face enrolled
        ("locked", "20", Forbidden),
        ("face_locked", "20", Forbidden),
        ("enrolled", "100.01", InsufficientFunds),
        ("enrolled_rich", "1000.01", LimitExceeded),
    ],
)
async def test_refusals_before_any_code_is_sent(
    db: None, settings: Settings, make_customer: Any, setup: str, amount: str, error: type
) -> None:
    if setup == "plain":
        customer = await make_customer()
    else:
        customer = await enrolled(make_customer, "5000.00" if setup == "enrolled_rich" else "100")
        if setup == "locked":
            await Customer.filter(id=customer.id).update(status="locked")
        if setup == "face_locked":
            await Customer.filter(id=customer.id).update(face_locked=True)
    with pytest.raises(error):
        await withdrawals.start_withdrawal(
            settings, customer.id, Decimal(amount), channel=Channel.SMS, actor="test"
        )
    assert await OutboundMessage.all().count() == 0


async def test_branch_withdrawal_waits_for_staff_to_record(
    db: None, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    withdrawal = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("25"), channel=Channel.BRANCH, actor="staff"
    )
    with pytest.raises(Conflict):
        await withdrawals.record_withdrawal(settings, withdrawal.id, actor="staff")
    code = code_in(await last_sms(customer.phone))
    await withdrawals.verify_code(settings, withdrawal.id, code, actor="staff")
    approved = await withdrawals.face_checked_by_staff(
        settings, withdrawal.id, verified=True, distance=0.04, actor="staff"
    )
    assert approved.status == WithdrawalStatus.APPROVED
    entry = await withdrawals.record_withdrawal(settings, withdrawal.id, actor="staff")
    assert entry.amount == Decimal("25.00")
    with pytest.raises(Conflict) as excinfo:
        await withdrawals.record_withdrawal(settings, withdrawal.id, actor="staff")
    assert excinfo.value.code == "already_recorded"


def first_click_wins(monkeypatch: pytest.MonkeyPatch, module: Any, first_click: Any) -> list[Any]:
    """The interleaving of two clicks with the right code, forced with a hook (the event
    loop would otherwise run one call whole before the other): `first_click()` runs to
    the end between the second call's look at its request (`module.get_customer` comes
    next) and its check of the code. Returns where the first click's outcome lands."""
    real_get_customer = module.get_customer
    first: list[Any] = []

    async def meanwhile_the_first_click_wins(customer_id: int) -> Customer:
        monkeypatch.setattr(module, "get_customer", real_get_customer)
        first.append(await first_click())
        return await real_get_customer(customer_id)

    monkeypatch.setattr(module, "get_customer", meanwhile_the_first_click_wins)
    return first


async def test_the_right_code_twice_at_once_is_accepted_once_and_is_no_wrong_try(
    db: None, settings: Settings, make_customer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two staff clicks (or a retried request) with the right code at the same moment:
    the second has found the request waiting for its code when the first wins."""
    customer = await enrolled(make_customer)
    withdrawal = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("20"), channel=Channel.BRANCH, actor="test"
    )
    code = code_in(await last_sms(customer.phone))
    first = first_click_wins(
        monkeypatch,
        withdrawals,
        lambda: withdrawals.verify_code(settings, withdrawal.id, code, actor="a"),
    )

    with pytest.raises(Conflict) as second:
        await withdrawals.verify_code(settings, withdrawal.id, code, actor="b")

    assert second.value.code == "code_used"
    assert [outcome.ok for outcome in first] == [True]
    await withdrawal.refresh_from_db()
    assert withdrawal.status == WithdrawalStatus.AWAITING_SELFIE
    assert withdrawal.code_failures == 0


async def test_the_right_number_change_code_twice_at_once_is_no_wrong_try(
    db: None, settings: Settings, make_customer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, for a number change at a branch (the shared request pattern)."""
    customer = await enrolled(make_customer)
    change = await phone_changes.start_phone_change(
        settings, customer.id, "+15557650001", channel=Channel.BRANCH, actor="test"
    )
    code = code_in(await last_sms("+15557650001"))
    first = first_click_wins(
        monkeypatch,
        phone_changes,
        lambda: phone_changes.verify_code(settings, change.id, code, actor="a"),
    )

    with pytest.raises(Conflict) as second:
        await phone_changes.verify_code(settings, change.id, code, actor="b")

    assert second.value.code == "code_used"
    assert [outcome.ok for outcome in first] == [True]
    await change.refresh_from_db()
    assert change.code_failures == 0
    await customer.refresh_from_db()
    assert customer.phone == "+15557650001"
