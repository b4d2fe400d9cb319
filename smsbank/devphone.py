"""The dev phone (console mode only): bank by text from a browser, no Twilio account.

- `GET /dev/phone`: a page that texts the bank as any number and shows the thread live.
- `POST /dev/phone/send`: what the page's Send button calls. It builds the form Twilio
  would post for an inbound SMS, signs it exactly as Twilio does (`X-Twilio-Signature`
  over the public URL, with `webhooks.signature`'s key), and sends it through the app's
  own `POST /webhooks/twilio/sms` route, so the dev phone exercises the real webhook:
  signature check, de-duplication and all.
- `GET /dev/messages?phone=+1…`: every message to or from that number, oldest first,
  inbound and outbound (the console backend stores outbound messages; it sends nothing).

The blueprint is registered only in development with the console backend
(`Settings.dev_phone_enabled`); anywhere else no `/dev/` route exists (404). With a real
Twilio number these would let anyone read customers' messages and speak for any phone,
and production refuses to start with the console backend at all.

Even on a laptop, a web page the developer visits must not drive it: every route checks
the Host header (a loopback name or the public host: a DNS-rebound name is refused, so a
page cannot read `/dev/messages` through it) and, when the browser sends one, the Origin
(the bank's own: a page elsewhere cannot post to `/dev/phone/send`); the send endpoint
takes `application/json` only, a type no plain HTML form or simple cross-site request
can send.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from quart import Blueprint, Response, current_app, render_template, request, send_from_directory
from quart_schema import hide
from tortoise.expressions import Q

from smsbank.errors import Forbidden, NotFound, UnsupportedMediaType, ValidationFailed
from smsbank.http import settings
from smsbank.models import InboundMessage, MessageChannel, OutboundMessage
from smsbank.phones import InvalidPhone, normalize_phone
from smsbank.sms.conversation import Kind, parse
from smsbank.sms.gates import RATE_WINDOW, over_flood_limit
from webhooks.signature import public_url, sign

# The page's JS and CSS are served by `get_dev_static` rather than a blueprint static
# folder: that route can be hidden from the staff API's OpenAPI document.
blueprint = Blueprint("devphone", __name__, url_prefix="/dev", template_folder="templates")
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = frozenset({"devphone.js", "devphone.css"})

SMS_WEBHOOK_PATH = "/webhooks/twilio/sms"
MAX_BODY_CHARS = 1600  # Twilio's limit for one (concatenated) SMS
BANK_NUMBER_FALLBACK = "SMSBANK"  # what the outbox uses as sender without a Twilio number


@blueprint.before_request
async def same_origin_only() -> None:
    configured = settings()
    public_host = urlsplit(configured.base_url).hostname
    host = _hostname(request.host)
    if not (_is_loopback(host) or host == public_host):
        raise Forbidden(
            "the dev phone answers only on a loopback address or the public host",
            code="forbidden_host",
        )
    origin = request.headers.get("Origin")
    own_origins = {f"{request.scheme}://{request.host}", _origin(configured.base_url)}
    if origin is not None and origin not in own_origins:
        raise Forbidden("the dev phone answers only its own pages", code="cross_origin")


def _hostname(host_header: str) -> str:
    """`example.com:5000` -> `example.com`, `[::1]:5000` -> `::1`, lower case."""
    return urlsplit(f"//{host_header}").hostname or ""


def _is_loopback(host: str) -> bool:
    # `*.localhost` always resolves to the loopback (RFC 6761), so no one else can own it.
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def bank_number() -> str:
    return settings().twilio_phone_number or BANK_NUMBER_FALLBACK


@blueprint.get("/phone")
@hide
async def get_dev_phone() -> str:
    """The dev phone page."""
    phone = request.args.get("phone", "")
    try:
        phone = normalize_phone(phone, settings().default_region) if phone else ""
    except InvalidPhone:
        phone = ""
    return await render_template("devphone.html", phone=phone, bank_number=bank_number())


@blueprint.get("/static/<name>")
@hide
async def get_dev_static(name: str) -> Response:
    """The page's script and style sheet."""
    if name not in STATIC_FILES:
        raise NotFound("no such file")
    return await send_from_directory(STATIC_DIR, name)


