"""The provider's reports: Twilio's status callbacks move a message forward, never back.

The callback URL carries the outbox id (`status_callback_url`), so a report that beats
the worker's record of the send still finds its row and settles it.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsbank.clock import utcnow
from smsbank.models import OutboundMessage, OutboundStatus
from smsbank.settings import Settings

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


def status_callback_url(settings: Settings, message_id: int) -> str:
    """Where Twilio reports delivery of this message; the id finds the row even before
    the worker has stored the provider's sid."""
    return f"{settings.base_url}{STATUS_CALLBACK_PATH}?outbox_id={message_id}"


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
