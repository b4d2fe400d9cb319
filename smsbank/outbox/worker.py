"""Delivering the outbox: one pass claims due rows, sends them and records what
happened (`deliver_due`); `OutboxWorker` runs passes while the app serves and sends at
once what it is handed. The design is in the package docstring (`smsbank.outbox`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import DBConnectionError, OperationalError

from smsbank import calls
from smsbank.clock import utcnow
from smsbank.i18n import DEFAULT_LANGUAGE
from smsbank.models import MessageChannel, OutboundMessage, OutboundStatus
from smsbank.outbox.claims import (
    CLAIM_SECONDS,
    Claimed,
    claim_due,
    record_failure,
    record_sent,
)
from smsbank.outbox.status import status_callback_url
from smsbank.phones import mask_phone
from smsbank.settings import Settings
from smsbank.sms_backends import SendError, SmsBackend, build_backend

log = logging.getLogger("smsbank.outbox")

# How long `stop()` lets an in-flight pass finish before cancelling it; the rows it
# then still holds are queued again (`OutboxWorker._release_claims`).
STOP_GRACE_SECONDS = 5.0


@dataclass
class PassResult:
    """What one `deliver_due` pass did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def new_worker_id() -> str:
    """Names the claimant in `claimed_by`: which host and process holds a row."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


async def deliver_due(
    settings: Settings,
    backend: SmsBackend,
    limit: int | None = None,
    *,
    worker_id: str | None = None,
    now: datetime | None = None,
    claim_seconds: float = CLAIM_SECONDS,
) -> PassResult:
    """One pass: claim due messages and deliver them. Tests and the CLI call it directly.

    `now` lets a test stand at a later moment (a retry's time has come, a claim has run
    out) without sleeping.
    """
    worker_id = worker_id or new_worker_id()
    claimed = await claim_due(
        settings,
        worker_id,
        limit or settings.outbox_batch_size,
        now=now,
        claim_seconds=claim_seconds,
    )
    return await deliver_claimed(settings, backend, claimed, worker_id, now)


async def deliver_claimed(
    settings: Settings,
    backend: SmsBackend,
    claimed: list[Claimed],
    worker_id: str,
    now: datetime | None = None,
) -> PassResult:
    """Send messages `worker_id` holds the claim on, and record what became of each."""
    result = PassResult(claimed=len(claimed))
    if not claimed:
        return result
    sends = [
        asyncio.ensure_future(_send_one(settings, backend, message, worker_id, now))
        for message in claimed
    ]
    try:
        await asyncio.wait(sends)
    finally:
        # Whatever stops the pass (stop() cancelling it, a database error), what the
        # provider already took is recorded: left `sending`, it would be sent again
        # once the claim ran out. Sends still running are given up (and reclaimed).
        for send in sends:
            if not send.done():
                send.cancel()
        taken = [_accepted(send) for send in sends]
        accepted = [
            (message, took.provider_sid)
            for message, took in zip(claimed, taken, strict=True)
            if took is not None
        ]
        await asyncio.shield(record_sent(backend, accepted, now))
    result.sent = len(accepted)
    for message, send, took in zip(claimed, sends, taken, strict=True):
        if took is not None:
            continue
        error = send.exception()
        if error is not None:
            if not isinstance(error, Exception):
                raise error  # cancellation and the like: stop the pass
            # A bug (in a backend or here) must not leave the row claimed forever or
            # stop the other messages: log it in full and treat it as a retryable failure.
            log.error(
                "outbox delivery crashed",
                exc_info=error,
                extra={"outbox_id": message.id, "to": mask_phone(message.to_phone)},
            )
            failure = SendError(f"internal error: {type(error).__name__}", retryable=True)
            counter = await record_failure(settings, message, worker_id, failure, now)
        else:
            outcome = send.result()
            assert isinstance(outcome, str)  # not Accepted: a failure already recorded
            counter = outcome
        setattr(result, counter, getattr(result, counter) + 1)
    return result


def _accepted(send: asyncio.Future[Accepted | str]) -> Accepted | None:
    """The provider's acceptance, if this send finished with one."""
    if not send.done() or send.cancelled() or send.exception() is not None:
        return None
    outcome = send.result()
    return outcome if isinstance(outcome, Accepted) else None


async def _call_language(message_id: int) -> str:
    """The language a call speaks: its customer's (calls are few; texts need no look-up,
    their words are already in it)."""
    languages = await OutboundMessage.filter(id=message_id).values_list(
        "customer__language", flat=True
    )
    return str(languages[0] or DEFAULT_LANGUAGE) if languages else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Accepted:
    """The provider took the message; `provider_sid` is its id for it."""

    provider_sid: str


async def _send_one(
    settings: Settings,
    backend: SmsBackend,
    message: Claimed,
    worker_id: str,
    now: datetime | None,
) -> Accepted | str:
    """Send one claimed message: `Accepted`, or the `PassResult` counter of its failure
    (recorded already)."""
    if message.attempts > settings.outbox_max_attempts:
        # Only a reclaimed row gets here: its earlier claimants died mid-send every time.
        failure = SendError(
            f"gave up after {message.attempts - 1} attempts (interrupted sends)", retryable=False
        )
        return await record_failure(settings, message, worker_id, failure, now)
    if message.secret_dead(now or utcnow()):
        # A code or link that no longer works (a retry or a reclaim came too late), or a
        # body scrubbed already: never send a dead code, nor a masked text.
        failure = SendError("its code or link expired before it could be sent", retryable=False)
        return await record_failure(settings, message, worker_id, failure, now)
    callback = status_callback_url(settings, message.id)
    try:
        if message.channel == MessageChannel.VOICE:
            # A call-back offers the voice menu; its key press names this very call.
            menu_url = (
                calls.callback_menu_url(settings, message.id)
                if message.template == calls.CALLBACK_TEMPLATE
                else None
            )
            sid = await backend.place_call(
                message.to_phone,
                message.from_phone,
                message.body,
                callback,
                await _call_language(message.id),
                menu_url,
            )
        else:
            sid = await backend.send_sms(
                message.to_phone, message.from_phone, message.body, callback
            )
    except SendError as exc:
        return await record_failure(settings, message, worker_id, exc, now)
    return Accepted(sid)


