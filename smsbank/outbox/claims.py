"""The outbox's hand-written SQL, beside the `outbound_message` rows it touches: claiming
due rows, recording what became of each send, scrubbing secrets; and what a claim
hands its holder (`Claimed`, `CLAIMED_COLUMNS`, `ClaimingWorker`).

These statements run for every pass and every message, so they are written once in the
SQL both databases accept (`smsbank.sql`), not built by the ORM each time.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from tortoise import connections
from tortoise.transactions import in_transaction

from smsbank import metrics, sql
from smsbank.clock import utcnow
from smsbank.logs import mask_text
from smsbank.models import MessageChannel, OutboundMessage, OutboundStatus
from smsbank.phones import mask_phone
from smsbank.settings import Settings
from smsbank.sms_backends import SendError, SmsBackend

log = logging.getLogger("smsbank.outbox")

# What sending a claimed row needs (`Claimed`), as every claiming statement returns it:
# the workers' claiming passes (`smsbank.outbox_worker`) and the SMS batch's replies,
# written claimed and handed straight to this process's worker (`ClaimingWorker`).
CLAIMED_COLUMNS = (
    "id, channel, to_phone, from_phone, body, template, attempts, secret_expires_at, scrubbed_at"
)


# How long a claim lasts. It must outlive a whole batch of sends (each bounded by the
# backend's 15 s timeout, sent concurrently); after it a dead worker's rows are reclaimed.
CLAIM_SECONDS = 60.0
# The longest wait between two attempts, whatever the attempt number.
MAX_BACKOFF_SECONDS = 900.0

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

# Rows whose secret expired, not held by a worker that may be sending them right now.
EXPIRED_SECRETS_SQL = """
SELECT id, body FROM outbound_message
WHERE secret_expires_at <= ? AND NOT (status = ? AND claimed_until > ?)
ORDER BY secret_expires_at LIMIT ?
"""


@dataclass(frozen=True)
class Claimed:
    """A message this worker holds the claim on: what sending it needs."""

    id: int
    channel: MessageChannel
    to_phone: str
    from_phone: str
    body: str
    template: str
    attempts: int  # counting this one
    secret_expires_at: datetime | None = None  # the body carries a secret until then
    scrubbed_at: object = None  # not None: its secret was scrubbed; never send it again

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Claimed:
        """From a row of a claiming statement's `RETURNING` (`CLAIMED_COLUMNS`)."""
        return cls(
            **{
                **row,
                "channel": MessageChannel(row["channel"]),
                "secret_expires_at": _moment(row["secret_expires_at"]),
            }
        )

    def secret_dead(self, now: datetime) -> bool:
        """Whether its secret was scrubbed or has expired: sending it helps nobody."""
        expires = self.secret_expires_at
        return self.scrubbed_at is not None or (expires is not None and expires <= now)


def _moment(value: object) -> datetime | None:
    """A timestamp as the database driver returns it (SQLite: ISO text), or None."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


class ClaimingWorker(Protocol):
    """This process's outbox worker, as a writer of rows already claimed for it sees it
    (the SMS batch): rows claimed for `worker_id` until `claim_seconds` from now are
    sent by it once handed over, while it is `accepting`."""

    @property
    def worker_id(self) -> str: ...

    @property
    def claim_seconds(self) -> float: ...

    @property
    def accepting(self) -> bool: ...

    def wake(self) -> None: ...

    def hand_over(self, claimed: list[Claimed]) -> None: ...


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """The wait after failed attempt number `attempt` (1-based): doubling, capped, jittered.

    Jitter keeps workers (and banks) that failed together from retrying together: the
    wait is drawn uniformly from the upper half of the doubled delay.
    """
    doubling = float(2 ** max(attempt - 1, 0))
    delay = min(settings.outbox_backoff_seconds * doubling, MAX_BACKOFF_SECONDS)
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


async def record_sent(
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
    # queued and sending row to find the pass's few, a cost that grew with the backlog.
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
            extra={**log_fields(message), "provider_sid": sid, "backend": backend.name},
        )
    if recorded < len(accepted):
        log.info(
            "outbox sent: status callbacks came first",
            extra={"already_settled": len(accepted) - recorded},
        )


def log_fields(message: Claimed) -> dict[str, object]:
    """What every log line about one message's delivery says of it (number masked)."""
    return {
        "outbox_id": message.id,
        "channel": message.channel.value,
        "to": mask_phone(message.to_phone),
        "template": message.template,
        "attempt": message.attempts,
    }


async def record_failure(
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
            **log_fields(message),
            "error": error.message,
            "retry_at": None if give_up else str(changes["next_attempt_at"]),
        },
    )
    return "failed" if give_up else "retrying"


def scrub(body: str) -> str:
    """The body with its codes and links masked (what is kept once they are dead)."""
    return mask_text(body)


async def scrub_sent(bodies: dict[int, str], *, now: datetime | None = None) -> int:
    """Scrub these rows' secrets (id -> the body as sent) in one statement; only rows
    that still carry one change. Returns how many did."""
    if not bodies:
        return 0
    whens = " ".join(["WHEN ? THEN ?"] * len(bodies))
    return await sql.execute(
        connections.get("default"),
        # Only placeholders are formatted into the text; every value is bound.
        f"UPDATE outbound_message SET body = CASE id {whens} END,"  # noqa: S608
        " secret_expires_at = NULL, scrubbed_at = ?"
        f" WHERE id IN ({sql.placeholders(len(bodies))}) AND secret_expires_at IS NOT NULL",
        [
            *(value for row_id, body in bodies.items() for value in (row_id, scrub(body))),
            now or utcnow(),
            *bodies,
        ],
    )


async def scrub_expired_secrets(limit: int, *, now: datetime | None = None) -> int:
    """The expiry sweep's share: scrub up to `limit` rows whose secret has expired and
    that no worker is sending at this moment; returns how many it scrubbed."""
    now = now or utcnow()
    connection = connections.get("default")
    rows = await sql.fetch(
        connection, EXPIRED_SECRETS_SQL, [now, OutboundStatus.SENDING.value, now, limit]
    )
    scrubbed = await scrub_sent({row["id"]: row["body"] for row in rows}, now=now)
    if scrubbed:
        log.info("outbox secrets scrubbed after expiry", extra={"rows": scrubbed})
    return scrubbed
