"""The original app's branch endpoints: codes, withdrawals and number changes, sharing
the SMS flow's state machines and ledger."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from smsbank.core.clock import utcnow
from smsbank.core.models import (
    Conversation,
    ConversationState,
    Customer,
    EntryKind,
    LedgerEntry,
    OutboundMessage,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.core.settings import Settings
from smsbank.requests import withdrawals
from tests.webhooks.handset import Handset

NEW_NUMBER = "+15557654321"


async def enrolled(make_customer: Any, balance: str = "100.00") -> Customer:
    customer: Customer = await make_customer(balance=balance)
    await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
    await customer.refresh_from_db()
    return customer


async def last_code(phone: str) -> str:
    message = await OutboundMessage.filter(to_phone=phone).order_by("-id").first()
    assert message is not None
    [code] = re.findall(r"(?<!\d)\d{6}(?!\d)", message.body)
    return code


async def start(client: Any, staff: dict[str, str], customer_id: int, amount: str) -> Any:
    return await client.get(
        f"/request_otp_withdraw/{customer_id}", query_string={"amount": amount}, headers=staff
    )


async def test_a_branch_withdrawal_from_code_to_ledger(
    client: Any, staff: dict[str, str], make_customer: Any, settings: Settings
) -> None:
    customer = await enrolled(make_customer)
    response = await start(client, staff, customer.id, "$25")
    assert response.status_code == 202
    withdrawal_id = (await response.get_json())["withdrawal_id"]
    code = await last_code(customer.phone)

    # Recording before the checks passed is refused.
    early = await client.post("/withdraw", json={"withdrawal_id": withdrawal_id}, headers=staff)
    assert early.status_code == 409
    assert (await early.get_json())["error"]["code"] == "not_approved"

    verified = await client.post(
        "/verify_otp_withdraw",
        json={"withdrawal_id": withdrawal_id, "otp": code},
        headers=staff,
    )
    assert verified.status_code == 200
    assert await verified.get_json() == {"verified": True}
    # No capture link at a branch: staff check the face in person (POST /verify_face).
    assert "/capture/" not in (await OutboundMessage.all().order_by("-id").first()).body  # type: ignore[union-attr]
    await withdrawals.face_checked_by_staff(
        settings, withdrawal_id, verified=True, distance=0.03, actor="staff"
    )

    recorded = await client.post("/withdraw", json={"withdrawal_id": withdrawal_id}, headers=staff)
    assert recorded.status_code == 201
    body = await recorded.get_json()
    assert body["withdrawal_id"] == withdrawal_id
    assert body["transaction"]["kind"] == "withdrawal"
    assert body["transaction"]["amount"] == "25.00"
    assert body["transaction"]["balance_after"] == "75.00"
    assert re.fullmatch(r"W-[2-9A-HJ-NP-Z]{6}", body["transaction"]["reference"])
    assert body["customer"]["balance"] == "75.00"

    again = await client.post("/withdraw", json={"withdrawal_id": withdrawal_id}, headers=staff)
    assert again.status_code == 409
    assert (await again.get_json())["error"]["code"] == "already_recorded"
    assert await LedgerEntry.filter(kind=EntryKind.WITHDRAWAL).count() == 1
    confirmation = await OutboundMessage.filter(template="withdrawal_completed").first()
    assert confirmation is not None and body["transaction"]["reference"] in confirmation.body


async def approved_at_branch(
    client: Any, staff: dict[str, str], customer: Customer, settings: Settings
) -> int:
    response = await start(client, staff, customer.id, "$25")
    withdrawal_id: int = (await response.get_json())["withdrawal_id"]
    await client.post(
        "/verify_otp_withdraw",
        json={"withdrawal_id": withdrawal_id, "otp": await last_code(customer.phone)},
        headers=staff,
    )
    await withdrawals.face_checked_by_staff(
        settings, withdrawal_id, verified=True, distance=0.03, actor="staff"
    )
    return withdrawal_id


async def test_an_approval_lasts_a_conversation_timeout_however_late_the_face_passed(
    client: Any, staff: dict[str, str], make_customer: Any, settings: Settings
) -> None:
    customer = await enrolled(make_customer)
    response = await start(client, staff, customer.id, "$25")
    withdrawal_id = (await response.get_json())["withdrawal_id"]
    await client.post(
        "/verify_otp_withdraw",
        json={"withdrawal_id": withdrawal_id, "otp": await last_code(customer.phone)},
        headers=staff,
    )
    # The face passes with two seconds of the request left.
    await Withdrawal.filter(id=withdrawal_id).update(expires_at=utcnow() + timedelta(seconds=2))
    await withdrawals.face_checked_by_staff(
        settings, withdrawal_id, verified=True, distance=0.03, actor="staff"
    )

    approved = await Withdrawal.get(id=withdrawal_id)
    left = approved.expires_at - utcnow()
    assert timedelta(seconds=settings.conversation_timeout_seconds - 60) < left
    recorded = await client.post("/withdraw", json={"withdrawal_id": withdrawal_id}, headers=staff)
    assert recorded.status_code == 201


async def test_an_approval_not_recorded_in_time_expires_and_pays_nothing(
    client: Any, staff: dict[str, str], make_customer: Any, settings: Settings
) -> None:
    customer = await enrolled(make_customer)
    withdrawal_id = await approved_at_branch(client, staff, customer, settings)
    # Its time runs out before staff record it (stands for the clock moving on).
    await Withdrawal.filter(id=withdrawal_id).update(expires_at=utcnow() - timedelta(seconds=1))

    late = await client.post("/withdraw", json={"withdrawal_id": withdrawal_id}, headers=staff)

    assert late.status_code == 410
    assert (await late.get_json())["error"]["code"] == "expired"
    assert (await Withdrawal.get(id=withdrawal_id)).status == WithdrawalStatus.EXPIRED
    assert await LedgerEntry.filter(kind=EntryKind.WITHDRAWAL).count() == 0
    await customer.refresh_from_db()
    assert str(customer.balance) == "100.00"


async def test_wrong_codes_answer_400_with_the_tries_left(
    client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    withdrawal_id = (await (await start(client, staff, customer.id, "20")).get_json())[
        "withdrawal_id"
    ]
    real = await last_code(customer.phone)
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    seen = []
    for _ in range(5):
        response = await client.post(
            "/verify_otp_withdraw",
            json={"withdrawal_id": withdrawal_id, "otp": wrong},
            headers=staff,
        )
        assert response.status_code == 400
        body = await response.get_json()
        seen.append((body["error"]["code"], body["attempts_left"]))
    assert seen == [("invalid_code", n) for n in (4, 3, 2, 1)] + [("too_many_attempts", 0)]
    after = await client.post(
        "/verify_otp_withdraw", json={"withdrawal_id": withdrawal_id, "otp": real}, headers=staff
    )
    assert after.status_code == 409
    assert (await Withdrawal.get(id=withdrawal_id)).status == WithdrawalStatus.CANCELLED


@pytest.mark.parametrize(
    "otp", ["12345", "1234567", "abcdef", "", "１２３４５６", 1_000_000, -1, None, 12.5, True]
)
async def test_a_malformed_otp_is_400_and_not_a_guess(
    client: Any, staff: dict[str, str], make_customer: Any, otp: Any
) -> None:
    customer = await enrolled(make_customer)
    withdrawal_id = (await (await start(client, staff, customer.id, "20")).get_json())[
        "withdrawal_id"
    ]
    response = await client.post(
        "/verify_otp_withdraw", json={"withdrawal_id": withdrawal_id, "otp": otp}, headers=staff
    )
    assert response.status_code == 400
    assert "error" in await response.get_json()
    assert (await Withdrawal.get(id=withdrawal_id)).code_failures == 0


async def test_an_otp_sent_as_a_json_number_works(
    client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    withdrawal_id = (await (await start(client, staff, customer.id, "20")).get_json())[
        "withdrawal_id"
    ]
    code = int(await last_code(customer.phone))  # leading zeros are restored
    response = await client.post(
        "/verify_otp_withdraw", json={"withdrawal_id": withdrawal_id, "otp": code}, headers=staff
    )
    assert response.status_code == 200


async def test_an_expired_request_is_410(
    client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    from datetime import timedelta

    from smsbank.core.clock import utcnow

    customer = await enrolled(make_customer)
    withdrawal_id = (await (await start(client, staff, customer.id, "20")).get_json())[
        "withdrawal_id"
    ]
    code = await last_code(customer.phone)
    await Withdrawal.filter(id=withdrawal_id).update(expires_at=utcnow() - timedelta(seconds=1))
    response = await client.post(
        "/verify_otp_withdraw", json={"withdrawal_id": withdrawal_id, "otp": code}, headers=staff
    )
    assert response.status_code == 410
    assert (await response.get_json())["error"]["code"] == "expired"


@pytest.mark.parametrize(
    ("setup", "amount", "status", "code"),
    [
        ("plain", "20", 409, "face_not_enrolled"),
        ("enrolled", "100.01", 409, "insufficient_funds"),
        ("enrolled", "abc", 400, "invalid_amount"),
        ("enrolled", "-5", 400, "invalid_amount"),
        ("enrolled", "0", 400, "invalid_amount"),
        ("enrolled", "20.001", 400, "invalid_amount"),
        ("rich", "1000.01", 409, "limit_exceeded"),
        ("locked", "20", 403, "account_locked"),
        ("missing", "20", 404, "customer_not_found"),
    ],
)
async def test_request_otp_withdraw_refusals(
    client: Any,
    staff: dict[str, str],
    make_customer: Any,
    setup: str,
    amount: str,
    status: int,
    code: str,
) -> None:
    if setup == "plain":
        customer = await make_customer()
    else:
        customer = await enrolled(make_customer, "5000.00" if setup == "rich" else "100.00")
    if setup == "locked":
        await Customer.filter(id=customer.id).update(status="locked")
    customer_id = customer.id + 1000 if setup == "missing" else customer.id
    response = await start(client, staff, customer_id, amount)
    assert response.status_code == status
    assert (await response.get_json())["error"]["code"] == code
    assert await Withdrawal.all().count() == 0
    assert await OutboundMessage.all().count() == 0


async def test_request_otp_withdraw_needs_an_amount(
    client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    response = await client.get(f"/request_otp_withdraw/{customer.id}", headers=staff)
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "invalid_request"


async def test_codes_per_customer_are_rate_limited(
    client: Any, staff: dict[str, str], make_customer: Any, settings: Settings
) -> None:
    customer = await enrolled(make_customer)
    for _ in range(settings.otp_send_limit):
        assert (await start(client, staff, customer.id, "20")).status_code == 202
    response = await start(client, staff, customer.id, "20")
    assert response.status_code == 429
    assert (await response.get_json())["error"]["code"] == "too_many_codes"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"withdrawal_id": "1"},
        {"withdrawal_id": 0},
        {"withdrawal_id": 2**40},
        {"withdrawal_id": 1, "extra": True},
        [1],
    ],
)
async def test_withdraw_body_checks(client: Any, staff: dict[str, str], body: Any) -> None:
    response = await client.post("/withdraw", json=body, headers=staff)
    assert response.status_code == 400
    assert "error" in await response.get_json()


async def test_withdraw_unknown_request_is_404(client: Any, staff: dict[str, str]) -> None:
    response = await client.post("/withdraw", json={"withdrawal_id": 4242}, headers=staff)
    assert response.status_code == 404


async def test_a_branch_request_replaces_a_pending_sms_one(
    client: Any, staff: dict[str, str], make_customer: Any, settings: Settings
) -> None:
    """One withdrawal state machine: starting one at the branch ends the SMS one, and
    the SMS conversation notices."""
    customer = await enrolled(make_customer)
    phone = Handset(client, settings, customer.phone)
    await phone.ask("W 20")
    sms_code = await last_code(customer.phone)
    assert (await start(client, staff, customer.id, "30")).status_code == 202
    conversation = await Conversation.get(customer_id=customer.id)
    assert conversation.state == ConversationState.IDLE
    [reply] = await phone.ask(sms_code)
    assert "No code is waiting" in reply


# --- number changes ------------------------------------------------------------------


async def test_a_number_change_at_the_branch(
    client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await make_customer()  # no face needed: the customer is at the counter
    old_phone = customer.phone
    response = await client.post(
        "/request_update_otp",
        json={"customer_id": customer.id, "new_phone_number": "(555) 765-4321"},
        headers=staff,
    )
    assert response.status_code == 202
    assert "phone_change_id" in await response.get_json()
    code = await last_code(NEW_NUMBER)
    told = await OutboundMessage.filter(to_phone=old_phone).order_by("-id").first()
    assert told is not None and told.template == "phone_change_started_at_branch"

    changed = await client.post(
        "/update_mobile",
        json={"customer_id": customer.id, "new_phone_number": "+1 555 765 4321", "otp": code},
        headers=staff,
    )
    assert changed.status_code == 200
    body = await changed.get_json()
    assert body["phone"] == NEW_NUMBER and body["id"] == customer.id
    templates = {
        (m.to_phone, m.template)
        for m in await OutboundMessage.filter(template__startswith="phone_changed")
    }
    assert templates == {(old_phone, "phone_changed_old"), (NEW_NUMBER, "phone_changed_new")}

    again = await client.post(
        "/update_mobile",
        json={"customer_id": customer.id, "new_phone_number": NEW_NUMBER, "otp": code},
        headers=staff,
    )
    assert again.status_code == 404


async def test_update_mobile_wrong_code(
    client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await make_customer()
    await client.post(
        "/request_update_otp",
        json={"customer_id": customer.id, "new_phone_number": NEW_NUMBER},
        headers=staff,
    )
    real = await last_code(NEW_NUMBER)
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    response = await client.post(
        "/update_mobile",
        json={"customer_id": customer.id, "new_phone_number": NEW_NUMBER, "otp": wrong},
        headers=staff,
    )
    assert response.status_code == 400
    body = await response.get_json()
    assert body["attempts_left"] == 4 and body["error"]["code"] == "invalid_code"
    await customer.refresh_from_db()
    assert customer.phone != NEW_NUMBER


@pytest.mark.parametrize(
    ("number", "status", "code"),
    [
        ("12", 400, "invalid_phone"),
        ("not a phone", 400, "invalid_phone"),
        ("taken", 409, "phone_taken"),
        ("same", 400, "same_phone"),
    ],
)
async def test_request_update_otp_refusals(
    client: Any, staff: dict[str, str], make_customer: Any, number: str, status: int, code: str
) -> None:
    customer = await make_customer()
    other = await make_customer(name="Other")
    new = {"taken": other.phone, "same": customer.phone}.get(number, number)
    response = await client.post(
        "/request_update_otp",
        json={"customer_id": customer.id, "new_phone_number": new},
        headers=staff,
    )
    assert response.status_code == status
    assert (await response.get_json())["error"]["code"] == code
    assert await OutboundMessage.all().count() == 0


async def test_update_mobile_without_a_request_or_for_another_number(
    client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await make_customer()
    body = {"customer_id": customer.id, "new_phone_number": NEW_NUMBER, "otp": "123456"}
    response = await client.post("/update_mobile", json=body, headers=staff)
    assert response.status_code == 404
    await client.post(
        "/request_update_otp",
        json={"customer_id": customer.id, "new_phone_number": NEW_NUMBER},
        headers=staff,
    )
    body["new_phone_number"] = "+15557654000"
    response = await client.post("/update_mobile", json=body, headers=staff)
    assert response.status_code == 404
    missing = {"customer_id": 99999, "new_phone_number": NEW_NUMBER, "otp": "123456"}
    assert (await client.post("/update_mobile", json=missing, headers=staff)).status_code == 404


async def test_the_branch_endpoints_are_documented(client: Any) -> None:
    schema = await (await client.get("/openapi.json")).get_json()
    paths = schema["paths"]
    for path in (
        "/request_otp_withdraw/{customer_id}",
        "/verify_otp_withdraw",
        "/withdraw",
        "/request_update_otp",
        "/update_mobile",
    ):
        assert path in paths, path
    verify = paths["/verify_otp_withdraw"]["post"]
    assert "requestBody" in verify
    assert {"200", "400"} <= set(verify["responses"])
    assert not any(p.startswith("/webhooks/") for p in paths)