class OutboxWorker:
    """The background component that delivers the outbox while the app serves.

    One per app process. It sends what is handed to it (`hand_over`: rows this process
    wrote already claimed for it, sent at once) and runs `deliver_due` passes for the
    rest: every `outbox_poll_seconds`, at once after a full batch (a backlog drains at
    full speed), or when `wake()` is called.
    """

    def __init__(
        self,
        settings: Settings,
        backend: SmsBackend | None = None,
        *,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        self.settings = settings
        self.worker_id = new_worker_id()
        self.claim_seconds = claim_seconds
        self._backend = backend
        self._owns_backend = backend is None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._handed: list[Claimed] = []
        self._next_pass = 0.0  # loop time of the next claiming pass
        self._not_before = 0.0  # after a failed pass: no other before this, woken or not
        self.passes = 0

    @property
    def backend(self) -> SmsBackend:
        if self._backend is None:
            raise RuntimeError("the outbox worker has not started")
        return self._backend

    @property
    def accepting(self) -> bool:
        """Whether rows claimed for this worker now will be sent by it (it is running)."""
        return self._task is not None and not self._stopping.is_set()

    async def start(self) -> None:
        if self._backend is None:
            # Built here, not in __init__: the HTTP session must belong to the serving loop.
            self._backend = build_backend(self.settings)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._handed = []
        self._task = asyncio.create_task(self._run(), name="outbox-worker")
        log.info(
            "outbox worker started",
            extra={"worker": self.worker_id, "backend": self._backend.name},
        )

    def wake(self) -> None:
        """Start the next claiming pass now (e.g. right after something was enqueued)."""
        self._next_pass = 0.0
        self._wake.set()

    def hand_over(self, claimed: list[Claimed]) -> None:
        """Send these rows, committed already claimed for `worker_id`, without a claim.

        `stop()` sends them before it ends, or queues them again if it has to cut its
        work short; should the process die first, their claim runs out and any worker's
        pass takes them then, as for a worker that died mid-send.
        """
        self._handed += claimed
        self._wake.set()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
            if not done:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await self._release_claims()
        if self._owns_backend and self._backend is not None:
            await self._backend.close()
            self._backend = None
        log.info("outbox worker stopped", extra={"worker": self.worker_id})

    async def _release_claims(self) -> None:
        """Queue again, for any worker to send now, the rows a cut-short stop() left
        claimed by this one (a send that hung, what it was handed), rather than leave
        them until their claim runs out. One the provider took before the cut is sent
        twice, as it would be after the claim: at-least-once either way."""
        now = utcnow()
        try:
            released = await OutboundMessage.filter(
                claimed_by=self.worker_id, status=OutboundStatus.SENDING
            ).update(
                status=OutboundStatus.QUEUED,
                claimed_by=None,
                claimed_until=None,
                next_attempt_at=now,
                updated_at=now,
            )
        except (DBConnectionError, OperationalError, ConnectionError) as exc:
            log.warning("outbox claims not released at stop", extra={"error": str(exc)})
            return
        log.info("outbox claims released at stop", extra={"released": released})

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            # Cleared before the work, not after: a wake() meanwhile is not lost.
            self._wake.clear()
            await self._guarded(self._send_handed())
            if loop.time() >= self._pass_due():
                await self._guarded(self._claiming_pass())
            await self._sleep(self._pass_due() - loop.time())
        await self._guarded(self._send_handed())  # what was handed over before stop()

    def _pass_due(self) -> float:
        return max(self._next_pass, self._not_before)

    async def _send_handed(self) -> None:
        # At most a batch's worth at once, as a pass sends: a burst of hand-overs while
        # the provider is slow must not become hundreds of concurrent requests. What is
        # not sent yet stays here for the next turn (an error here ends this turn).
        size = self.settings.outbox_batch_size
        while self._handed:
            chunk, self._handed = self._handed[:size], self._handed[size:]
            await deliver_claimed(self.settings, self.backend, chunk, self.worker_id)

    async def _claiming_pass(self) -> None:
        loop = asyncio.get_running_loop()
        self._next_pass = loop.time() + self.settings.outbox_poll_seconds
        result = await deliver_due(
            self.settings, self.backend, worker_id=self.worker_id, claim_seconds=self.claim_seconds
        )
        self.passes += 1
        if result.claimed >= self.settings.outbox_batch_size:
            self._next_pass = 0.0

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except (DBConnectionError, OperationalError, ConnectionError) as exc:
            # The database is down or locked. Rows claimed for this worker stay claimed and
            # are taken again when their claim runs out; nothing is lost.
            log.warning("outbox pass skipped: database unavailable", extra={"error": str(exc)})
            self._backoff()
        except Exception:
            # The worker must outlive a bug in one pass (the app keeps serving and the
            # rows stay in the table); the traceback goes to the log in full.
            log.exception("outbox pass crashed")
            self._backoff()

    def _backoff(self) -> None:
        # Not undone by wake(): a pass that keeps failing is not retried on every text.
        loop = asyncio.get_running_loop()
        self._not_before = loop.time() + max(self.settings.outbox_poll_seconds, 2.0)

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass
