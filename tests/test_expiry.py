"""The expiry sweep: overdue requests end without waiting for the customer to come back.

Requests are made the way customers make them (texts through the signed webhook, or the
withdrawal and phone-change modules), then made overdue by moving `expires_at` into
the past; a sweep pass (or the app's own sweeper) does the rest.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from werkzeug.datastructures import FileStorage

from smsbank import expiry, phone_changes, withdrawals
from smsbank.app import create_app
from smsbank.capture import hash_token
from smsbank.clock import utcnow
from smsbank.errors import BankError
from smsbank.faces import selfies
from smsbank.faces.service import FaceResult
from smsbank.models import (
    AuditEvent,
    CaptureToken,
    CaptureTokenStatus,
    Channel,
    Conversation,
    ConversationState,
    Customer,
    EntryKind,
    LedgerEntry,
    OneTimeCode,
    OutboundMessage,
    PhoneChange,
    PhoneChangeStatus,
    Withdrawal,
    WithdrawalStatus,
)
from smsbank.settings import Settings, SettingsError
from tests.conftest import reset_database
from tests.outbox.conftest import wait_for
from tests.test_withdrawals import enrolled, last_sms
from tests.webhooks.handset import CAPTURE_LINK_RE, Handset, capture_path, code_in

NEW_NUMBER = "+15557654321"
T = TypeVar("T")


@pytest.fixture
def phone_of(client: Any, settings: Settings) -> Any:
    def factory(number: str) -> Handset:
        return Handset(client, settings, number)

    return factory


async def make_overdue(request: Withdrawal | PhoneChange) -> None:
    past = utcnow() - timedelta(seconds=1)
    await type(request).filter(id=request.id).update(expires_at=past)
    await request.refresh_from_db()


async def latest_withdrawal(customer: Customer) -> Withdrawal:
    withdrawal = await Withdrawal.filter(customer_id=customer.id).order_by("-id").first()
    assert withdrawal is not None
    return withdrawal


async def expiries(action: str, **details: object) -> list[AuditEvent]:
    events = await AuditEvent.filter(action=action)
    return [e for e in events if all(e.details.get(k) == v for k, v in details.items())]


async def assert_link_dead(client: Any, path: str) -> None:
    page = await client.get(path)
    assert page.status_code == 410 and "Link expired" in await page.get_data(as_text=True)
    selfie = FileStorage(io.BytesIO(b"\xff\xd8 not looked at"), filename="s.jpg")
    response = await client.post(path, files={"selfie": selfie})
    body = await response.get_json()
    assert (response.status_code, body["status"]) == (410, "expired")


# -- one pass ---------------------------------------------------------------------------


async def test_one_pass_expires_every_kind_of_overdue_request_and_spares_the_rest(
    client: Any, phone_of: Any, make_customer: Any
) -> None:
    waiting_code = await enrolled(make_customer)
    waiting_selfie = await enrolled(make_customer)
    changing = await enrolled(make_customer)
    not_due = await enrolled(make_customer)

    [code_sms] = await phone_of(waiting_code.phone).ask("W 20")
    selfie_phone = phone_of(waiting_selfie.phone)
    [selfie_code_sms] = await selfie_phone.ask("W 20")
    [withdrawal_link_sms] = await selfie_phone.ask(code_in(selfie_code_sms))
    old_phone, new_phone = phone_of(changing.phone), phone_of(NEW_NUMBER)
    await old_phone.ask(f"PHONE {NEW_NUMBER}")
    [change_code_sms] = await new_phone.new()
    [change_link_sms] = await old_phone.ask(code_in(change_code_sms))
    await phone_of(not_due.phone).ask("W 30")

    overdue_code = await latest_withdrawal(waiting_code)
    overdue_selfie = await latest_withdrawal(waiting_selfie)
    change = await PhoneChange.get(customer_id=changing.id)
    assert overdue_code.status == WithdrawalStatus.AWAITING_CODE
    assert overdue_selfie.status == WithdrawalStatus.AWAITING_SELFIE
    assert change.status == PhoneChangeStatus.AWAITING_SELFIE
    for request in (overdue_code, overdue_selfie, change):
        await make_overdue(request)
    texts_before = await OutboundMessage.all().count()

    result = await expiry.sweep()

    assert (result.withdrawals, result.phone_changes) == (2, 1)
    for request in (overdue_code, overdue_selfie, change):
        await request.refresh_from_db()
        assert (request.status.value, request.failure_reason) == ("expired", "the request expired")
    for withdrawal in (overdue_code, overdue_selfie):
        [event] = await expiries("withdrawal.expired", withdrawal_id=withdrawal.id)
        assert event.actor == "system" and event.details["amount"] == "20.00"
    [event] = await expiries("phone_change.expired", phone_change_id=change.id)
    assert NEW_NUMBER not in str(event.details)  # masked, like every number in the audit
    # Expiry is silent, as it has always been when a reader expired a request.
    assert await OutboundMessage.all().count() == texts_before
    # Codes are dead, links answer 410 "expired", conversation rows are free.
    assert not await OneTimeCode.filter(
        subject__in=[withdrawals.code_subject(overdue_code), phone_changes.code_subject(change)],
        used_at=None,
        cancelled_at=None,
    ).exists()
    await assert_link_dead(client, capture_path(withdrawal_link_sms))
    await assert_link_dead(client, capture_path(change_link_sms))
    for customer in (waiting_code, waiting_selfie, changing):
        conversation = await Conversation.get(customer_id=customer.id)
        assert conversation.state == ConversationState.IDLE
        assert conversation.withdrawal_id is None and conversation.phone_change_id is None

    # The request that is not due yet is untouched, conversation and all.
    spared = await latest_withdrawal(not_due)
    assert spared.status == WithdrawalStatus.AWAITING_CODE
    spared_conversation = await Conversation.get(customer_id=not_due.id)
    assert spared_conversation.state == ConversationState.AWAITING_WITHDRAWAL_CODE
    assert spared_conversation.withdrawal_id == spared.id

    # Nothing left to do; the old code means nothing; a new withdrawal starts cleanly.
    assert (await expiry.sweep()).total == 0
    phone = phone_of(waiting_code.phone)
    [reply] = await phone.ask(code_in(code_sms))
    assert "No code is waiting" in reply
    [new_code_sms] = await phone.ask("W 20")
    assert "$20.00" in new_code_sms
    fresh = await latest_withdrawal(waiting_code)
    assert fresh.id != overdue_code.id and fresh.status == WithdrawalStatus.AWAITING_CODE
    [link_sms] = await phone.ask(code_in(new_code_sms))
    assert (await client.get(capture_path(link_sms))).status_code == 200


async def test_a_backlog_is_expired_in_bounded_batches(
    db: None, settings: Settings, make_customer: Any
) -> None:
    quick = settings.with_overrides(conversation_timeout_seconds=0)
    for _ in range(5):
        customer = await enrolled(make_customer)
        await withdrawals.start_withdrawal(
            quick, customer.id, Decimal("20"), channel=Channel.BRANCH, actor="test"
        )
    passes = [await expiry.sweep(limit=2) for _ in range(4)]
    assert [p.withdrawals for p in passes] == [2, 2, 1, 0]
    assert await Withdrawal.filter(status=WithdrawalStatus.EXPIRED).count() == 5


async def test_an_approved_withdrawal_is_not_swept(
    db: None, settings: Settings, make_customer: Any
) -> None:
    # Code and face passed: staff record it (`POST /withdraw`), expiry does not take it.
    customer = await enrolled(make_customer)
    withdrawal = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("20"), channel=Channel.BRANCH, actor="test"
    )
    code = code_in(await last_sms(customer.phone))
    await withdrawals.verify_code(settings, withdrawal.id, code, actor="test")
    await withdrawals.face_checked_by_staff(
        settings, withdrawal.id, verified=True, distance=0.02, actor="test"
    )
    await make_overdue(withdrawal)
    assert (await expiry.sweep()).total == 0
    await withdrawal.refresh_from_db()
    assert withdrawal.status == WithdrawalStatus.APPROVED


async def test_the_withdrawal_list_is_accurate_before_the_sweeper_runs(
    client: Any, staff: dict[str, str], phone_of: Any, make_customer: Any
) -> None:
    # The app's sweeper is off here (tests/conftest.py): only the listing can expire it.
    customer = await enrolled(make_customer)
    await phone_of(customer.phone).ask("W 20")
    withdrawal = await latest_withdrawal(customer)

    async def listed(status: str) -> list[int]:
        response = await client.get(f"/api/v1/withdrawals?status={status}", headers=staff)
        assert response.status_code == 200
        return [w["id"] for w in (await response.get_json())["withdrawals"]]

    assert await listed("awaiting_code") == [withdrawal.id]
    await make_overdue(withdrawal)
    assert await listed("awaiting_code") == []
    assert await listed("expired") == [withdrawal.id]
    assert len(await expiries("withdrawal.expired", withdrawal_id=withdrawal.id)) == 1


# -- races ----------------------------------------------------------------------------


async def selfie_waiting(settings: Settings, customer: Customer) -> tuple[Withdrawal, str]:
    """An SMS withdrawal whose code was accepted: (the request, its capture token)."""
    withdrawal = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
    )
    code = code_in(await last_sms(customer.phone))
    await withdrawals.verify_code(settings, withdrawal.id, code, actor="test")
    link = CAPTURE_LINK_RE.search(await last_sms(customer.phone))
    assert link
    return withdrawal, link.group("token")


@pytest.fixture
def matching_face(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every selfie matches: the race is about the request, not about DeepFace."""

    async def compare(*_: Any) -> FaceResult:
        return FaceResult(embedding=[], threshold=0.07, distance=0.02)

    monkeypatch.setattr(selfies, "compare_with_enrolled", compare)
    return object()  # stands in for the face service, which is never called


