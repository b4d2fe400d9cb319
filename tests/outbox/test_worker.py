"""The background worker as the app runs it, and several workers sharing one database.

The multi-worker tests use separate OS processes (`tests/outbox/worker_process.py`)
exactly as `smsbank serve --workers N` or a second host would: they share only the
database, and the fake Twilio counts what really reached it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from smsbank.app import create_app
from smsbank.clock import utcnow
from smsbank.models import Customer, OutboundMessage, OutboundStatus
from smsbank.outbox import enqueue_sms
from smsbank.outbox import worker as outbox_worker
from smsbank.outbox.claims import CLAIM_SECONDS, claim_due
from smsbank.outbox.worker import OutboxWorker, deliver_due
from smsbank.settings import Settings
from smsbank.sms.group_commit import InboundBatcher
from smsbank.sms.inbound import Handled, InboundSms, Result
from smsbank.sms.router import handle_inbound_sms
from smsbank.sms_backends import ConsoleBackend, TwilioBackend
from tests.conftest import reset_database
from tests.fake_twilio import FakeTwilio
from tests.outbox.conftest import reload, spawn_worker, wait_for
from tests.twilio_signing import new_sid


async def test_the_app_runs_the_worker_and_console_messages_are_sent_promptly(
    settings: Settings,
) -> None:
    settings = settings.with_overrides(outbox_enabled=True, outbox_poll_seconds=0.05)
    await reset_database(settings.database_url)
    app = create_app(settings)
    worker = app.extensions["smsbank"].outbox
    assert isinstance(worker, OutboxWorker)
    async with app.test_app():
        message = await enqueue_sms(settings, to="+15550109999", body="hi", template="t")
        await wait_for(lambda: _has_status(message, OutboundStatus.SENT))
    assert worker.passes > 0


async def test_the_app_worker_delivers_through_twilio(
    twilio_settings: Settings, fake: FakeTwilio
) -> None:
    settings = twilio_settings.with_overrides(outbox_enabled=True, outbox_poll_seconds=0.05)
    await reset_database(settings.database_url)
    app = create_app(settings)
    async with app.test_app():
        message = await enqueue_sms(settings, to="+15550109998", body="hello", template="t")
        app.extensions["smsbank"].outbox.wake()
        await wait_for(lambda: _has_status(message, OutboundStatus.SENT))
    assert [r.body for r in fake.accepted] == ["hello"]


async def test_no_worker_when_the_outbox_is_disabled(settings: Settings) -> None:
    assert not settings.outbox_enabled
    assert create_app(settings).extensions["smsbank"].outbox is None


async def _has_status(message: OutboundMessage, status: OutboundStatus) -> bool:
    return (await reload(message)).status == status


# -- replies handed over by the SMS batch --------------------------------------------

# Only the pass at start-up runs: whatever is sent later was handed over, not claimed.
NO_MORE_PASSES = 3600.0


async def _replies_to(phone: str) -> list[OutboundMessage]:
    return await OutboundMessage.filter(to_phone=phone).order_by("id")


async def text(services: Any, settings: Settings, phone: str, body: str) -> Result:
    """A text from `phone`, handled as the running app's SMS webhook hands it on."""
    sms = InboundSms(new_sid(), phone, "+15550001111", body)
    return await handle_inbound_sms(settings, sms, services.inbound_batch)


@asynccontextmanager
async def app_past_its_first_pass(settings: Settings) -> AsyncIterator[tuple[Any, Any, Settings]]:
    """The app serving with its outbox worker, whose next claiming pass is an hour away:
    (the started app, its services, its settings)."""
    settings = settings.with_overrides(outbox_enabled=True, outbox_poll_seconds=NO_MORE_PASSES)
    await reset_database(settings.database_url)
    app = create_app(settings)
    services = app.extensions["smsbank"]
    async with app.test_app() as test_app:
        await wait_for(_worker_passed(services.outbox))
        yield test_app, services, settings


async def test_a_batched_reply_is_sent_at_once_without_a_claiming_pass(
    settings: Settings, make_customer: Any
) -> None:
    async with app_past_its_first_pass(settings) as (_, services, settings):
        customer = await make_customer()
        result = await text(services, settings, customer.phone, "BAL")
        assert result.handled == Handled.PROCESSED
        [reply] = await wait_for(_sent_replies(customer.phone), within=5)
        assert reply.body == result.replies[0]
        assert reply.attempts == 1 and reply.claimed_by is None and reply.provider_sid
        assert services.outbox.passes == 1


