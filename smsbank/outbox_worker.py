"""Delivering the outbox: claim due messages, send them, record what happened.

Theory of operation
-------------------
Every SMS and call is first a row of `outbound_message` (see `smsbank.outbox`), written
in the transaction of the change that caused it. Workers, one per app process and any
number of processes or hosts sharing the database, repeat one pass (`deliver_due`):

1. **Claim.** A row is due when it is `queued` and its `next_attempt_at` has come, or
   when it is `sending` but its claim ran out (`claimed_until` passed: the worker that
   claimed it died mid-send). Claiming sets `sending`, `claimed_by`, `claimed_until`
   (now + `CLAIM_SECONDS`) and counts the attempt. On PostgreSQL the due rows are
   locked with `SELECT ... FOR UPDATE SKIP LOCKED` inside a transaction, so concurrent
   workers take disjoint rows without waiting for each other. SQLite has a single
   writer, so one `UPDATE ... WHERE id IN (SELECT <due> ... LIMIT n)` is enough: the
   statement runs whole under the write lock, and of two workers racing for a row
   exactly one changes it (the other's subquery no longer finds it due).
2. **Send** through the backend (`smsbank.sms_backends`), concurrently within a batch,
   each send bounded by the backend's timeout (far shorter than the claim).
3. **Record.** Accepted: `sent` with the provider's sid (a pass records all its
   accepted messages in one statement, once its sends have returned). Retryable error
   (network, timeout, Twilio 5xx or 429): back to `queued` with `next_attempt_at`
   pushed out by exponential backoff with jitter, or `failed` once
   `outbox_max_attempts` attempts were made. Permanent error (other 4xx): `failed` at
   once. `last_error` keeps the reason (phone numbers masked).

Guarantee: **at-least-once**. A message is never lost: it stays in the table until a
provider accepted it or the attempts ran out. It can be sent twice when a worker dies
(or its request times out) after the provider took the message but before the row was
marked sent; the claim then runs out and another worker sends it again. Twilio's status
callback carries the outbox id (`?outbox_id=`), so a callback that arrives before the
worker recorded the sid still finds its row and settles it.

Opted-out customers' messages are stored `suppressed` and never claimed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise import connections
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.transactions import in_transaction

from smsbank import calls, metrics, sql
from smsbank.clock import utcnow
from smsbank.i18n import DEFAULT_LANGUAGE
from smsbank.models import MessageChannel, OutboundMessage, OutboundStatus
from smsbank.outbox import CLAIMED_COLUMNS, Claimed, scrub, scrub_sent
from smsbank.phones import mask_phone
from smsbank.settings import Settings
from smsbank.sms_backends import SendError, SmsBackend, build_backend

log = logging.getLogger("smsbank.outbox")

# How long a claim lasts. It must outlive a whole batch of sends (each bounded by the
# backend's 15 s timeout, sent concurrently); after it a dead worker's rows are reclaimed.
CLAIM_SECONDS = 60.0
# The longest wait between two attempts, whatever the attempt number.
MAX_BACKOFF_SECONDS = 900.0
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"

# The claim, in hand-written SQL (smsbank/sql.py): it runs for every pass. Due: queued
# and its time has come, or sending with its claim run out (its worker died). Each kind
# is read in the order of the (status, next_attempt_at) index and stops at the limit;
# one `WHERE (queued...) OR (sending...)` read every due row and sorted them all, a
# cost that grew with the backlog (300-700 rows under the benchmark's load). It returns
# what sending a row needs, not the timestamps, whose parsing cost more than the claim.
# SQLite: one statement, so one write lock; it runs whole before any other writer
# (another worker, another process), and the rows it changes are no longer due.
CLAIM_SQLITE_SQL = f"""
UPDATE outbound_message
SET status = ?, claimed_by = ?, claimed_until = ?, attempts = attempts + 1, updated_at = ?
WHERE id IN (
    SELECT id FROM (
        SELECT id, next_attempt_at FROM (
            SELECT id, next_attempt_at FROM outbound_message
            WHERE status = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?
        )
        UNION ALL
        SELECT id, next_attempt_at FROM (
            SELECT id, next_attempt_at FROM outbound_message
            WHERE status = ? AND claimed_until < ? ORDER BY next_attempt_at, id LIMIT ?
        )
    ) ORDER BY next_attempt_at, id LIMIT ?
)
RETURNING {CLAIMED_COLUMNS}
"""  # noqa: S608 (a constant column list; every value is bound)
# PostgreSQL: the due rows are locked first, skipping rows another worker is claiming,
# so concurrent workers take disjoint rows without waiting (MATERIALIZED: each locking
# select runs once, whatever the plan; PostgreSQL allows no FOR UPDATE in a UNION).
# Up to twice the limit are locked for the statement's short transaction and only the
# earliest `limit` claimed: a worker claiming at that moment skips the others, which
# stay queued for the next pass.
CLAIM_POSTGRES_SQL = f"""
WITH queued AS MATERIALIZED (
    SELECT id, next_attempt_at FROM outbound_message
    WHERE status = ? AND next_attempt_at <= ?
    ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED
), abandoned AS MATERIALIZED (
    SELECT id, next_attempt_at FROM outbound_message
    WHERE status = ? AND claimed_until < ?
    ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED
)
UPDATE outbound_message
SET status = ?, claimed_by = ?, claimed_until = ?, attempts = attempts + 1, updated_at = ?
WHERE id IN (
    SELECT id FROM (SELECT * FROM queued UNION ALL SELECT * FROM abandoned) AS due
    ORDER BY next_attempt_at, id LIMIT ?
)
RETURNING {CLAIMED_COLUMNS}
"""  # noqa: S608 (a constant column list; every value is bound)
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


def status_callback_url(settings: Settings, message_id: int) -> str:
    """Where Twilio reports delivery of this message; the id finds the row even before
    the worker has stored the provider's sid."""
    return f"{settings.base_url}{STATUS_CALLBACK_PATH}?outbox_id={message_id}"


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """The wait after failed attempt number `attempt` (1-based): doubling, capped, jittered.

    Jitter keeps workers (and banks) that failed together from retrying together: the
    wait is drawn uniformly from the upper half of the doubled delay.
    """
    delay = min(settings.outbox_backoff_seconds * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)
    return delay * random.uniform(0.5, 1.0)


async def claim_due(
    settings: Settings,
    worker_id: str,
    limit: int,
    *,
    now: datetime | None = None,
    claim_seconds: float = CLAIM_SECONDS,
) -> list[Claimed]:
    """Claim up to `limit` due messages for `worker_id`; no other worker gets them."""
    now = now or utcnow()
    queued = [OutboundStatus.QUEUED.value, now, limit]
    abandoned = [OutboundStatus.SENDING.value, now, limit]
    claim = [
        OutboundStatus.SENDING.value,
        worker_id,
        now + timedelta(seconds=claim_seconds),
        now,
    ]
    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":
        rows = await sql.fetch(connection, CLAIM_SQLITE_SQL, [*claim, *queued, *abandoned, limit])
    else:
        async with in_transaction() as transaction:
            values = [*queued, *abandoned, *claim, limit]
            rows = await sql.fetch(transaction, CLAIM_POSTGRES_SQL, values)
    return sorted(map(Claimed.from_row, rows), key=lambda message: message.id)


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
        await asyncio.shield(_record_sent(backend, accepted, now))
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
            counter = await _record_failure(settings, message, worker_id, failure, now)
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
        return await _record_failure(settings, message, worker_id, failure, now)
    if message.secret_dead(now or utcnow()):
        # A code or link that no longer works (a retry or a reclaim came too late), or a
        # body scrubbed already: never send a dead code, nor a masked text.
        failure = SendError("its code or link expired before it could be sent", retryable=False)
        return await _record_failure(settings, message, worker_id, failure, now)
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
        return await _record_failure(settings, message, worker_id, exc, now)
    return Accepted(sid)


