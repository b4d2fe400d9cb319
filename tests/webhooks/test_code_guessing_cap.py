"""A daily cap on wrong codes: 5 wrong tries a request and 5 codes per 10 minutes still
allowed ~3,600 guesses a day. After `wrong_codes_per_day` (10) wrong codes in 24 hours
withdrawals and number changes by SMS lock until staff lift it, audited, and the
customer is told."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from smsbank.core.clock import utcnow
from smsbank.core.models import (
    AuditEvent,
    Customer,
    PhoneChange,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.core.settings import Settings
from tests.webhooks.handset import Handset, code_in


async def enrolled(make_customer: Any) -> Customer:
    customer: Customer = await make_customer()
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await customer.refresh_from_db()
    return customer


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def guess_wrong(phone: Handset, times: int) -> list[str]:
    """Start a withdrawal and answer its code wrongly `times` times; the replies."""
    code = code_in((await phone.ask("W 20"))[0])
    replies: list[str] = []
    for _ in range(times):
        replies += await phone.ask(wrong(code))
    return replies


async def test_ten_wrong_codes_in_a_day_lock_withdrawals_and_number_changes_by_sms(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = Handset(client, settings, customer.phone)
    await guess_wrong(phone, 5)  # the first request is cancelled after five
    await guess_wrong(phone, 4)
    assert not (await Customer.get(id=customer.id)).codes_locked

    [told] = await guess_wrong(phone, 1)  # the tenth wrong code of the day

    assert "Too many wrong codes" in told and "branch" in told
    customer = await Customer.get(id=customer.id)
    assert customer.codes_locked
    event = await AuditEvent.get(action="codes.locked", customer_id=customer.id)
    assert event.details["wrong_codes"] == 10
    last = await Withdrawal.filter(customer_id=customer.id).order_by("-id").first()
    assert last is not None and last.status == WithdrawalStatus.CANCELLED
    # Nothing by SMS starts again: no code is sent to guess.
    [refused] = await phone.ask("W 20")
    assert "locked" in refused and "branch" in refused
    [refused] = await phone.ask("PHONE +15557654321")
    assert "locked" in refused
    assert await Withdrawal.filter(customer_id=customer.id).count() == 3  # the three above
    assert await PhoneChange.filter(customer_id=customer.id).count() == 0


async def test_staff_lift_the_lock_and_the_old_wrong_codes_stop_counting(
    client: Any, settings: Settings, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = Handset(client, settings, customer.phone)
    await guess_wrong(phone, 5)
    await guess_wrong(phone, 5)
    assert (await Customer.get(id=customer.id)).codes_locked
    # A branch still serves the customer in person meanwhile.
    at_branch = await client.get(
        f"/request_otp_withdraw/{customer.id}", query_string={"amount": "20"}, headers=staff
    )
    assert at_branch.status_code == 202

    response = await client.patch(
        f"/api/v1/customers/{customer.id}", json={"codes_locked": False}, headers=staff
    )

    assert response.status_code == 200
    assert (await response.get_json())["codes_locked"] is False
    event = await AuditEvent.filter(action="customer.updated", customer_id=customer.id).first()
    assert event is not None and event.details["fields"] == ["codes_locked"]
    replies = await guess_wrong(phone, 1)  # one more wrong code does not lock again
    assert replies == ["SMS Bank: That code is not right. You have 4 tries left."]
    assert not (await Customer.get(id=customer.id)).codes_locked


async def test_wrong_codes_older_than_a_day_do_not_count(
    client: Any, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    phone = Handset(client, settings, customer.phone)
    await guess_wrong(phone, 5)
    await Withdrawal.filter(customer_id=customer.id).update(
        created_at=utcnow() - timedelta(hours=25)
    )
    await guess_wrong(phone, 5)
    assert not (await Customer.get(id=customer.id)).codes_locked
