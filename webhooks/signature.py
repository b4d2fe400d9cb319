"""Twilio request signatures: every webhook proves it comes from Twilio.

Twilio signs each webhook with HMAC-SHA1 (keyed with the account's auth token) over
the full URL it requested followed by every form field, sorted by name
(`X-Twilio-Signature`). We check it with twilio's own `RequestValidator` over
`SMSBANK_PUBLIC_BASE_URL` + path (+ `?query`), never over the Host header the request
claims: behind a proxy or tunnel the URL Twilio signed is the public one, and trusting
a client-supplied host would let a forger choose the URL.

A request with a bad or missing signature is refused with 403 before anything reads the
database, so it changes nothing.

Without a Twilio auth token (console mode, `make run` on a laptop) webhooks are still
signed: the key is then derived from `SMSBANK_SECRET_KEY` (`signing_token`), and the
dev phone signs its requests with the same helper. An unsigned webhook is never trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl

from quart import g, request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from werkzeug.datastructures import MultiDict

from smsbank.errors import Forbidden
from smsbank.http import settings as current_settings
from smsbank.settings import Settings

log = logging.getLogger("smsbank.webhooks.signature")

P = ParamSpec("P")
R = TypeVar("R")

FORM_TYPES = ("application/x-www-form-urlencoded", "application/x-url-encoded")


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
    than the parsing (README, Benchmarks). A body that is not urlencoded has no fields,
    as with `request.form`; bytes that are not UTF-8 become U+FFFD, so the signature,
    computed by Twilio over the true text, fails rather than the request raising.
    """
    if request.mimetype not in FORM_TYPES:
        return TwilioForm()
    body: bytes = await request.get_data(cache=True, as_text=False, parse_form_data=False)
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
    settings: Settings, url: str, params: Any, signature: str, algorithm_header: str = ""
) -> bool:
    """True when `signature` signs `url` and `params` with our signing key."""
    if not signature:
        return False
    validator = RequestValidator(signing_token(settings))
    algorithm = get_signature_algorithm(algorithm_header)
    # Twilio signs the URL it was configured with, which is ours exactly: one HMAC
    # settles almost every request. `validate` always computes two (the URL with and
    # without its port), a tenth of the SMS webhook's time; it stays the final word.
    try:
        if hmac.compare_digest(
            validator.compute_signature(url, params, algorithm).encode(), signature.encode()
        ):
            return True
    except ValueError:
        pass  # an algorithm twilio does not know: `validate` logs it and refuses
    return bool(validator.validate(url, params, signature, algorithm))


async def verify_twilio_request() -> dict[str, str]:
    """Check the current request's Twilio signature; return its form fields.

    Raises Forbidden (403, `invalid_signature`) when the signature is missing or wrong.
    A field sent several times is signed with all its values but returned with its
    first, which is all any Twilio webhook uses.
    """
    configured = current_settings()
    form = await posted_form()
    url = public_url(configured, request.path, request.query_string)
    signature = request.headers.get(SIGNATURE_HEADER, "")
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