async def _record_sent(
    backend: SmsBackend, accepted: list[tuple[Claimed, str]], now: datetime | None
) -> None:
    """Mark a pass's accepted messages `sent`, each with its provider sid, in one
    statement (one per message cost more than the rest of the pass together)."""
    if not accepted:
        return
    sent_at = now or utcnow()
    # Any pending state gives way to "the provider has it"; a status callback may already
    # have moved a row further (sent/delivered), and then there is nothing to do for it.
    # The rows are found by id: `coalesce` (status is never NULL) keeps SQLite's planner
    # off the (status, next_attempt_at) index, which it otherwise chose, reading every
    # queued and sending row to find the pass's few (35 us a message under load).
    whens = " ".join(["WHEN ? THEN ?"] * len(accepted))
    ids = sql.placeholders(len(accepted))
    recorded = await sql.execute(
        connections.get("default"),
        # Only placeholders are formatted into the text; every value is bound.
        f"UPDATE outbound_message SET status = ?, provider_sid = CASE id {whens} END,"  # noqa: S608
        " sent_at = ?, last_error = NULL, claimed_by = NULL, claimed_until = NULL,"
        f" updated_at = ? WHERE id IN ({ids}) AND coalesce(status, '') IN (?, ?)",
        [
            OutboundStatus.SENT.value,
            *(value for message, sid in accepted for value in (message.id, sid)),
            sent_at,
            sent_at,
            *(message.id for message, _ in accepted),
            OutboundStatus.QUEUED.value,
            OutboundStatus.SENDING.value,
        ],
    )
    if backend.scrubs_when_sent:
        # The provider has the text: the stored copy need not keep its secret. (The
        # console backend's texts are read by the dev phone, from this table, until
        # their secret expires; the expiry sweep scrubs them then.)
        await scrub_sent(
            {m.id: m.body for m, _ in accepted if m.secret_expires_at is not None}, now=now
        )
    for message, sid in accepted:
        metrics.count_sent(message.channel.value)
        log.info(
            "outbox sent",
            extra={**_log_fields(message), "provider_sid": sid, "backend": backend.name},
        )
    if recorded < len(accepted):
        log.info(
            "outbox sent: status callbacks came first",
            extra={"already_settled": len(accepted) - recorded},
        )


def _log_fields(message: Claimed) -> dict[str, object]:
    """What every log line about one message's delivery says of it (number masked)."""
    return {
        "outbox_id": message.id,
        "channel": message.channel.value,
        "to": mask_phone(message.to_phone),
        "template": message.template,
        "attempt": message.attempts,
    }


async def _record_failure(
    settings: Settings,
    message: Claimed,
    worker_id: str,
    error: SendError,
    now: datetime | None,
) -> str:
    moment = now or utcnow()
    give_up = not error.retryable or message.attempts >= settings.outbox_max_attempts
    changes: dict[str, object] = {
        "last_error": error.message[:500],
        "claimed_by": None,
        "claimed_until": None,
        "updated_at": moment,
    }
    if give_up:
        changes["status"] = OutboundStatus.FAILED
        if message.secret_expires_at is not None:  # never to be sent: keep no secret
            changes |= {
                "body": scrub(message.body),
                "secret_expires_at": None,
                "scrubbed_at": moment,
            }
    else:
        changes["status"] = OutboundStatus.QUEUED
        changes["next_attempt_at"] = moment + timedelta(
            seconds=backoff_seconds(settings, message.attempts)
        )
    # Only while we still hold the claim: if it ran out and another worker took the row
    # (and perhaps sent it), our failure must not overwrite its outcome.
    await OutboundMessage.filter(
        id=message.id, status=OutboundStatus.SENDING, claimed_by=worker_id
    ).update(**changes)
    metrics.count_send_failure(message.channel.value, "failed" if give_up else "retry")
    log.warning(
        "outbox failed" if give_up else "outbox will retry",
        extra={
            **_log_fields(message),
            "error": error.message,
            "retry_at": None if give_up else str(changes["next_attempt_at"]),
        },
    )
    return "failed" if give_up else "retrying"


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


