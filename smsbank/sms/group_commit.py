"""Group commit for the SMS commands that only read: BAL, ME, HELP, and anything the
machine answers without acting (an unknown word, a code with nothing waiting for it).

Why
---
Most texts a bank receives ask for something and change nothing but the message log
and the outbox. Through the ORM each costs a transaction of its own and five statements
built by Tortoise in Python; under load that is most of the webhook's time
(bench/README.md). Here such messages share one transaction of
hand-written SQL with every other one that arrived while the previous batch was being
written. At low load a batch is one message, written after a 1 ms window
(`BATCH_WINDOW_SECONDS`); under load a batch is whatever queued during that window
and the previous write.

How
---
`InboundBatcher.submit` queues a message (already parsed, and `batchable`) and waits.
One task drains the queue: it takes what is queued, up to `MAX_BATCH`, and in one
transaction of three statements whatever the batch's size (four on PostgreSQL, with
the senders' locks):

1. reads every sender's customer row with their conversation's state and their count of
   messages in the last minute (the flood gate), in one statement;
2. admits, in arrival order, the messages whose sender is a customer, opted in, idle (no
   withdrawal or number change waiting) and under the flood limit (counting the same
   number's earlier messages in the batch: `handle_inbound_sms` never puts two in one
   batch, see `in_order`, but `submit` itself does not rely on it);
3. inserts the admitted inbound rows in one statement (`ON CONFLICT (message_sid) DO
   NOTHING`: a MessageSid seen before is a duplicate and nothing is written for it);
4. runs the conversation machine for each new one exactly as the full path does
   (`turn.run_machine`), and puts all the replies in the outbox in one statement:
   already claimed for this process's outbox worker when it runs, which is handed them
   once the batch commits and sends them at once, with no claim of its own (the replies
   of a process that dies first are reclaimed by any worker when the claim runs out).

The statements are written for the batch, not a message: per-statement cost, not
SQLite's own work, is what a batch saves.

A message step 2 does not admit is not written at all: `submit` returns None and
the caller runs the one-message path (`one_message_path`), which handles it as it always has
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
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.transactions import in_transaction

from smsbank import sql
from smsbank.clock import utcnow
from smsbank.models import (
    ConversationState,
    Customer,
    MessageChannel,
    OutboundStatus,
)
from smsbank.outbox import sender_address
from smsbank.outbox.claims import CLAIMED_COLUMNS, Claimed, ClaimingWorker
from smsbank.settings import Settings
from smsbank.sms import gates
from smsbank.sms.conversation import Event
from smsbank.sms.inbound import Handled, InboundSms, Result, storable_body
from smsbank.sms.turn import Turn, run_machine

log = logging.getLogger("smsbank.sms.batch")

# Enough to amortise a transaction; small enough that one batch holds the write lock
# (and, on SQLite, the event loop) only briefly.
MAX_BATCH = 64
# How long a batch's first message waits for others to join it (group commit's delay,
# like PostgreSQL's commit_delay). On SQLite a batch is written without yielding to the
# event loop, so without it a batch would hold only the messages parsed in one turn of
# the loop, and the commit, paid per batch, would be a large share of its cost. Alone,
# a message waits this long: nothing next to Twilio's 15 s timeout.
BATCH_WINDOW_SECONDS = 0.001
STOP_GRACE_SECONDS = 5.0
# A sender without a conversation row is idle: the full path creates it when needed.
IDLE_STATES = (None, ConversationState.IDLE.value)

# In the SQL both databases accept (see smsbank/sql.py); `{...}` are runs of `?` only.
# The senders, with their conversation's state and their messages of the last minute
# (the flood gate's count, `smsbank.sms.gates`), for the whole batch in one statement.
# Of the customer row, what the batch and a read-only reply use: the timestamps, which
# no reply shows, are left out, so none is parsed. Tortoise reads such a row as a
# partial model, which it refuses to save.
SENDERS_SQL = (
    """
SELECT c.id, c.name, c.phone, c.account_number, c.balance_minor, c.currency, c.status,
    c.face_embedding, c.face_model, c.face_failures, c.face_locked, c.sms_opted_out, c.language,
    v.state AS conversation_state, """
    + gates.RECENT_FROM_SQL.format(phone="c.phone")
    + """ AS recent
FROM customer c LEFT JOIN conversation v ON v.customer_id = c.id
WHERE c.phone IN ({phones})
"""
)
INSERT_INBOUND_SQL = """
INSERT INTO inbound_message (message_sid, channel, from_phone, to_phone, body, customer_id,
    created_at)
VALUES {rows}
ON CONFLICT (message_sid) DO NOTHING
RETURNING message_sid
"""
INBOUND_COLUMNS = 7
INSERT_OUTBOUND_SQL = (
    """