async def post_selfie(settings: Settings, faces: Any, token: str) -> str:
    try:
        return (await selfies.submit_selfie(settings, faces, token, b"selfie")).status
    except BankError as exc:
        return str(exc.extra.get("status", exc.code))


async def assert_once_or_not_at_all(customer: Customer, withdrawal: Withdrawal) -> str:
    """Expired and untouched, or recorded once: never both, never twice."""
    await withdrawal.refresh_from_db()
    await customer.refresh_from_db()
    debits = await LedgerEntry.filter(withdrawal_id=withdrawal.id, kind=EntryKind.WITHDRAWAL)
    expired = await expiries("withdrawal.expired", withdrawal_id=withdrawal.id)
    if withdrawal.status == WithdrawalStatus.EXPIRED:
        assert (len(debits), len(expired), customer.balance) == (0, 1, Decimal("100.00"))
    else:
        assert withdrawal.status == WithdrawalStatus.COMPLETED
        assert (len(debits), len(expired), customer.balance) == (1, 0, Decimal("80.00"))
    return withdrawal.status.value


@pytest.mark.parametrize("first", ["selfie", "sweep"])
async def test_a_selfie_and_the_sweep_one_after_the_other(
    db: None, settings: Settings, make_customer: Any, matching_face: Any, first: str
) -> None:
    customer = await enrolled(make_customer)
    withdrawal, token = await selfie_waiting(settings, customer)
    if first == "selfie":
        # In time: recorded; the request's time running out later changes nothing.
        assert await post_selfie(settings, matching_face, token) == "verified"
        await make_overdue(withdrawal)
        assert (await expiry.sweep()).total == 0
        assert await assert_once_or_not_at_all(customer, withdrawal) == "completed"
    else:
        await make_overdue(withdrawal)
        assert (await expiry.sweep()).withdrawals == 1
        assert await post_selfie(settings, matching_face, token) == "expired"
        assert await assert_once_or_not_at_all(customer, withdrawal) == "expired"
        record = await CaptureToken.get(token_hash=hash_token(token))
        assert record.status == CaptureTokenStatus.ACTIVE and record.attempts_used == 0