async def test_what_was_handed_over_as_the_worker_stops_is_still_sent(
    settings: Settings, db: None
) -> None:
    settings = settings.with_overrides(outbox_enabled=True, outbox_poll_seconds=NO_MORE_PASSES)
    worker = OutboxWorker(settings)
    await worker.start()
    await wait_for(_worker_passed(worker))
    message = await enqueue_sms(settings, to="+15550109997", body="hi", template="t")
    claimed = await claim_due(settings, worker.worker_id, 10)
    # Handed over and told to stop in the same turn of the loop: the worker's loop never
    # runs again, so only its last act, sending what it holds, can send this.
    worker.hand_over(claimed)
    await worker.stop()
    stored = await reload(message)
    assert (stored.status, stored.attempts) == (OutboundStatus.SENT, 1)


class SlowConsole(ConsoleBackend):
    """The console backend taking 20 ms a send, counting how many are in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0

    async def send_sms(self, to: str, from_: str, body: str, status_callback: str) -> str:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.02)
            return await super().send_sms(to, from_, body, status_callback)
        finally:
            self.in_flight -= 1


async def test_a_burst_handed_over_is_sent_a_batch_at_a_time(settings: Settings, db: None) -> None:
    settings = settings.with_overrides(
        outbox_enabled=True, outbox_poll_seconds=NO_MORE_PASSES, outbox_batch_size=10
    )
    backend = SlowConsole()
    worker = OutboxWorker(settings, backend)
    await worker.start()
    try:
        await wait_for(_worker_passed(worker))
        for index in range(45):
            await enqueue_sms(settings, to=f"+1555010{index:04d}", body="hi", template="t")
        worker.hand_over(await claim_due(settings, worker.worker_id, 100))

        async def all_sent() -> bool:
            return await OutboundMessage.filter(status=OutboundStatus.SENT).count() == 45

        await wait_for(all_sent)
    finally:
        await worker.stop()
    assert backend.most_in_flight == 10


class HangingConsole(ConsoleBackend):
    """The console backend with a send that never returns (a provider that hangs)."""

    def __init__(self) -> None:
        self.sends = 0

    async def send_sms(self, to: str, from_: str, body: str, status_callback: str) -> str:
        self.sends += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_stop_that_cuts_a_send_short_queues_the_message_again(
    settings: Settings, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_worker, "STOP_GRACE_SECONDS", 0.2)
    settings = settings.with_overrides(outbox_enabled=True, outbox_poll_seconds=NO_MORE_PASSES)
    backend = HangingConsole()
    worker = OutboxWorker(settings, backend)
    await worker.start()
    await wait_for(_worker_passed(worker))
    message = await enqueue_sms(settings, to="+15550109996", body="hi", template="t")
    worker.hand_over(await claim_due(settings, worker.worker_id, 10))

    async def sending() -> bool:
        return backend.sends == 1

    await wait_for(sending)
    await worker.stop()  # the send hangs past the grace: cut short
    stored = await reload(message)
    # Not left claimed by a worker that is gone (for 60 s): queued for the next one...
    assert (stored.status, stored.claimed_by, stored.attempts) == (OutboundStatus.QUEUED, None, 1)
    # ...which sends it at once.
    assert (await deliver_due(settings, ConsoleBackend())).sent == 1
    assert (await reload(message)).attempts == 2


async def test_what_the_full_path_queues_is_sent_without_waiting_for_the_poll(
    settings: Settings, make_customer: Any
) -> None:
    async with app_past_its_first_pass(settings) as (_, services, settings):
        customer = await make_customer(balance="100.00")
        # The face's embedding is not checked before the selfie.
        await Customer.filter(id=customer.id).update(face_embedding=b"enrolled", face_model="Dlib")
        # A withdrawal is no read-only command: the full path writes it, and its code is
        # queued by the withdrawal itself, not as a reply.
        result = await text(services, settings, customer.phone, "W 20")
        assert result.handled == Handled.PROCESSED
        [code_sms] = await wait_for(_sent_replies(customer.phone), within=5)
        [code] = re.findall(r"\b\d{6}\b", code_sms.body)
        # The code accepted, the capture link is queued the same way.
        await text(services, settings, customer.phone, code)
        replies = await wait_for(_sent_replies(customer.phone, at_least=2), within=5)
        assert "/c/" in replies[-1].body


async def test_a_message_queued_by_a_staff_call_is_sent_without_waiting_for_the_poll(
    settings: Settings, make_customer: Any, staff: dict[str, str]
) -> None:
    async with app_past_its_first_pass(settings) as (test_app, _, settings):
        customer = await make_customer()
        response = await test_app.test_client().post(
            f"/api/v1/customers/{customer.id}/enrolment-link", headers=staff
        )
        assert response.status_code == 202
        [link] = await wait_for(_sent_replies(customer.phone), within=5)
        assert "/c/" in link.body


async def test_replies_of_a_process_that_died_before_sending_them_are_reclaimed(
    settings: Settings, db: None, make_customer: Any
) -> None:
    """The process dies between the batch's commit and the hand-over: simulated by a
    worker that drops what it is handed (a real kill is tested with separate processes
    below, for rows claimed by a pass)."""
    settings = settings.with_overrides(outbox_enabled=True, outbox_poll_seconds=NO_MORE_PASSES)
    worker = OutboxWorker(settings)
    await worker.start()
    try:
        worker.hand_over = lambda claimed: None  # type: ignore[method-assign]
        batcher = InboundBatcher(settings, outbox=worker)
        customer = await make_customer()
        sms = InboundSms(new_sid(), customer.phone, "+15550001111", "BAL")
        assert (await handle_inbound_sms(settings, sms, batcher)).handled == Handled.PROCESSED
    finally:
        await worker.stop()
    [reply] = await _replies_to(customer.phone)
    assert (reply.status, reply.claimed_by, reply.attempts) == (
        OutboundStatus.SENDING,
        worker.worker_id,
        1,
    )
    backend = ConsoleBackend()
    # Another worker leaves it while the dead one's claim lasts...
    assert (await deliver_due(settings, backend)).claimed == 0
    # ...and sends it once the claim has run out.
    later = utcnow() + timedelta(seconds=CLAIM_SECONDS + 1)
    assert (await deliver_due(settings, backend, now=later)).sent == 1
    reply = await reload(reply)
    assert (reply.status, reply.attempts) == (OutboundStatus.SENT, 2)


def _worker_passed(worker: OutboxWorker) -> Any:
    async def passed() -> bool:
        return worker.passes >= 1

    return passed


def _sent_replies(phone: str, at_least: int = 1) -> Any:
    async def sent() -> list[OutboundMessage]:
        replies = await _replies_to(phone)
        if len(replies) >= at_least and all(r.status == OutboundStatus.SENT for r in replies):
            return replies
        return []

    return sent


# -- several processes -------------------------------------------------------------


async def test_two_worker_processes_send_each_message_exactly_once(
    shared_settings: Settings, fake: FakeTwilio, tmp_path: Path
) -> None:
    count = 100
    for number in range(count):
        await enqueue_sms(
            shared_settings, to="+15550110000", body=f"message {number}", template="t"
        )
    # A little latency per request keeps both workers busy at the same time.
    fake.delay = 0.02
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{n}" for n in range(2)]

    workers = [
        await spawn_worker(shared_settings, "--ready-file", str(flag), "--go-file", str(go))
        for flag in ready
    ]
    # Both connected and waiting before either starts: they really compete.
    await wait_for(lambda: _all_exist(ready), within=60)
    go.touch()
    outputs = await asyncio.wait_for(asyncio.gather(*(w.communicate() for w in workers)), 120)

    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr.decode()
    summaries = [json.loads(stdout.decode().strip().splitlines()[-1]) for stdout, _ in outputs]
    received = Counter(r.body for r in fake.requests)
    assert received == Counter(f"message {n}" for n in range(count))  # each once, none lost
    assert all(r.answered == 201 for r in fake.requests)
    assert sum(s["sent"] for s in summaries) == count
    # Both processes really competed for the rows (otherwise this proves nothing).
    assert all(s["sent"] > 0 for s in summaries), summaries
    stored = await OutboundMessage.all()
    assert {m.status for m in stored} == {OutboundStatus.SENT}
    assert {m.attempts for m in stored} == {1}
    assert {m.provider_sid for m in stored} == {r.sid for r in fake.requests}


async def test_a_worker_killed_mid_send_is_reclaimed_at_least_once(
    shared_settings: Settings, fake: FakeTwilio
) -> None:
    message = await enqueue_sms(shared_settings, to="+15550110001", body="code", template="t")
    fake.delay = 60  # Twilio hangs, so the worker is caught mid-send

    worker = await spawn_worker(shared_settings, "--mode", "once")
    await wait_for(lambda: _received(fake, 1), within=30)
    os.kill(worker.pid, signal.SIGKILL)
    await worker.wait()
    assert worker.returncode == -signal.SIGKILL

    claimed = await reload(message)
    assert claimed.status == OutboundStatus.SENDING and claimed.claimed_until is not None
    fake.delay = 0
    backend = TwilioBackend(shared_settings, timeout=5)
    try:
        # While the dead worker's claim lasts, nobody else takes the message...
        assert (await deliver_due(shared_settings, backend)).claimed == 0
        # ...and once it has run out, the next pass does.
        after = claimed.claimed_until + timedelta(seconds=1)
        result = await deliver_due(shared_settings, backend, now=after)
    finally:
        await backend.close()

    assert result.sent == 1
    stored = await reload(message)
    assert stored.status == OutboundStatus.SENT and stored.attempts == 2
    assert stored.claimed_by is None
    # Twilio saw it twice: the dead worker's request may have gone through. At-least-once.
    assert [r.body for r in fake.requests] == ["code", "code"]


async def _all_exist(paths: list[Path]) -> bool:
    return all(path.exists() for path in paths)


async def _received(fake: FakeTwilio, count: int) -> bool:
    return len(fake.requests) >= count
