"""How an outbound SMS or call leaves the bank: one small interface, two backends.

- `twilio`: Twilio's REST API through the official library's async client
  (`AsyncTwilioHttpClient`, `messages.create_async`, `calls.create_async`). A call
  reads its words from inline TwiML (`<Say>`), so no extra webhook is needed. Texts
  go from `TWILIO_MESSAGING_SERVICE_SID`'s sender pool when it is set, else from
  `TWILIO_PHONE_NUMBER`; calls always come from that number (voice needs one).
  `SMSBANK_TWILIO_API_BASE_URL` points the client at another host (a local fake
  Twilio in tests and benchmarks).
- `console`: sends nothing; the message is marked sent and the dev phone shows it.

A backend answers with the provider's sid or raises `SendError`. `retryable` tells the
outbox worker whether trying again can help: network errors, timeouts, Twilio 5xx and
429 can; any other 4xx (an invalid number, a body Twilio refuses) cannot.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from typing import Protocol

import aiohttp
from twilio.auth_strategy.auth_strategy import AuthStrategy
from twilio.auth_strategy.auth_type import AuthType
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.credential.credential_provider import CredentialProvider
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from smsbank import messages
from smsbank.i18n import voice
from smsbank.logs import mask_text
from smsbank.settings import Settings

# A request to Twilio that has not answered in this long is abandoned and retried later.
# Twilio normally answers in well under a second; the outbox claim (see smsbank.outbox.claims)
# lasts much longer than this, so a slow request never outlives its claim.
SEND_TIMEOUT_SECONDS = 15.0
# How long a voice menu waits for a key.
GATHER_TIMEOUT_SECONDS = 6


class SendError(Exception):
    """The provider did not take the message; `retryable` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


class SmsBackend(Protocol):
    """Delivers one SMS or call and returns the provider's id for it."""

    name: str
    # Whether a sent text's secret can be scrubbed from the outbox at once (the
    # provider has it); the console's texts are read from the outbox by the dev phone.
    scrubs_when_sent: bool

    async def send_sms(self, to: str, from_: str, body: str, status_callback: str) -> str: ...

    async def place_call(
        self,
        to: str,
        from_: str,
        say: str,
        status_callback: str,
        language: str,
        menu_url: str | None = None,
    ) -> str: ...

    async def close(self) -> None: ...


class ConsoleBackend:
    """Development backend: nothing leaves the machine; the dev phone shows the message."""

    name = "console"
    scrubs_when_sent = False

    async def send_sms(self, to: str, from_: str, body: str, status_callback: str) -> str:
        return _console_sid("SM")

    async def place_call(
        self,
        to: str,
        from_: str,
        say: str,
        status_callback: str,
        language: str,
        menu_url: str | None = None,
    ) -> str:
        return _console_sid("CA")

    async def close(self) -> None:
        return None


def _console_sid(prefix: str) -> str:
    # Shaped like Twilio's sids (two letters + 32 hex) so nothing downstream special-cases it.
    return prefix + secrets.token_hex(16)


class _BasicAuthStrategy(AuthStrategy):  # type: ignore[misc]  # twilio ships no types
    def __init__(self, header: str) -> None:
        super().__init__(AuthType.BASIC)
        self._header = header

    def get_auth_string(self) -> str:
        return self._header

    def requires_authentication(self) -> bool:
        return True


class _BasicCredentials(CredentialProvider):  # type: ignore[misc]  # twilio ships no types
    """Account sid + auth token sent as a ready-made `Authorization` header.

    Why: the library otherwise hands aiohttp its `auth=` parameter, which aiohttp 3.14
    deprecates (a DeprecationWarning on every send, an error in our test suite). A
    credential provider is the library's own hook for supplying the header instead.
    """

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__(AuthType.BASIC)
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
        self._strategy = _BasicAuthStrategy(f"Basic {token}")

    def to_auth_strategy(self) -> AuthStrategy:
        return self._strategy


def twilio_client(settings: Settings) -> tuple[Client, AsyncTwilioHttpClient]:
    """The official library's client with its async HTTP client (close that when done).

    Build it inside the running event loop: the HTTP session belongs to that loop.
    `SMSBANK_TWILIO_API_BASE_URL` sends every Twilio domain the bank uses (the REST API
    and Messaging) to that origin instead: the fake Twilio of tests and benchmarks.
    """
    # The client logs every request's URL and headers at INFO; it goes to the
    # library's HTTP logger, which `smsbank.logs` keeps at WARNING.
    http = AsyncTwilioHttpClient(logger=logging.getLogger("twilio.http_client"))
    client = Client(
        account_sid=settings.twilio_account_sid,
        http_client=http,
        credential_provider=_BasicCredentials(
            settings.twilio_account_sid, settings.twilio_auth_token
        ),
    )
    if settings.twilio_api_base_url:
        origin = settings.twilio_api_base_url.rstrip("/")
        client.api.base_url = origin
        client.messaging.base_url = origin
    return client, http