async def after(seconds: float, work: Awaitable[T]) -> T:
    await asyncio.sleep(seconds)
    return await work


async def test_selfies_racing_the_sweep_are_recorded_once_or_not_at_all(
    db: None, settings: Settings, make_customer: Any, matching_face: Any
) -> None:
    # How long one selfie takes on this database, so that the rounds below can start
    # the sweep from before the selfie's first query to after its last: "sweep first",
    # "selfie first" and the interleavings in between (on PostgreSQL the two run on
    # separate connections at once).
    customer = await enrolled(make_customer)
    _, token = await selfie_waiting(settings, customer)
    started = time.perf_counter()
    assert await post_selfie(settings, matching_face, token) == "verified"
    span = time.perf_counter() - started

    for step in range(20):
        customer = await enrolled(make_customer)
        withdrawal, token = await selfie_waiting(settings, customer)
        await make_overdue(withdrawal)
        answer, swept = await asyncio.gather(
            post_selfie(settings, matching_face, token), after(span * step / 20, expiry.sweep())
        )
        outcome = await assert_once_or_not_at_all(customer, withdrawal)
        assert swept.withdrawals == (outcome == "expired")
        # The page says what happened: verified, or the link or its request was gone.
        if outcome == "completed":
            assert answer == "verified"
        else:
            assert answer in ("expired", "failed")


