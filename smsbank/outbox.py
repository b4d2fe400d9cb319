"""The outbox: every SMS and call the bank sends is first a row here.

`enqueue_sms` / `enqueue_call` are called inside the transaction of the change that
caused the message, so a message exists if and only if its cause was committed. A
background worker (see `smsbank.outbox_worker`) delivers rows with retries and
backoff; a customer who opted out gets their row stored as `suppressed`, never sent.

Secrets at rest
---------------
A text that carries a live secret (a code, a capture or enrolment link; a call that
reads a code) is marked when it is queued: `secret_expires_at` says until when the
secret works. The secret is then scrubbed out of the stored body (`scrub`, with
`smsbank.logs.mask_text`, the one function that knows what a secret looks like) as
soon as the text needs no sending any more or its secret has expired, whichever comes
first: when the provider took it (`outbox_worker`), when it failed for good, when it
is stored suppressed (it is never sent), or, for what is left (the dev phone's texts,
which its page reads from this table while they live; a send cut short by a crash),
by the expiry sweep once `secret_expires_at` has passed. Scrubbing sets
`secret_expires_at` back to NULL and `scrubbed_at`; a scrubbed row is never sent
again, and a row whose secret expired before it was sent fails without being sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tortoise import connections

from smsbank import sql
from smsbank.clock import utcnow
from smsbank.logs import mask_text
from smsbank.models import Customer, MessageChannel, OutboundMessage, OutboundStatus
from smsbank.settings import Settings

log = logging.getLogger("smsbank.outbox")

# Rows whose secret expired, not held by a worker that may be sending them right now.
EXPIRED_SECRETS_SQL = """
SELECT id, body FROM outbound_message
WHERE secret_expires_at <= ? AND NOT (status = ? AND claimed_until > ?)
ORDER BY secret_expires_at LIMIT ?
"""

# What sending a claimed row needs (`Claimed`), as every claiming statement returns it:
# the workers' claiming passes (`smsbank.outbox_worker`) and the SMS batch's replies,
# written claimed and handed straight to this process's worker (`ClaimingWorker`).
CLAIMED_COLUMNS = (
    "id, channel, to_phone, from_phone, body, template, attempts, secret_expires_at, scrubbed_at"
)


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
    def from_row(cls, row: dict) -> Claimed:
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


# Messages that must reach a customer even after STOP: none. Twilio blocks them anyway
# and the customer asked; codes and links are only sent when they start a flow by SMS.


def sender_address(settings: Settings) -> str:
    """The `From` of everything the bank sends: its Twilio number (a label in console mode)."""
    return settings.twilio_phone_number or "SMSBANK"


async def enqueue_sms(
    settings: Settings,
    *,
    to: str,
    body: str,
    template: str,
    customer_id: int | None = None,
    respect_opt_out: bool = True,
    opted_out: bool | None = None,
    secret_expires_at: datetime | None = None,
) -> OutboundMessage:
    """Store an SMS for delivery (in the caller's transaction).

    `opted_out`: the customer's opt-out flag when the caller read their row in this
    same transaction (saves a query on the webhook's hot path); looked up otherwise.
    `secret_expires_at`: the body carries a code or link that works until then (see
    "Secrets at rest" above).
    """
    return await _enqueue(
        settings,
        MessageChannel.SMS,
        to,
        body,
        template,
        customer_id,
        respect_opt_out,
        opted_out,
        secret_expires_at,
    )


async def enqueue_call(
    settings: Settings,
    *,
    to: str,
    say: str,
    template: str,
    customer_id: int | None = None,
    secret_expires_at: datetime | None = None,
) -> OutboundMessage:
    """Store an outbound voice call; `say` is what the call reads out (a code until
    `secret_expires_at`, if it reads one)."""
    return await _enqueue(
        settings,
        MessageChannel.VOICE,
        to,
        say,
        template,
        customer_id,
        False,
        secret_expires_at=secret_expires_at,
    )


async def _enqueue(
    settings: Settings,
    channel: MessageChannel,
    to: str,
    body: str,
    template: str,
    customer_id: int | None,
    respect_opt_out: bool,
    opted_out: bool | None = None,
    secret_expires_at: datetime | None = None,
) -> OutboundMessage:
    status = OutboundStatus.QUEUED
    if respect_opt_out and customer_id is not None:
        if opted_out is None:
            opted_out = await Customer.filter(id=customer_id, phone=to, sms_opted_out=True).exists()
        if opted_out:
            status = OutboundStatus.SUPPRESSED
    now = utcnow()
    scrubbed_at = None
    if secret_expires_at is not None and status == OutboundStatus.SUPPRESSED:
        # Never sent, so nothing needs the secret: it is not stored at all.
        body, secret_expires_at, scrubbed_at = scrub(body), None, now
    return await OutboundMessage.create(
        channel=channel,
        to_phone=to,
        from_phone=sender_address(settings),
        body=body,
        template=template,
        customer_id=customer_id,
        status=status,
        next_attempt_at=now,
        secret_expires_at=secret_expires_at,
        scrubbed_at=scrubbed_at,
    )


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
