"""Group commit for the SMS commands that only read: BAL, ME, HELP, and anything the
machine answers without acting (an unknown word, a code with nothing waiting for it).

Why
---
Most texts a bank receives ask for something and change nothing but the message log
and the outbox. Through the ORM each cost a transaction of its own and five statements
built by Tortoise (~150-190 us of Python each); under load the webhook spent most of
its time there (README, Benchmarks). Here such messages share one transaction of
hand-written SQL with every other one that arrived while the previous batch was being
written. Batches form by themselves: at low load a batch is one message and nothing
waits; under load a batch is whatever queued during one write.

How
---
`InboundBatcher.submit` queues a message (already parsed, and `batchable`) and waits.
One task drains the queue: it takes what is queued, up to `MAX_BATCH`, and in one
transaction, for each message in arrival order:

1. reads the sender's customer row with their conversation's state (one join);
2. counts the sender's messages in the last minute (the flood gate);
3. only when the sender is a customer, opted in, under the flood limit and idle (no
   withdrawal or number change waiting), inserts the inbound row (`ON CONFLICT
   (message_sid) DO NOTHING`: a MessageSid seen before is a duplicate and nothing is
   written for it), runs the conversation machine exactly as the full path does
   (`sms_service.run_machine`), and puts the replies in the outbox.

A message that does not meet step 3 is not written at all: `submit` returns None and
the caller runs the full path (`sms_service`), which handles it as it always has
(throttle, "not registered", opt-out silence, the pending request). So does every
message of a batch whose transaction fails for any reason: a batch can make the bank
faster, never different. A batch holds the same locks the full path would: on
PostgreSQL the senders' advisory locks (taken in sorted order, so two batches never
wait on each other in a cycle), on SQLite the write lock (BEGIN IMMEDIATE).

A batch never creates a conversation row: a customer without one is idle, and the full
path creates it the first time something changes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.transactions import in_transaction

from smsbank import sql
from smsbank.clock import utcnow
from smsbank.conversation import Event
from smsbank.models import (
    ConversationState,
    Customer,
    MessageChannel,
    OutboundStatus,
)
from smsbank.outbox import sender_address
from smsbank.settings import Settings
from smsbank.sms_service import (
    RATE_WINDOW,
    Handled,
    InboundSms,
    Result,
    Turn,
    over_flood_limit,
    run_machine,
    serialize_senders,
    storable_body,
)

log = logging.getLogger("smsbank.sms.batch")

# Enough to amortise a transaction; small enough that one batch holds the write lock
# (and the event loop, on SQLite: ~0.1 ms a message) for under ~10 ms.
MAX_BATCH = 64
STOP_GRACE_SECONDS = 5.0

# In the SQL both databases accept (see smsbank/sql.py).
SENDER_SQL = """
SELECT c.*, v.state AS conversation_state
FROM customer c LEFT JOIN conversation v ON v.customer_id = c.id
WHERE c.phone = ?
"""
RECENT_SQL = """
SELECT COUNT(*) AS recent FROM inbound_message WHERE from_phone = ? AND created_at >= ?
"""
INSERT_INBOUND_SQL = """
INSERT INTO inbound_message (message_sid, channel, from_phone, to_phone, body, customer_id,
    created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (message_sid) DO NOTHING
RETURNING id
"""
INSERT_OUTBOUND_SQL = """
INSERT INTO outbound_message (channel, to_phone, from_phone, body, template, customer_id,
    status, attempts, next_attempt_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
"""


@dataclass
class _Queued:
    sms: InboundSms
    event: Event
    answer: asyncio.Future[Result | None]


class InboundBatcher:
    """Queues read-only SMS commands and writes them a batch per transaction.

    One per app process (it is a component of the app: `stop` lets the last batch
    finish). See the module docstring.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queue: list[_Queued] = []
        self._drain_task: asyncio.Task[None] | None = None
        # For tests and the curious: transactions committed, messages decided in them.
        self.batches = 0
        self.decided = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        """Let the batch being written finish (it holds requests waiting for it)."""
        if self._drain_task is not None:
            await asyncio.wait({self._drain_task}, timeout=STOP_GRACE_SECONDS)

    async def submit(self, sms: InboundSms, event: Event) -> Result | None:
        """The message's result once its batch committed, or None: not written, take
        the full path."""
        loop = asyncio.get_running_loop()
        queued = _Queued(sms, event, loop.create_future())
        self._queue.append(queued)
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = loop.create_task(self._drain(), name="sms-batch")
        return await queued.answer

    async def _drain(self) -> None:
        batch: list[_Queued] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                results: list[Result | None]
                try:
                    results = await self._write(batch)
                    self.batches += 1
                    self.decided += sum(result is not None for result in results)
                except (DBConnectionError, OperationalError, ConnectionError) as exc:
                    # Each message tries alone, and answers 503 if the database is away.
                    log.warning("sms batch not written", extra={"error": str(exc)})
                    results = [None] * len(batch)
                except Exception:
                    # A bug here must not lose or change a message: the full path takes
                    # every one of them, and the traceback goes to the log.
                    log.exception("sms batch failed; its messages take the full path")
                    results = [None] * len(batch)
                for queued, result in zip(batch, results, strict=True):
                    _answer(queued, result)
                batch = []
                if None in results:
                    # Let the messages handed back queue for the database before the
                    # next batch does, so one number's texts stay in order.
                    await asyncio.sleep(0)
        finally:
            for queued in batch + self._queue:  # cancelled mid-batch: nothing committed
                _answer(queued, None)
            self._queue = []
            self._drain_task = None

    async def _write(self, batch: list[_Queued]) -> list[Result | None]:
        async with in_transaction() as connection:
            await serialize_senders(connection, [queued.sms.from_phone for queued in batch])
            return [await self._write_one(connection, queued) for queued in batch]

    async def _write_one(self, connection: BaseDBAsyncClient, queued: _Queued) -> Result | None:
        sms, now = queued.sms, utcnow()
        rows = await sql.fetch(connection, SENDER_SQL, [sms.from_phone])
        if not rows:
            return None  # not a customer
        row = rows[0]
        idle = row["conversation_state"] in (None, ConversationState.IDLE.value)
        if row["sms_opted_out"] or not idle:
            return None
        counted = await sql.fetch(connection, RECENT_SQL, [sms.from_phone, now - RATE_WINDOW])
        if over_flood_limit(self.settings, counted[0]["recent"] + 1):  # + 1: this one
            return None  # this one would be over the limit: the full path throttles it
        inserted = await sql.fetch(
            connection,
            INSERT_INBOUND_SQL,
            [
                sms.message_sid,
                MessageChannel.SMS.value,
                sms.from_phone,
                sms.to_phone,
                storable_body(sms.body),
                row["id"],
                now,
            ],
        )
        if not inserted:
            return Result(Handled.DUPLICATE)
        del row["conversation_state"]  # the rest is the customer row, as Tortoise reads it
        turn = Turn(Customer._init_from_db(**row), ConversationState.IDLE, None, None, None)
        await run_machine(self.settings, turn, queued.event)
        if turn.state != ConversationState.IDLE:
            # `batchable` promised otherwise; the batch rolls back and the full path runs.
            raise RuntimeError(f"{queued.event.kind} left the idle state in a batch")
        for template, text in turn.replies:
            await sql.execute(
                connection,
                INSERT_OUTBOUND_SQL,
                [
                    MessageChannel.SMS.value,
                    turn.customer.phone,
                    sender_address(self.settings),
                    text,
                    template,
                    row["id"],
                    OutboundStatus.QUEUED.value,
                    now,
                    now,
                    now,
                ],
            )
        return Result(Handled.PROCESSED, [text for _, text in turn.replies], turn.state)


def _answer(queued: _Queued, result: Result | None) -> None:
    if not queued.answer.done():  # its request may have been cancelled meanwhile
        queued.answer.set_result(result)