# -- the provider's reports ------------------------------------------------

# Twilio's message and call statuses, as our outbox states.
PROVIDER_STATUSES: dict[str, OutboundStatus] = {
    # messages
    "accepted": OutboundStatus.SENT,
    "scheduled": OutboundStatus.SENT,
    "queued": OutboundStatus.SENT,
    "sending": OutboundStatus.SENT,
    "sent": OutboundStatus.SENT,
    "delivered": OutboundStatus.DELIVERED,
    "read": OutboundStatus.DELIVERED,
    "undelivered": OutboundStatus.UNDELIVERED,
    "failed": OutboundStatus.FAILED,
    "canceled": OutboundStatus.FAILED,
    # calls
    "initiated": OutboundStatus.SENT,
    "ringing": OutboundStatus.SENT,
    "in-progress": OutboundStatus.SENT,
    "answered": OutboundStatus.SENT,
    "completed": OutboundStatus.DELIVERED,
    "busy": OutboundStatus.UNDELIVERED,
    "no-answer": OutboundStatus.UNDELIVERED,
}

# How far along a message is. A report only ever moves a message forward: callbacks
# arrive out of order, and a late "sent" must not undo "delivered". Suppressed messages
# were never sent, so nothing moves them.
_RANK: dict[OutboundStatus, int] = {
    OutboundStatus.QUEUED: 0,
    OutboundStatus.SENDING: 0,
    OutboundStatus.SENT: 1,
    OutboundStatus.UNDELIVERED: 2,
    OutboundStatus.FAILED: 2,
    OutboundStatus.DELIVERED: 3,
}


@dataclass(frozen=True)
class StatusReport:
    """A provider's report about one message: what it says and what we did with it."""

    outcome: str  # "updated", "unchanged" (not a step forward), "unknown" (no such message)
    status: OutboundStatus | None = None


async def record_provider_status(
    provider_sid: str,
    provider_status: str,
    *,
    outbox_id: int | None = None,
    error_code: str = "",
) -> StatusReport:
    """Apply a status callback: move the message with this sid forward, never back.

    `outbox_id` (from the callback URL) finds the message by its key, and also when its
    sid is not recorded yet: the callback beat the worker, or the worker died after the
    provider took it. That row is settled here, so it is not sent a second time when
    its claim runs out. Without `outbox_id` the sid alone finds it.
    """
    new = PROVIDER_STATUSES.get(provider_status.strip().lower())
    if new is None:
        raise ValueError(f"unknown status {provider_status!r}")
    behind = [status for status, rank in _RANK.items() if rank < _RANK[new]]
    now = utcnow()
    changes: dict[str, object] = {"status": new, "updated_at": now}
    if new in (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED):
        changes["last_error"] = f"Twilio reported {provider_status}" + (
            f", error {error_code}" if error_code else ""
        )
    # The row is found by its key when the URL names it, as every callback we ask for
    # does: provider_sid has no index. A callback without it (one set up in Twilio's
    # console, say) is matched by sid alone, reading the table.
    this_sid = OutboundMessage.filter(provider_sid=provider_sid)
    if outbox_id is not None:
        this_sid = this_sid.filter(id=outbox_id)
    updated = await this_sid.filter(status__in=behind).update(**changes)
    if not updated and outbox_id is not None:
        changes |= {
            "provider_sid": provider_sid,
            "sent_at": now,
            "claimed_by": None,
            "claimed_until": None,
        }
        updated = await OutboundMessage.filter(
            id=outbox_id, provider_sid__isnull=True, status__in=behind
        ).update(**changes)
    if updated:
        return StatusReport("updated", new)
    current = await this_sid.first()
    if current is None and outbox_id is not None:
        # Not a step forward for a row the worker had not recorded the sid of yet.
        current = await OutboundMessage.filter(id=outbox_id, provider_sid__isnull=True).first()
    if current is None:
        return StatusReport("unknown")
    return StatusReport("unchanged", current.status)