class TwilioBackend:
    """Twilio's REST API through the library's async client.

    Build it inside the running event loop (the HTTP session belongs to that loop) and
    `close()` it when done.
    """

    name = "twilio"
    scrubs_when_sent = True

    def __init__(self, settings: Settings, *, timeout: float = SEND_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._client, self._http = twilio_client(settings)
        self._messaging_service_sid = settings.twilio_messaging_service_sid

    async def send_sms(self, to: str, from_: str, body: str, status_callback: str) -> str:
        # With a Messaging Service, Twilio picks the sender from its pool (A2P 10DLC,
        # sticky sender): the request names the service and no `From`.
        sender = (
            {"messaging_service_sid": self._messaging_service_sid}
            if self._messaging_service_sid
            else {"from_": from_}
        )

        async def create() -> str:
            message = await self._client.messages.create_async(
                to=to, body=body, status_callback=status_callback, **sender
            )
            return str(message.sid)

        return await self._call(create)

    async def place_call(
        self,
        to: str,
        from_: str,
        say: str,
        status_callback: str,
        language: str,
        menu_url: str | None = None,
    ) -> str:
        """Call `to` and read `say` in `language`; with `menu_url`, `say` is a menu whose
        key press Twilio posts there (a call-back)."""
        twiml = VoiceResponse()
        if menu_url is not None:
            twiml.append(menu_gather(say, menu_url, language))
            twiml.say(messages.voice_no_choice(language), **voice(language))
            twiml.hangup()
        else:
            # Said twice: a code read once is easily missed when the phone is at the ear.
            twiml.say(say, **voice(language))
            twiml.pause(length=1)
            twiml.say(say, **voice(language))

        async def create() -> str:
            call = await self._client.calls.create_async(
                to=to, from_=from_, twiml=str(twiml), status_callback=status_callback
            )
            return str(call.sid)

        return await self._call(create)

    async def _call(self, create: _Create) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                sid = await create()
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _classify_twilio_error(exc) from exc
        except TimeoutError as exc:
            raise SendError(
                f"Twilio did not answer within {self.timeout:g}s", retryable=True
            ) from exc
        except aiohttp.ClientError as exc:
            raise SendError(f"network error: {type(exc).__name__}", retryable=True) from exc
        except OSError as exc:
            raise SendError(f"network error: {type(exc).__name__}", retryable=True) from exc
        except (json.JSONDecodeError, KeyError) as exc:
            # A 2xx we cannot read: Twilio may have taken the message, but without a sid
            # we cannot track it; trying again risks a duplicate, giving up risks a loss.
            # At-least-once: try again.
            raise SendError("unreadable answer from Twilio", retryable=True) from exc
        if not sid or sid == "None":
            raise SendError("Twilio answered without a sid", retryable=True)
        return sid

    async def close(self) -> None:
        await self._http.close()


class _Create(Protocol):
    async def __call__(self) -> str: ...


def _classify_twilio_error(exc: TwilioRestException | TwilioServiceException) -> SendError:
    status = int(exc.status)
    code = exc.code
    text = exc.msg if isinstance(exc, TwilioRestException) else exc.detail or exc.title
    retryable = status == 429 or status >= 500
    # Twilio's messages quote the phone number; stored errors are masked like logs are.
    message = f"Twilio HTTP {status}, error {code}: {mask_text(str(text))}"[:480]
    return SendError(message, retryable=retryable, status=status)


def menu_gather(prompt: str, action: str, language: str) -> Gather:
    """A voice menu: `prompt` (in `language`), then one key press posted to `action`
    (signed by Twilio)."""
    gather = Gather(num_digits=1, action=action, method="POST", timeout=GATHER_TIMEOUT_SECONDS)
    gather.say(prompt, **voice(language))
    return gather


def build_backend(settings: Settings) -> SmsBackend:
    """The backend `settings` select (`SMSBANK_SMS_BACKEND`, or twilio when configured)."""
    if settings.effective_sms_backend == "twilio":
        return TwilioBackend(settings)
    return ConsoleBackend()