@blueprint.get("/messages")
@hide
async def get_dev_messages() -> dict[str, Any]:
    """Every SMS and call to or from `phone`, oldest first."""
    phone = _phone(request.args.get("phone"))
    inbound = await InboundMessage.filter(Q(from_phone=phone) | Q(to_phone=phone))
    outbound = await OutboundMessage.filter(Q(to_phone=phone) | Q(from_phone=phone))
    throttled = _throttled_ids(inbound)
    rows: list[tuple[Any, int, int, dict[str, Any]]] = []
    for message in inbound:
        shown = {
            "direction": "inbound",
            "from": message.from_phone,
            "to": message.to_phone,
            "body": message.body,
            "channel": message.channel.value,
            "status": "received",
            "created_at": message.created_at.isoformat(),
        }
        if message.id in throttled:
            shown["no_reply"] = "rate-limited"
        rows.append(
            (
                message.created_at,
                0,  # at the same instant, what the customer sent came first
                message.id,
                shown,
            )
        )
    for sent in outbound:
        rows.append(
            (
                sent.created_at,
                1,
                sent.id,
                {
                    "direction": "outbound",
                    "from": sent.from_phone,
                    "to": sent.to_phone,
                    "body": sent.body,
                    "channel": sent.channel.value,
                    "status": sent.status.value,
                    "created_at": sent.created_at.isoformat(),
                },
            )
        )
    rows.sort(key=lambda row: row[:3])
    return {"messages": [row[3] for row in rows]}


def _throttled_ids(inbound: list[InboundMessage]) -> set[int]:
    """The texts the flood gate stored without acting on, found the way the gate finds
    them: more than the limit from one number within a minute, keywords excepted."""
    texts = sorted(
        (m for m in inbound if m.channel == MessageChannel.SMS),
        key=lambda m: (m.from_phone, m.created_at, m.id),
    )
    throttled: set[int] = set()
    window_start = 0  # the oldest text of the same number within a minute of the current
    for index, message in enumerate(texts):
        while (
            texts[window_start].from_phone != message.from_phone
            or texts[window_start].created_at < message.created_at - RATE_WINDOW
        ):
            window_start += 1
        recent = index - window_start + 1
        keyword = parse(message.body).kind in (Kind.OPT_OUT, Kind.OPT_IN)
        if over_flood_limit(settings(), recent) and not keyword:
            throttled.add(message.id)
    return throttled


@blueprint.post("/phone/send")
@hide
async def post_dev_phone_send() -> tuple[dict[str, Any], int]:
    """Text the bank from `from` with `body`: a signed webhook, as Twilio would send it."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send JSON with Content-Type: application/json")
    payload = await request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ValidationFailed('send a JSON object: {"from": "+15551234567", "body": "BAL"}')
    from_phone = _phone(payload.get("from"))
    body = payload.get("body")
    if not isinstance(body, str) or not body.strip():
        raise ValidationFailed("body is required: the text to send", code="missing_field")
    if len(body) > MAX_BODY_CHARS:
        raise ValidationFailed(f"body is longer than {MAX_BODY_CHARS} characters")

    configured = settings()
    sid = "SM" + secrets.token_hex(16)
    form = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": bank_number(),
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": configured.twilio_account_sid or "AC" + "0" * 32,
        "From": from_phone,
        "ApiVersion": "2010-04-01",
    }
    signature = sign(configured, public_url(configured, SMS_WEBHOOK_PATH), form)
    # Through the app's own route (an in-process request), so the page exercises the
    # webhook exactly as Twilio does, whatever host or tunnel the public URL names.
    client = current_app.test_client()
    response = await client.post(
        SMS_WEBHOOK_PATH,
        data=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    if response.status_code != 200:
        answer = await response.get_json(silent=True) or {}
        # A refusal (4xx) is passed on as is; the webhook breaking is not this request's
        # fault, so it is a bad gateway rather than our own 500.
        status = response.status_code if response.status_code < 500 else 502
        return {"webhook_status": response.status_code, **answer}, status
    return {"webhook_status": 200, "message_sid": sid}, 200


def _phone(raw: object) -> str:
    if raw is None or raw == "":
        raise ValidationFailed("phone is required, for example +15551234567", code="missing_field")
    try:
        return normalize_phone(raw, settings().default_region)
    except InvalidPhone as exc:
        raise ValidationFailed(str(exc), code="invalid_phone") from exc
