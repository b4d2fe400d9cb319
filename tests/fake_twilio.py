"""A local fake of Twilio's REST API, for tests and benchmarks.

A real HTTP server (aiohttp) on 127.0.0.1 and a free port, speaking just enough of
Twilio's REST API for the real twilio library: `POST .../Messages.json` (from a number
or a Messaging Service) and `Calls.json`, and the reads `smsbank check` makes: the
account (`GET /2010-04-01/Accounts/{sid}.json`), its numbers with their webhooks
(`IncomingPhoneNumbers`) and Messaging Services (`GET /v1/Services/{sid}` and their
`PhoneNumbers`, served on the same origin). It checks HTTP Basic auth, answers with
Twilio-shaped JSON, and records every message and call it is asked to send. Tests
steer it:

- `fail_next(status, code, times)`: the next requests get Twilio-shaped errors
  (500, 429, 400 with error 21211...);
- `delay`: seconds to wait before answering (a slow Twilio); `slow_for`: numbers whose
  messages alone wait `delay` (one slow request among quick ones);
- `await stop()` / `await start()`: the port refuses connections while stopped, then
  listens again on the same port (Twilio down, then back);
- `await send_status_callback(sid, status, client)`: POSTs a status callback signed with
  the auth token, exactly as Twilio would, to the StatusCallback URL the app gave;
- `add_number(phone, sms_url=..., voice_url=...)` and `add_service(sid, ...)`: the
  account's numbers and Messaging Services, as the console would show them;
  `account_status`: `active`, `suspended` or `closed`.

Run it alone with `python -m tests.fake_twilio --port 8765` (benchmarks do).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import re
import secrets
import socket
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, web
from twilio.request_validator import RequestValidator

_ERROR_TEXT = {
    400: "The 'To' number is not a valid phone number.",
    401: "Authenticate",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass
class ReceivedRequest:
    """One request as the fake saw it (recorded before it answers)."""

    kind: str  # "sms" or "call"
    account_sid: str
    form: dict[str, str]
    answered: int | None = None  # HTTP status it was answered with
    sid: str | None = None  # the sid given, for accepted requests

    @property
    def body(self) -> str:
        return self.form.get("Body", "")


@dataclass
class FakeNumber:
    """A number of the account, with the webhooks set on it in the console."""

    phone_number: str
    sid: str = field(default_factory=lambda: "PN" + secrets.token_hex(16))
    sms_url: str = ""
    sms_method: str = "POST"
    voice_url: str = ""
    voice_method: str = "POST"
    sms_application_sid: str = ""
    voice_application_sid: str = ""


@dataclass
class FakeService:
    """A Messaging Service: its inbound webhook and its sender pool."""

    sid: str
    inbound_request_url: str = ""
    inbound_method: str = "POST"
    use_inbound_webhook_on_number: bool = False  # "Defer to sender's webhook"
    numbers: list[str] = field(default_factory=list)  # phone numbers of the pool


@dataclass
class _Failure:
    status: int
    code: int
    message: str


@dataclass
class FakeTwilio:
    account_sid: str = "ACtest"
    auth_token: str = "test-twilio-auth-token"
    host: str = "127.0.0.1"
    port: int = 0
    delay: float = 0.0
    slow_for: set[str] = field(default_factory=set)  # empty: every request waits `delay`
    requests: list[ReceivedRequest] = field(default_factory=list)
    numbers: dict[str, FakeNumber] = field(default_factory=dict)
    services: dict[str, FakeService] = field(default_factory=dict)
    account_status: str = "active"
    _failures: deque[_Failure] = field(default_factory=deque)
    _runner: web.AppRunner | None = None
    _site: web.TCPSite | None = None
    _sids: dict[str, ReceivedRequest] = field(default_factory=dict)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    # -- lifecycle -------------------------------------------------------

    async def start(self) -> FakeTwilio:
        """Listen (again) on the same port; the first start picks a free one."""
        if self._runner is None:
            app = web.Application()
            app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._messages)
            app.router.add_post("/2010-04-01/Accounts/{account}/Calls.json", self._calls)
            app.router.add_get("/2010-04-01/Accounts/{account}.json", self._account)
            numbers = "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers"
            app.router.add_get(numbers + ".json", self._numbers)
            app.router.add_get(numbers + "/{sid}.json", self._number)
            app.router.add_get("/v1/Services/{service}", self._service)
            app.router.add_get("/v1/Services/{service}/PhoneNumbers", self._service_numbers)
            self._runner = web.AppRunner(
                app, handle_signals=False, access_log=None, shutdown_timeout=2.0
            )
            await self._runner.setup()
        if not self.port:
            self.port = free_port(self.host)
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        return self

    async def stop(self) -> None:
        """Stop listening: new connections are refused until `start()`."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def close(self) -> None:
        self._closing.set()
        await self.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTwilio:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """What `SMSBANK_TWILIO_API_BASE_URL` should be to reach this fake."""
        return f"http://{self.host}:{self.port}"

    # -- steering --------------------------------------------------------

    def fail_next(self, status: int, code: int | None = None, times: int = 1) -> None:
        """Answer the next `times` requests with a Twilio error of this HTTP status."""
        for _ in range(times):
            self._failures.append(
                _Failure(status, code or 20000 + status, _ERROR_TEXT.get(status, "Error"))
            )

    def add_number(self, phone_number: str, **webhooks: str) -> FakeNumber:
        """A number of the account; `webhooks`: sms_url, voice_url, their methods..."""
        number = FakeNumber(phone_number, **webhooks)
        self.numbers[phone_number] = number
        return number

    def add_service(self, sid: str, **config: Any) -> FakeService:
        """A Messaging Service of the account (its pool numbers are added as numbers)."""
        service = FakeService(sid, **config)
        for phone in service.numbers:
            self.numbers.setdefault(phone, FakeNumber(phone))
        self.services[sid] = service
        return service

    @property
    def accepted(self) -> list[ReceivedRequest]:
        """Requests answered 201: the messages and calls Twilio would have sent."""
        return [r for r in self.requests if r.answered == 201]

    # -- handlers --------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.Response:
        return await self._create(request, "sms")

    async def _calls(self, request: web.Request) -> web.Response:
        return await self._create(request, "call")

    async def _create(self, request: web.Request, kind: str) -> web.Response:
        account = request.match_info["account"]
        form = {k: str(v) for k, v in (await request.post()).items()}
        received = ReceivedRequest(kind=kind, account_sid=account, form=form)
        self.requests.append(received)
        if self.delay and (not self.slow_for or form.get("To") in self.slow_for):
            # Interruptible, so closing the fake never waits out a long delay.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.delay):
                    await self._closing.wait()
        response = self._answer(request, received)
        received.answered = response.status
        return response

    def _answer(self, request: web.Request, received: ReceivedRequest) -> web.Response:
        if not self._authorised(request, received.account_sid):
            return _error(401, 20003, _ERROR_TEXT[401])
        if self._failures:
            failure = self._failures.popleft()
            return _error(failure.status, failure.code, failure.message)
        form = received.form
        service = form.get("MessagingServiceSid", "")
        if received.kind == "sms" and service and service not in self.services:
            return _error(400, 21705, "The Messaging Service Sid is invalid.")
        if not form.get("From") and not (received.kind == "sms" and service):
            return _error(400, 21603, "A 'From' phone number is required.")
        if not _E164.match(form.get("To", "")):
            return _error(400, 21211, f"The 'To' number {form.get('To', '')} is not valid.")
        if received.kind == "sms" and not form.get("Body"):
            return _error(400, 21602, "Message body is required.")
        if received.kind == "call" and not (form.get("Twiml") or form.get("Url")):
            return _error(400, 21205, "Url or Twiml is required.")
        prefix = "SM" if received.kind == "sms" else "CA"
        received.sid = prefix + secrets.token_hex(16)
        self._sids[received.sid] = received
        return web.json_response(_resource(received), status=201)

    def _authorised(self, request: web.Request, account: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return account == self.account_sid and request.headers.get("Authorization") == (
            f"Basic {expected}"
        )

    # -- reads (smsbank check) -------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        """The 401 Twilio answers a read with wrong credentials, or None."""
        if self._authorised(request, request.match_info.get("account", self.account_sid)):
            return None
        return _error(401, 20003, _ERROR_TEXT[401])

    async def _account(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        return web.json_response(
            {
                "sid": self.account_sid,
                "friendly_name": "SMS Bank (fake)",
                "status": self.account_status,
                "type": "Full",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}.json",
            }
        )

    async def _numbers(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        wanted = request.query.get("PhoneNumber")
        found = [n for n in self.numbers.values() if wanted in (None, n.phone_number)]
        uri = request.path_qs
        return web.json_response(
            {
                "incoming_phone_numbers": [self._number_resource(n) for n in found],
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": max(len(found) - 1, 0),
                "first_page_uri": uri,
                "previous_page_uri": None,
                "next_page_uri": None,
                "uri": uri,
            }
        )

    async def _number(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        for number in self.numbers.values():
            if number.sid == request.match_info["sid"]:
                return web.json_response(self._number_resource(number))
        return _error(404, 20404, "The requested resource was not found")

    def _number_resource(self, number: FakeNumber) -> dict[str, Any]:
        return {
            "sid": number.sid,
            "account_sid": self.account_sid,
            "phone_number": number.phone_number,
            "friendly_name": number.phone_number,
            "sms_url": number.sms_url,
            "sms_method": number.sms_method,
            "sms_application_sid": number.sms_application_sid,
            "voice_url": number.voice_url,
            "voice_method": number.voice_method,
            "voice_application_sid": number.voice_application_sid,
            "capabilities": {"sms": True, "mms": True, "voice": True, "fax": False},
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers/"
            f"{number.sid}.json",
        }

    async def _service(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        service = self.services.get(request.match_info["service"])
        if service is None:
            return _error(404, 20404, "The requested resource was not found")
        return web.json_response(
            {
                "sid": service.sid,
                "account_sid": self.account_sid,
                "friendly_name": "SMS Bank senders",
                "inbound_request_url": service.inbound_request_url or None,
                "inbound_method": service.inbound_method,
                "use_inbound_webhook_on_number": service.use_inbound_webhook_on_number,
                "url": f"https://messaging.twilio.com/v1/Services/{service.sid}",
            }
        )

    async def _service_numbers(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        service = self.services.get(request.match_info["service"])
        if service is None:
            return _error(404, 20404, "The requested resource was not found")
        url = f"https://messaging.twilio.com/v1/Services/{service.sid}/PhoneNumbers"
        pool = [self.numbers[phone] for phone in service.numbers]
        return web.json_response(
            {
                "phone_numbers": [
                    {
                        "sid": number.sid,
                        "account_sid": self.account_sid,
                        "service_sid": service.sid,
                        "phone_number": number.phone_number,
                        "country_code": "US",
                        "capabilities": ["SMS", "Voice"],
                    }
                    for number in pool
                ],
                "meta": {
                    "page": 0,
                    "page_size": 50,
                    "first_page_url": url,
                    "previous_page_url": None,
                    "url": url,
                    "next_page_url": None,
                    "key": "phone_numbers",
                },
            }
        )

    # -- status callbacks ------------------------------------------------

    def status_callback(self, sid: str, status: str) -> tuple[str, dict[str, str], str]:
        """(url, form, signature) of the status callback Twilio would send for `sid`."""
        received = self._sids[sid]
        url = received.form["StatusCallback"]
        form = {
            "AccountSid": self.account_sid,
            "From": received.form.get("From", ""),
            "To": received.form.get("To", ""),
            "ApiVersion": "2010-04-01",
        }
        if received.kind == "sms":
            form |= {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status}
            form |= {"SmsStatus": status}
        else:
            form |= {"CallSid": sid, "CallStatus": status, "Direction": "outbound-api"}
        signature = RequestValidator(self.auth_token).compute_signature(url, form)
        return url, form, signature

    async def send_status_callback(
        self, sid: str, status: str, client: Any = None, *, origin: str | None = None
    ) -> int:
        """POST a signed status callback; returns the HTTP status the app answered.

        `client` is a Quart test client (the path and query of the callback URL are
        posted to it); without one, the callback goes over HTTP to `origin` (default:
        the callback URL itself).
        """
        url, form, signature = self.status_callback(sid, status)
        headers = {"X-Twilio-Signature": signature}
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if client is not None:
            response = await client.post(path, form=form, headers=headers)
            return int(response.status_code)
        target = (origin.rstrip("/") + path) if origin else url
        async with (
            ClientSession() as session,
            session.post(target, data=form, headers=headers) as response,
        ):
            return response.status


def _resource(received: ReceivedRequest) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    form = received.form
    kind = "Messages" if received.kind == "sms" else "Calls"
    resource: dict[str, Any] = {
        "sid": received.sid,
        "account_sid": received.account_sid,
        "to": form.get("To"),
        # Sent through a Messaging Service: Twilio picks the sender later.
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "status": "queued",
        "date_created": now,
        "date_updated": now,
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{received.account_sid}/{kind}/{received.sid}.json",
    }
    if received.kind == "sms":
        resource |= {"body": form.get("Body"), "num_segments": "1", "direction": "outbound-api"}
    else:
        resource |= {"direction": "outbound-api"}
    return resource


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def _serve_forever(port: int, delay: float) -> None:
    fake = FakeTwilio(port=port, delay=delay)
    async with fake:
        print(f"fake Twilio listening on {fake.base_url}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local fake Twilio REST API")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    args = parser.parse_args()
    asyncio.run(_serve_forever(args.port, args.delay))


if __name__ == "__main__":
    main()