async def test_a_code_racing_the_sweep_on_an_overdue_request_loses_once(
    db: None, settings: Settings, make_customer: Any
) -> None:
    customer = await enrolled(make_customer)
    withdrawal = await withdrawals.start_withdrawal(
        settings, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
    )
    code = code_in(await last_sms(customer.phone))
    await make_overdue(withdrawal)

    async def answer_code() -> str:
        try:
            outcome = await withdrawals.verify_code(settings, withdrawal.id, code, actor="test")
        except BankError as exc:
            return exc.code
        return "accepted" if outcome.ok else "refused"

    # The sweep and the reader (the code's own check) both try to expire it.
    _, answer, _ = await asyncio.gather(
        expiry.sweep(), answer_code(), withdrawals.open_withdrawal_for(customer.id)
    )
    assert answer == "expired"
    await withdrawal.refresh_from_db()
    assert withdrawal.status == WithdrawalStatus.EXPIRED
    assert len(await expiries("withdrawal.expired", withdrawal_id=withdrawal.id)) == 1
    assert not await CaptureToken.filter(withdrawal_id=withdrawal.id).exists()
    assert await expiries("code.checked", withdrawal_id=withdrawal.id, result="ok") == []


async def test_sweeps_at_once_expire_each_request_once(
    db: None, settings: Settings, make_customer: Any
) -> None:
    # On PostgreSQL (SMSBANK_TEST_POSTGRES_URL) these passes run on separate connections
    # in parallel, like the sweepers of several workers; on SQLite they take turns.
    quick = settings.with_overrides(conversation_timeout_seconds=0)
    expected_withdrawals, expected_changes = set(), set()
    for n in range(12):
        customer = await enrolled(make_customer)
        withdrawal = await withdrawals.start_withdrawal(
            quick, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
        )
        expected_withdrawals.add(withdrawal.id)
        if n % 2:
            change = await phone_changes.start_phone_change(
                quick, customer.id, f"+1555020{n:04d}", channel=Channel.BRANCH, actor="test"
            )
            expected_changes.add(change.id)

    results = await asyncio.gather(*(expiry.sweep() for _ in range(4)))

    assert sum(r.withdrawals for r in results) == len(expected_withdrawals)
    assert sum(r.phone_changes for r in results) == len(expected_changes)
    expired_withdrawals = [
        e.details["withdrawal_id"] for e in await AuditEvent.filter(action="withdrawal.expired")
    ]
    expired_changes = [
        e.details["phone_change_id"] for e in await AuditEvent.filter(action="phone_change.expired")
    ]
    assert sorted(expired_withdrawals) == sorted(expected_withdrawals)
    assert sorted(expired_changes) == sorted(expected_changes)
    assert await Withdrawal.exclude(status=WithdrawalStatus.EXPIRED).count() == 0
    assert await PhoneChange.exclude(status=PhoneChangeStatus.EXPIRED).count() == 0


# -- the app's sweeper ---------------------------------------------------------------


async def test_the_app_sweeps_on_its_own(settings: Settings, make_customer: Any) -> None:
    sweeping = settings.with_overrides(expiry_sweep_seconds=0.05)
    await reset_database(sweeping.database_url)
    app = create_app(sweeping)
    async with app.test_app():
        sweeper = app.extensions["smsbank"].expiry
        assert sweeper is not None and sweeper in app.extensions["smsbank"].components
        customer = await enrolled(make_customer)
        withdrawal = await withdrawals.start_withdrawal(
            sweeping, customer.id, Decimal("20"), channel=Channel.SMS, actor="test"
        )
        change = await phone_changes.start_phone_change(
            sweeping, customer.id, NEW_NUMBER, channel=Channel.SMS, actor="test"
        )
        await make_overdue(withdrawal)
        await make_overdue(change)

        async def both_expired() -> bool:
            statuses = {
                (await Withdrawal.get(id=withdrawal.id)).status.value,
                (await PhoneChange.get(id=change.id)).status.value,
            }
            return statuses == {"expired"}

        await wait_for(both_expired)
        assert sweeper.passes >= 1
        assert len(await AuditEvent.filter(action__endswith=".expired")) == 2


def test_the_sweep_interval_setting() -> None:
    assert Settings().expiry_sweep_seconds == 30
    assert Settings.from_env({"SMSBANK_EXPIRY_SWEEP_SECONDS": "0.5"}, None).expiry_sweep_seconds
    for bad in ("-1", "nan", "inf", "soon"):
        with pytest.raises(SettingsError):
            Settings.from_env({"SMSBANK_EXPIRY_SWEEP_SECONDS": bad}, None)
    off = create_app(Settings(expiry_sweep_seconds=0)).extensions["smsbank"]
    assert off.expiry is None