INSERT INTO outbound_message (channel, to_phone, from_phone, body, template, customer_id,
    status, claimed_by, claimed_until, attempts, next_attempt_at, created_at, updated_at)
VALUES {rows}
RETURNING """
    + CLAIMED_COLUMNS
)
OUTBOUND_COLUMNS = 13


@dataclass
class _Queued:
    sms: InboundSms
    event: Event
    answer: asyncio.Future[Result | None]


@dataclass
class _NumberLine:
    """The texts of one number being handled: the one holding `lock`, and those waiting."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    texts: int = 0


class InboundBatcher:
    """Queues read-only SMS commands and writes them a batch per transaction.

    One per app process (it is a component of the app: `stop` lets the last batch
    finish). See the module docstring.
    """

    def __init__(self, settings: Settings, outbox: ClaimingWorker | None = None) -> None:
        self.settings = settings
        # This process's outbox worker: a batch's replies are written claimed for it and
        # handed to it once committed, so they go out at once and need no claim of their
        # own (a claiming statement a pass). Without one they are queued for any worker.
        self.outbox = outbox
        self._queue: list[_Queued] = []
        self._drain_task: asyncio.Task[None] | None = None
        self._lines: dict[str, _NumberLine] = {}
        # For tests and the curious: transactions committed, messages decided in them.
        self.batches = 0
        self.decided = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        """Let the batch being written finish (it holds requests waiting for it)."""
        if self._drain_task is not None:
            await asyncio.wait({self._drain_task}, timeout=STOP_GRACE_SECONDS)

    @asynccontextmanager
    async def in_order(self, phone: str) -> AsyncIterator[None]:
        """One number's texts one at a time, in the order they arrived (in this process).

        A text waiting out the batch window, or handed back to the full path, would
        otherwise be overtaken by the same number's next text, which the full path
        decides at once: BAL then STOP a moment apart would have been answered as STOP,
        then BAL (silence: opted out). So a batch never holds two texts of one number.
        """
        line = self._lines.setdefault(phone, _NumberLine())
        line.texts += 1
        try:
            async with line.lock:
                yield
        finally:
            line.texts -= 1
            if not line.texts:
                del self._lines[phone]

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
            await asyncio.sleep(BATCH_WINDOW_SECONDS)
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                results: list[Result | None]
                try:
                    results, replies = await self._write(batch)
                    if replies and self.outbox is not None:
                        self.outbox.hand_over(replies)
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
        finally:
            for queued in batch + self._queue:  # cancelled mid-batch: nothing committed
                _answer(queued, None)
            self._queue = []
            self._drain_task = None

    async def _write(self, batch: list[_Queued]) -> tuple[list[Result | None], list[Claimed]]:
        """Each message's result (None: the full path's) and, when this process's outbox
        worker is running, the replies committed claimed for it."""
        phones = [queued.sms.from_phone for queued in batch]
        async with in_transaction() as connection:
            await sql.serialize_senders(connection, phones)
            now = utcnow()
            claim = self._claim(now)
            senders = await _senders(connection, phones, now, self.settings)
            results: list[Result | None] = [None] * len(batch)
            admitted, repeats = self._admit(batch, senders)
            stored = await _insert_inbound(connection, [batch[i] for i in admitted], senders, now)
            outbound: list[list[object]] = []
            for index in admitted:
                queued = batch[index]
                if queued.sms.message_sid not in stored:
                    results[index] = Result(Handled.DUPLICATE)  # seen in an earlier webhook
                    continue
                row = senders[queued.sms.from_phone]
                turn = Turn(_customer(row), ConversationState.IDLE, None, None, None)
                await run_machine(self.settings, turn, queued.event)
                if turn.state != ConversationState.IDLE:
                    # `batchable` promised otherwise; the batch rolls back, the full path runs.
                    raise RuntimeError(f"{queued.event.kind} left the idle state in a batch")
                for template, text in turn.replies:
                    outbound.append(_outbound_row(self.settings, row, template, text, now, claim))
                results[index] = Result(
                    Handled.PROCESSED, [text for _, text in turn.replies], turn.state
                )
            claimed: list[Claimed] = []
            if outbound:
                rows = sql.row_placeholders(len(outbound), OUTBOUND_COLUMNS)
                values = [value for row in outbound for value in row]
                query = INSERT_OUTBOUND_SQL.format(rows=rows)
                inserted = await sql.fetch(connection, query, values)
                if claim is not None:
                    claimed = [Claimed.from_row(row) for row in inserted]
        for repeat, first in repeats.items():
            # The same MessageSid twice in one batch (Twilio retried while the first was
            # queued): a duplicate of the first, or the full path's if the first is.
            results[repeat] = None if results[first] is None else Result(Handled.DUPLICATE)
        return results, claimed

    def _claim(self, now: datetime) -> tuple[str, datetime] | None:
        """(claimed_by, claimed_until) for this batch's replies, if a worker will send them."""
        if self.outbox is None or not self.outbox.accepting:
            return None
        return self.outbox.worker_id, now + timedelta(seconds=self.outbox.claim_seconds)

    def _admit(
        self, batch: list[_Queued], senders: dict[str, dict[str, Any]]
    ) -> tuple[list[int], dict[int, int]]:
        """The messages this batch decides (indexes, in arrival order), and each repeated
        MessageSid's index with its first's.

        Admitted: the text passes every gate (`smsbank.sms.gates`; counting the
        number's earlier texts in this batch) and its sender is idle (no withdrawal or
        number change waiting). The rest take the full path (throttle, "not
        registered", opt-out silence, the pending request).
        """
        admitted: list[int] = []
        first_of_sid: dict[str, int] = {}
        repeats: dict[int, int] = {}
        in_batch: Counter[str] = Counter()
        for index, queued in enumerate(batch):
            sms = queued.sms
            if sms.message_sid in first_of_sid:
                repeats[index] = first_of_sid[sms.message_sid]
                continue
            first_of_sid[sms.message_sid] = index
            row = senders.get(sms.from_phone)
            # + 1: this one. An earlier one that proves a duplicate counted too: then the
            # full path decides, which is never wrong, only slower.
            recent = (row["recent"] if row else 0) + in_batch[sms.from_phone] + 1
            stop = gates.stopped_by(
                self.settings,
                queued.event,
                customer=row is not None,
                opted_out=bool(row and row["sms_opted_out"]),
                recent=recent,
            )
            # A pending request is the full path's: it brings the conversation in line
            # with the request row first.
            if stop is not None or row is None or row["conversation_state"] not in IDLE_STATES:
                continue
            in_batch[sms.from_phone] += 1
            admitted.append(index)
        return admitted, repeats


