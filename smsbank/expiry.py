"""The expiry sweep: requests past their time are expired without waiting for a reader.

Theory of operation
-------------------
A withdrawal or phone-change request has an `expires_at`. Readers (the customer's next
text, a staff call on the request) have always expired an overdue request when they
met it; without a sweep, one nobody reads again stays `awaiting_code` /
`awaiting_selfie`, in the staff API and in its conversation row, forever.

`sweep()` is one pass: it finds up to `limit` overdue requests of each kind and hands
each to the same per-request function the readers use (`request_lifecycle.expire`,
which `withdrawals.expire_withdrawal` and `phone_changes.expire_phone_change` wrap).
There the expiry is a conditional UPDATE on the
request's status, so a code or selfie arriving at the same moment, a reader, or the
sweep of another worker either finds the request already expired or loses to it:
each request is expired exactly once, with one audit event, and is never both
expired and approved. Approved withdrawals are not swept (both checks passed; see
`withdrawals.WAITING_STATUSES`). Nobody is texted: a lapsed request ends silently,
as it always did for readers.

The same pass scrubs the codes and links of outbox texts whose secret expired
(`smsbank.outbox`, "Secrets at rest") and removes usage counters of long-past hours
(`smsbank.quotas`).

`ExpirySweeper` is the background component that repeats the pass in every app
worker, every `expiry_sweep_seconds` (0 turns it off; readers still expire lazily).
Several workers and hosts may sweep at once; they need nothing but the database.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from tortoise.exceptions import DBConnectionError, OperationalError

from smsbank import phone_changes, quotas, withdrawals
from smsbank.outbox import claims
from smsbank.settings import Settings

log = logging.getLogger("smsbank.expiry")

# Requests of each kind expired per pass at most: one pass stays short however large a
# backlog (after downtime, say) is; a full batch makes the next pass start at once.
BATCH_SIZE = 100
# How long `stop()` lets an in-flight pass finish before cancelling it. A cancelled
# expiry rolls back whole and is redone by the next pass.
STOP_GRACE_SECONDS = 5.0
# The pause after a pass that found the database unavailable.
RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class SweepResult:
    """What one pass expired."""

    withdrawals: int = 0
    phone_changes: int = 0
    secrets_scrubbed: int = 0  # outbox texts whose code or link expired

    @property
    def total(self) -> int:
        return self.withdrawals + self.phone_changes


async def sweep(limit: int = BATCH_SIZE) -> SweepResult:
    """One pass: expire up to `limit` overdue withdrawals and `limit` phone changes."""
    result = SweepResult(
        withdrawals=await withdrawals.expire_overdue(limit),
        phone_changes=await phone_changes.expire_overdue(limit),
        secrets_scrubbed=await claims.scrub_expired_secrets(limit),
    )
    await quotas.prune()
    if result.total:
        log.info(
            "expired overdue requests",
            extra={"withdrawals": result.withdrawals, "phone_changes": result.phone_changes},
        )
    return result


class ExpirySweeper:
    """The background component running `sweep` passes while the app serves."""

    def __init__(self, settings: Settings, *, batch_size: int = BATCH_SIZE) -> None:
        self.settings = settings
        self.batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.passes = 0

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="expiry-sweeper")
        log.info(
            "expiry sweeper started", extra={"every_seconds": self.settings.expiry_sweep_seconds}
        )

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
            if not done:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        log.info("expiry sweeper stopped")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            pause = self.settings.expiry_sweep_seconds
            try:
                result = await sweep(self.batch_size)
                self.passes += 1
                if max(result.withdrawals, result.phone_changes) >= self.batch_size:
                    pause = 0  # a backlog: keep going
            except (DBConnectionError, OperationalError, ConnectionError) as exc:
                # Down or locked: nothing was half-done (each expiry is one transaction).
                log.warning("expiry pass skipped: database unavailable", extra={"error": str(exc)})
                pause = max(pause, RETRY_SECONDS)
            except Exception:
                # The sweeper must outlive a bug in one pass (readers still expire
                # requests meanwhile); the traceback goes to the log in full.
                log.exception("expiry pass crashed")
                pause = max(pause, RETRY_SECONDS)
            if pause > 0:
                try:
                    async with asyncio.timeout(pause):
                        await self._stopping.wait()
                except TimeoutError:
                    pass
