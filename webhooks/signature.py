"""Twilio request signatures: every webhook proves it comes from Twilio.

Twilio signs each webhook with HMAC-SHA1 (keyed with the account's auth token) over
the full URL it requested followed by every form field, sorted by name
(`X-Twilio-Signature`). We check it, by twilio's `RequestValidator` algorithm, over
`SMSBANK_PUBLIC_BASE_URL` + path (+ `?query`), never over the Host header the request
claims: behind a proxy or tunnel the URL Twilio signed is the public one, and trusting
a client-supplied host would let a forger choose the URL.

A request with a bad or missing signature is refused with 403 before anything reads the
database, so it changes nothing. Refusing is cheap whatever an attacker sends: a request
without the header is refused before its body is read; a body is read only up to
`MAX_WEBHOOK_BYTES` (413 past it, judged by Content-Length before reading when there is
one) and parsed only when it has at most `MAX_WEBHOOK_FIELDS` fields (400 otherwise).
Twilio's webhooks are a few KiB and a few dozen fields, so both caps leave a wide margin
and what is parsed and hashed on the event loop stays small. The signed text (the sorted
fields) is built once and hashed once for the public URL, and once more only when that
fails, for the same URL with its port toggled (Twilio signs either form).

Without a Twilio auth token (console mode, `make run` on a laptop) webhooks are still
signed: the key is then derived from `SMSBANK_SECRET_KEY` (`signing_token`), and the
dev phone signs its requests with the same helper. An unsigned webhook is never trusted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlsplit

from quart import g, request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from werkzeug.datastructures import MultiDict

from smsbank.core.errors import Forbidden, ValidationFailed
from smsbank.core.settings import Settings
from smsbank.http import capped_body
from smsbank.http import settings as current_settings

log = logging.getLogger("smsbank.webhooks.signature")

P = ParamSpec("P")
R = TypeVar("R")

FORM_TYPES = ("application/x-www-form-urlencoded", "application/x-url-encoded")
# An SMS webhook with a 1,600-character body of 4-byte characters, percent-encoded, and
# ten media URLs is under 25 KiB; Twilio's webhooks carry at most a few dozen fields.
MAX_WEBHOOK_BYTES = 64 * 1024
MAX_WEBHOOK_FIELDS = 256
HASHES = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}


class TwilioForm(MultiDict[str, str]):
    """A webhook's form fields, every value of a repeated field kept (all are signed).

    `getall` is what twilio's validator asks a form for first; werkzeug's MultiDict
    only has `getlist`, and the validator's fallback to it raised and caught an
    exception for every field of every webhook."""

    def getall(self, key: str) -> list[str]:
        return self.getlist(key)


async def posted_form() -> TwilioForm:
    """The urlencoded fields of the current request, as Twilio posts them (UTF-8).

    Read here rather than through `request.form`, whose general parser (any content
    type, multipart files, limits looked up on the app, a task of its own) cost more
    than the parsing (bench/README.md). A body that is not urlencoded has no fields,
    as with `request.form`; bytes that are not UTF-8 become U+FFFD, so the signature,
    computed by Twilio over the true text, fails rather than the request raising.
    Past `MAX_WEBHOOK_BYTES` (413) or `MAX_WEBHOOK_FIELDS` (400) nothing is parsed.
    """
    if request.mimetype not in FORM_TYPES:
        return TwilioForm()
    body = await capped_body(request, MAX_WEBHOOK_BYTES)
    if body.count(b"&") >= MAX_WEBHOOK_FIELDS:
        raise ValidationFailed(
            f"a webhook has at most {MAX_WEBHOOK_FIELDS} fields", code="too_many_fields"
        )
    return TwilioForm(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def signing_token(settings: Settings) -> str:
    """The key Twilio webhooks are signed with.

    The Twilio auth token when there is one; otherwise a key derived from the secret
    key, so that console-mode webhooks (the dev phone) are signed too and a missing
    token never means "accept anything".
    """
    if settings.twilio_auth_token:
        return settings.twilio_auth_token
    return hmac.new(
        settings.secret_key.encode(), b"smsbank-dev-webhook-signing", hashlib.sha256
    ).hexdigest()


def public_url(settings: Settings, path: str, query_string: bytes | str = b"") -> str:
    """The URL Twilio requested: public base URL + path (+ `?query`)."""
    query = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    url = settings.base_url + path
    return f"{url}?{query}" if query else url


def sign(settings: Settings, url: str, params: Any) -> str:
    """The `X-Twilio-Signature` Twilio would send for `params` posted to `url`.

    Used by the dev phone (and by tests, via `tests/twilio_signing.py`).
    """
    return str(RequestValidator(signing_token(settings)).compute_signature(url, params))


def is_valid_signature(
    settings: Settings, url: str, params: TwilioForm, signature: str, algorithm_header: str = ""
) -> bool:
    """True when `signature` signs `url` and `params` with our signing key.

    Twilio's algorithm (as twilio's `RequestValidator`): HMAC of the URL followed by each
    field name and value, names sorted, a repeated field's distinct values sorted.
    """
    hash_function = HASHES.get(get_signature_algorithm(algorithm_header).upper())
    if not signature or hash_function is None:
        return False
    parts = []
    for name in sorted(params):
        values = params.getlist(name)
        if len(values) > 1:
            values = sorted(set(values))
        for value in values:
            parts.append(name)
            parts.append(value)
    signed_fields = "".join(parts)
    key = signing_token(settings).encode()
    expected = signature.encode()
    for candidate in (url, _with_port_toggled(url)):
        digest = hmac.digest(key, (candidate + signed_fields).encode(), hash_function)
        if hmac.compare_digest(base64.b64encode(digest), expected):
            return True
    return False


def _with_port_toggled(url: str) -> str:
    """`https://host/p` <-> `https://host:443/p`: Twilio signs with or without the port."""
    parts = urlsplit(url)
    if parts.port is not None:
        netloc = parts.netloc.rsplit(":", 1)[0]
    else:
        netloc = f"{parts.netloc}:{443 if parts.scheme == 'https' else 80}"
    return parts._replace(netloc=netloc).geturl()


async def verify_twilio_request() -> dict[str, str]:
    """Check the current request's Twilio signature; return its form fields.

    Raises Forbidden (403, `invalid_signature`) when the signature is missing or wrong.
    A field sent several times is signed with all its values but returned with its
    first, which is all any Twilio webhook uses.
    """
    configured = current_settings()
    signature = request.headers.get(SIGNATURE_HEADER, "")
    # Without a signature the body is never read: an unsigned upload costs nothing.
    form = await posted_form() if signature else TwilioForm()
    url = public_url(configured, request.path, request.query_string)
    algorithm_header = request.headers.get(SIGNATURE_SETTINGS_HEADER, "")
    if not is_valid_signature(configured, url, form, signature, algorithm_header):
        # The path says which webhook; nothing from the body (it is untrusted and may
        # hold phone numbers) goes to the log.
        log.warning(
            "webhook signature rejected",
            extra={"path": request.path, "signature_present": bool(signature)},
        )
        raise Forbidden(
            "the request is not signed by Twilio (X-Twilio-Signature missing or wrong)",
            code="invalid_signature",
        )
    return {key: form.get(key, "") for key in form}


def twilio_signed(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorator form of `verify_twilio_request`: the verified form is in `g.twilio_form`."""

    @wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.twilio_form = await verify_twilio_request()
        return await handler(*args, **kwargs)

    return wrapper
