"""Which path an inbound SMS takes: the one module that decides.

A command that only reads (`turn.batchable`: BAL, ME, HELP, an unknown word) is
offered to the group commit (`smsbank.sms.group_commit`) when the app runs one
(`SMSBANK_SMS_GROUP_COMMIT`, on by default); everything else, and whatever the batch
hands back (a stranger, an opt-out, a pending request, a flood, a failed batch), takes
the one-message path (`one_message_path.handle_alone`). Both apply the same gates
(`smsbank.sms.gates`) and run the same conversation, so both answer alike.

With a batch, one number's texts are handled one at a time in the order they arrived
(`InboundBatcher.in_order`): a text waiting for its batch is never overtaken by the
same number's next one.

Neither path imports this module, nor each other's path: the router sits above both.
"""

from __future__ import annotations

import logging

from smsbank import metrics
from smsbank.outbox.claims import ClaimingWorker
from smsbank.phones import mask_phone
from smsbank.settings import Settings
from smsbank.sms.conversation import parse
from smsbank.sms.group_commit import InboundBatcher
from smsbank.sms.inbound import Handled, InboundSms, Result
from smsbank.sms.one_message_path import handle_alone
from smsbank.sms.turn import batchable

log = logging.getLogger("smsbank.sms")


async def handle_inbound_sms(
    settings: Settings,
    sms: InboundSms,
    batcher: InboundBatcher | None = None,
    outbox: ClaimingWorker | None = None,
) -> Result:
    """Record, de-duplicate and act on one inbound SMS, on the path it belongs to.

    `batcher`: the running app's group commit, or None (every text alone). `outbox`:
    this process's worker, woken once a text the one-message path acted on committed
    (by default the batcher's).
    """
    event = parse(sms.body, default_region=settings.default_region)
    if batcher is None:
        result = await handle_alone(settings, sms, event)
        _send_now(result, outbox)
    else:
        async with batcher.in_order(sms.from_phone):
            batched = await batcher.submit(sms, event) if batchable(event) else None
            if batched is None:  # not batchable, or the batch handed it back
                result = await handle_alone(settings, sms, event)
                _send_now(result, outbox or batcher.outbox)
            else:
                result = batched  # its replies were handed to the worker at commit
    metrics.count_inbound_text(result.handled)
    if log.isEnabledFor(logging.INFO):
        log.info(
            "sms handled",
            extra={
                "from": mask_phone(sms.from_phone),
                "command": event.kind.value,
                "handled": result.handled.value,
                "state": result.state.value if result.state else None,
                "replies": len(result.replies),
            },
        )
    return result


def _send_now(result: Result, outbox: ClaimingWorker | None) -> None:
    """Committed: what the text queued (its replies, a code, a capture link, the note to
    a stranger) goes now, not at the worker's next poll."""
    if outbox is not None and (result.handled == Handled.PROCESSED or result.replies):
        outbox.wake()
