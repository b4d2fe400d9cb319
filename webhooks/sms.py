"""`POST /webhooks/twilio/sms`: Twilio's inbound SMS webhook.

Thin on purpose: check the signature, read the form, hand the message to
`smsbank.sms.router`, answer with empty TwiML. Replies are never put in the TwiML:
they go through the outbox like every other message, so they are stored, retried and
tracked, and the webhook answers in the time of one short transaction.
"""

from __future__ import annotations

import re

from quart import Blueprint, Response
from quart_schema import hide
from twilio.twiml.messaging_response import MessagingResponse

from smsbank.errors import ValidationFailed
from smsbank.http import services, settings
from smsbank.sms import inbound, router
from webhooks.signature import verify_twilio_request

blueprint = Blueprint("twilio_sms", __name__, url_prefix="/webhooks/twilio")

# Twilio's sids are two letters and 32 hex digits; allow any short token so a change
# in their format does not drop messages, but nothing that could not be one.
SID_RE = re.compile(r"^[A-Za-z0-9_-]{2,64}$", re.ASCII)
MAX_ADDRESS_CHARS = 32  # InboundMessage.from_phone / to_phone
# Every SMS webhook answers the same empty document; built once, not per request.
EMPTY_TWIML = str(MessagingResponse())


def twiml(response: object) -> Response:
    """A TwiML document as Twilio wants it."""
    return Response(str(response), status=200, content_type="text/xml; charset=utf-8")


def required_field(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise ValidationFailed(f"the {name} field is required", code="missing_field")
    return value


def address_field(form: dict[str, str], name: str, *, required: bool) -> str:
    """A phone number (or short code, or `client:` address) as Twilio sends it."""
    value = required_field(form, name) if required else form.get(name, "").strip()
    if len(value) > MAX_ADDRESS_CHARS or any(ord(ch) < 32 for ch in value):
        raise ValidationFailed(f"the {name} field is not a phone address", code="invalid_field")
    return value


def sid_field(form: dict[str, str], name: str) -> str:
    value = required_field(form, name)
    if not SID_RE.match(value):
        raise ValidationFailed(f"the {name} field is not a Twilio sid", code="invalid_field")
    return value


@blueprint.post("/sms")
@hide
async def post_sms() -> Response:
    """An inbound SMS: de-duplicated by MessageSid, acted on, answered with `<Response/>`."""
    form = await verify_twilio_request()
    body = form.get("Body", "")
    if len(body) > inbound.MAX_BODY_CHARS:
        raise ValidationFailed(
            f"Body is longer than {inbound.MAX_BODY_CHARS} characters", code="invalid_field"
        )
    sms = inbound.InboundSms(
        message_sid=sid_field(form, "MessageSid"),
        from_phone=address_field(form, "From", required=True),
        to_phone=address_field(form, "To", required=False),
        body=body,
    )
    bank = services()
    await router.handle_inbound_sms(settings(), sms, bank.inbound_batch, bank.outbox)
    return twiml(EMPTY_TWIML)
