"""`POST /webhooks/twilio/status`: Twilio reports what became of a message or call.

Signed like every webhook (403 otherwise, nothing changes). The outbox worker passes
`<public base URL>/webhooks/twilio/status?outbox_id=<id>` as the StatusCallback of every
send; the signature covers that query, so the id can be trusted. The message moves
forward only (see `smsbank.outbox.status.record_provider_status`).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, g, request
from quart_schema import hide

from smsbank import metrics
from smsbank.errors import ValidationFailed
from smsbank.outbox.status import record_provider_status
from webhooks.signature import twilio_signed

blueprint = Blueprint("twilio_status", __name__)

_MAX_ID = 2**63 - 1  # the column is a BIGINT; a larger number is not an id of ours


@blueprint.post("/webhooks/twilio/status")
@hide
@twilio_signed
async def post_twilio_status() -> tuple[dict[str, Any], int]:
    """Record a delivery report for an SMS (MessageStatus) or a call (CallStatus)."""
    form: dict[str, str] = g.twilio_form
    sid = form.get("MessageSid") or form.get("SmsSid") or form.get("CallSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or form.get("CallStatus") or ""
    if not sid.strip() or not status.strip():
        raise ValidationFailed(
            "a status callback needs MessageSid and MessageStatus (or CallSid and CallStatus)",
            code="missing_field",
        )
    if len(sid) > 64:
        raise ValidationFailed("MessageSid/CallSid is too long", code="invalid_sid")
    metrics.count_status_callback(status)
    try:
        report = await record_provider_status(
            sid.strip(),
            status,
            outbox_id=_outbox_id(request.args.get("outbox_id")),
            error_code=form.get("ErrorCode", "")[:20],
        )
    except ValueError as exc:
        raise ValidationFailed(str(exc)[:200], code="unknown_status") from exc
    return {"result": report.outcome, "status": report.status}, 200


def _outbox_id(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) > _MAX_ID:
        raise ValidationFailed("outbox_id must be a message id", code="invalid_outbox_id")
    return int(raw)
