"""Signed webhook requests for tests: post exactly what Twilio would, signature included.

    signer = TwilioSigner(settings)
    response = await signer.post(client, "/webhooks/twilio/sms", {"From": ..., "Body": ...})

`sms_form` builds the fields Twilio sends with an inbound SMS (with a fresh
`MessageSid` unless one is given), so a test states only what it cares about.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from smsbank.core.settings import Settings
from webhooks.signature import public_url, sign

_sids = itertools.count(1)


def new_sid(prefix: str = "SM") -> str:
    """A sid shaped like Twilio's: two letters and 32 hex digits, unique per call."""
    return f"{prefix}{next(_sids):08x}{secrets.token_hex(12)}"


def sms_form(
    from_phone: str,
    body: str,
    *,
    to: str = "+15550001111",
    sid: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The form of an inbound SMS webhook, as Twilio posts it."""
    message_sid = sid or new_sid("SM")
    form = {
        "ToCountry": "US",
        "SmsMessageSid": message_sid,
        "NumMedia": "0",
        "SmsSid": message_sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": message_sid,
        "AccountSid": "ACtest",
        "From": from_phone,
        "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form


def voice_form(from_phone: str, *, to: str = "+15550001111", **extra: str) -> dict[str, str]:
    """The form of an inbound call webhook (`Digits` etc. go in `extra`)."""
    form = {
        "AccountSid": "ACtest",
        "CallSid": extra.pop("CallSid", None) or new_sid("CA"),
        "From": from_phone,
        "To": to,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form


class TwilioSigner:
    """Signs requests the way Twilio does for this app's public base URL."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def signature(self, path: str, form: Mapping[str, Any], query: str = "") -> str:
        return sign(self.settings, public_url(self.settings, path, query), form)

    def headers(self, path: str, form: Mapping[str, Any], query: str = "") -> dict[str, str]:
        return {"X-Twilio-Signature": self.signature(path, form, query)}

    async def post(
        self,
        client: Any,
        path: str,
        form: Mapping[str, Any] | MultiDict[str, str],
        *,
        query: str = "",
        signature: str | None = None,
    ) -> Any:
        """POST `form` to `path`, signed (or with `signature` when a test forges one)."""
        headers = {
            "X-Twilio-Signature": signature
            if signature is not None
            else self.signature(path, form, query)
        }
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        target = f"{path}?{query}" if query else path
        # Encoded here rather than with `form=`: quart-schema's test client would run
        # a MultiDict (a field sent twice) through pydantic.
        items = form.items(multi=True) if isinstance(form, MultiDict) else form.items()
        return await client.post(target, data=urlencode(list(items)), headers=headers)
