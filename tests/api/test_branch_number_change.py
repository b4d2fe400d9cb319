"""A number change started at a branch can be stopped from the old phone.

Someone with a forged ID at a counter starts `/request_update_otp` for a customer; the
code goes to the NEW number (theirs) and `/update_mobile` completes on it alone. The
registered phone is told, in words that fit a branch change, and its ABORT must cancel
the change; when a change does complete the old phone is told and withdrawals wait out
the cooling-off.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from smsbank.core.clock import utcnow
from smsbank.core.models import (
    Conversation,
    ConversationState,
    Customer,
    OutboundMessage,
    PhoneChange,
    PhoneChangeStatus,
)
from smsbank.core.settings import Settings
from smsbank.requests import expiry
from tests.webhooks.handset import Handset, code_in

NEW_NUMBER = "+15557654321"


async def start_change(client: Any, staff: dict[str, str], customer: Customer) -> Any:
    return await client.post(
        "/request_update_otp",
        json={"customer_id": customer.id, "new_phone_number": NEW_NUMBER},
        headers=staff,
    )


async def update_mobile(client: Any, staff: dict[str, str], customer: Customer, code: str) -> Any:
    return await client.post(
        "/update_mobile",
        json={"customer_id": customer.id, "new_phone_number": NEW_NUMBER, "otp": code},
        headers=staff,
    )


async def last_text(phone: str) -> OutboundMessage:
    message = await OutboundMessage.filter(to_phone=phone).order_by("-id").first()
    assert message is not None
    return message


async def test_abort_from_the_old_phone_cancels_a_change_started_at_a_branch(
    client: Any, staff: dict[str, str], settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    old_phone = Handset(client, settings, customer.phone)
    assert (await start_change(client, staff, customer)).status_code == 202

    [warning] = await old_phone.new()
    assert "started at a branch" in warning and "text ABORT" in warning
    assert "Reply here with that code" not in warning  # the SMS flow's words do not fit
    code_sms = (await last_text(NEW_NUMBER)).body
    assert "staff at your branch" in code_sms
    assert "Reply with it from your current phone" not in code_sms

    [reply] = await old_phone.ask("ABORT")

    assert "cancelled" in reply and f"ending {NEW_NUMBER[-4:]}" in reply
    change = await PhoneChange.get(customer_id=customer.id)
    assert change.status == PhoneChangeStatus.CANCELLED
    # The impostor at the counter reads out the code: too late.
    response = await update_mobile(client, staff, customer, code_in(code_sms))
    assert response.status_code == 409
    assert (await response.get_json())["error"]["code"] == "cancelled_by_customer"
    assert (await Customer.get(id=customer.id)).phone == customer.phone
    assert (await Conversation.get(customer_id=customer.id)).state == ConversationState.IDLE


async def test_while_a_branch_change_waits_the_old_phone_can_only_abort_it(
    client: Any, staff: dict[str, str], settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    old_phone = Handset(client, settings, customer.phone)
    await start_change(client, staff, customer)
    code = code_in((await last_text(NEW_NUMBER)).body)
    await old_phone.new()

    [to_code] = await old_phone.ask(code)
    [to_withdraw] = await old_phone.ask("W 20")
    [to_phone] = await old_phone.ask("PHONE +15550109876")
    [balance] = await old_phone.ask("BAL")

    assert "given at the branch" in to_code and "ABORT" in to_code
    assert "Finish or ABORT your number change" in to_withdraw
    assert "started at a branch is waiting" in to_phone
    assert "$100.00" in balance
    # The code from the old phone was not a guess against the change, and it still works.
    response = await update_mobile(client, staff, customer, code)
    assert response.status_code == 200


async def test_a_completed_branch_change_is_told_to_the_old_phone_and_pauses_withdrawals(
    client: Any, staff: dict[str, str], settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    old_number = customer.phone
    await start_change(client, staff, customer)
    code = code_in((await last_text(NEW_NUMBER)).body)
    assert (await update_mobile(client, staff, customer, code)).status_code == 200

    told = await last_text(old_number)
    assert told.template == "phone_changed_old"
    assert "changed to" in told.body and "call your branch" in told.body
    assert "paused for 24 hours" in told.body
    assert (await Conversation.get(customer_id=customer.id)).state == ConversationState.IDLE

    # Cooling-off: at the branch, a clear 403 with until when...
    refused = await client.get(
        f"/request_otp_withdraw/{customer.id}", query_string={"amount": "20"}, headers=staff
    )
    assert refused.status_code == 403
    body = await refused.get_json()
    assert body["error"]["code"] == "withdrawals_on_hold"
    held_until = (await Customer.get(id=customer.id)).withdrawals_held_until
    assert held_until is not None
    assert timedelta(hours=23, minutes=59) < held_until - utcnow() <= timedelta(hours=24)
    assert body["held_until"] == held_until.isoformat()
    assert f"until {held_until:%d %b %H:%M} UTC" in body["error"]["message"]
    # ...and by SMS, from the new number.
    [reply] = await Handset(client, settings, NEW_NUMBER).ask("W 20")
    assert re.search(r"paused until \d\d \w{3} \d\d:\d\d UTC", reply), reply
    # Once it is over, withdrawals work again.
    await Customer.filter(id=customer.id).update(withdrawals_held_until=utcnow())
    [code_sms] = await Handset(client, settings, NEW_NUMBER).ask("W 20")
    assert code_in(code_sms)


async def test_a_branch_change_waits_for_a_withdrawal_by_text_to_end(
    client: Any, staff: dict[str, str], settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    phone = Handset(client, settings, customer.phone)
    await phone.ask("W 20")

    response = await start_change(client, staff, customer)

    assert response.status_code == 409
    assert (await response.get_json())["error"]["code"] == "withdrawal_pending"
    await phone.ask("ABORT")
    assert (await start_change(client, staff, customer)).status_code == 202


async def test_an_expired_branch_change_frees_the_old_phones_conversation(
    client: Any, staff: dict[str, str], settings: Settings, make_customer: Any
) -> None:
    customer = await make_customer()
    await start_change(client, staff, customer)
    await PhoneChange.filter(customer_id=customer.id).update(
        expires_at=utcnow() - timedelta(seconds=1)
    )

    await expiry.sweep()

    assert (await Conversation.get(customer_id=customer.id)).state == ConversationState.IDLE
    [reply] = await Handset(client, settings, customer.phone).ask("ABORT")
    assert "nothing to cancel" in reply