async def _senders(
    connection: BaseDBAsyncClient, phones: list[str], now: datetime, settings: Settings
) -> dict[str, dict[str, Any]]:
    """Each sender's customer row (with `conversation_state` and `recent`), by phone."""
    distinct = list(dict.fromkeys(phones))
    query = SENDERS_SQL.format(phones=sql.placeholders(len(distinct)))
    enough = gates.flood_count_cap(settings)
    rows = await sql.fetch(connection, query, [now - gates.RATE_WINDOW, enough, *distinct])
    return {row["phone"]: row for row in rows}


async def _insert_inbound(
    connection: BaseDBAsyncClient,
    admitted: list[_Queued],
    senders: dict[str, dict[str, Any]],
    now: datetime,
) -> set[str]:
    """Store the admitted messages; the MessageSids that were new (the rest were stored
    by an earlier webhook: duplicates, and nothing is written for them)."""
    if not admitted:
        return set()
    values: list[object] = []
    for queued in admitted:
        sms = queued.sms
        values += [
            sms.message_sid,
            MessageChannel.SMS.value,
            sms.from_phone,
            sms.to_phone,
            storable_body(sms.body),
            senders[sms.from_phone]["id"],
            now,
        ]
    query = INSERT_INBOUND_SQL.format(rows=sql.row_placeholders(len(admitted), INBOUND_COLUMNS))
    return {row["message_sid"] for row in await sql.fetch(connection, query, values)}


def _customer(row: dict[str, Any]) -> Customer:
    """The sender's customer row as Tortoise reads it (partial: see SENDERS_SQL)."""
    fields = {k: v for k, v in row.items() if k not in ("conversation_state", "recent")}
    return Customer._init_from_db(**fields)


def _outbound_row(
    settings: Settings,
    row: dict[str, Any],
    template: str,
    text: str,
    now: datetime,
    claim: tuple[str, datetime] | None,
) -> list[object]:
    """One reply's values, in INSERT_OUTBOUND_SQL's column order: claimed (its first
    attempt counted, as a claim counts it) or queued."""
    claimed_by, claimed_until = claim or (None, None)
    return [
        MessageChannel.SMS.value,
        row["phone"],
        sender_address(settings),
        text,
        template,
        row["id"],
        (OutboundStatus.SENDING if claim else OutboundStatus.QUEUED).value,
        claimed_by,
        claimed_until,
        1 if claim else 0,
        now,
        now,
        now,
    ]


def _answer(queued: _Queued, result: Result | None) -> None:
    if not queued.answer.done():  # its request may have been cancelled meanwhile
        queued.answer.set_result(result)
