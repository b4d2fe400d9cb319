"""Talking to a real `smsbank serve` (a `tests.bank_server.BankProcess`) as Twilio, a
phone and staff would, and the environment such a bank runs with.

The server runs in its own process group (hypercorn's worker, the face engine's pool
and multiprocessing's resource tracker are all in it), so `kill()` takes the whole bank
down at once, as an out-of-memory killer or a pulled plug would: no shutdown hook runs,
no transaction is finished, no claim is released. `start()` then serves again on the
same database with the same settings.

The test talks to the bank only as Twilio, a phone and staff would: signed webhooks,
capture links and the staff API over HTTP. It reads the database directly (its own
Tortoise connection) only to check what the bank stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiohttp

from smsbank.core.settings import Settings
from tests.bank_server import BankProcess
from tests.twilio_signing import TwilioSigner, sms_form
from tests.webhooks.handset import SMS_PATH

PROJECT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT_SECONDS = 90.0


def server_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment that makes `smsbank serve` run with the test's settings."""
    env = {
        "SMSBANK_ENV": settings.env,
        "DATABASE_URL": settings.database_url,
        "SMSBANK_PUBLIC_BASE_URL": settings.public_base_url,
        "SMSBANK_SECRET_KEY": settings.secret_key,
        "SMSBANK_ADMIN_API_KEY": settings.admin_api_key,
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "TWILIO_PHONE_NUMBER": settings.twilio_phone_number,
        "SMSBANK_SMS_BACKEND": "console",
        "SMSBANK_LIVENESS": settings.liveness,
        "SMSBANK_DEEPFACE_HOME": settings.deepface_home,
        "SMSBANK_FACE_WORKERS": "1",  # one model process is enough and starts fastest
        "SMSBANK_FACE_WARMUP": "true",  # /readyz then means "can check a selfie now"
        "SMSBANK_OUTBOX_ENABLED": "true",
        "SMSBANK_OUTBOX_POLL_SECONDS": "0.1",
        "SMSBANK_LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return env


class Client:
    """Twilio, a customer's phone and branch staff, over HTTP to a running bank."""

    def __init__(self, session: aiohttp.ClientSession, bank: BankProcess, settings: Settings):
        self.session = session
        self.bank = bank
        self.signer = TwilioSigner(settings)
        self.staff = {"Authorization": f"Bearer {settings.admin_api_key}"}
        self.public_base = settings.base_url

    async def text(self, phone: str, body: str) -> None:
        """A signed inbound SMS, exactly as Twilio posts it; the bank answers `<Response/>`."""
        form = sms_form(phone, body)
        async with self.session.post(
            self.bank.base + SMS_PATH, data=form, headers=self.signer.headers(SMS_PATH, form)
        ) as response:
            text = await response.text()
            assert response.status == 200, text
            root = ElementTree.fromstring(text)  # noqa: S314 - the bank's own answer
            assert root.tag == "Response" and len(root) == 0, text

    async def new_customer(self, phone: str, photo: bytes, deposit: str = "100.00") -> int:
        """Open an account with a deposit and enrol its face through the staff API."""
        async with self.session.post(
            self.bank.base + "/api/v1/customers",
            json={"name": "Eileen Collins", "phone": phone, "initial_deposit": deposit},
            headers=self.staff,
        ) as response:
            assert response.status == 201, await response.text()
            customer_id = int((await response.json())["id"])
        form = aiohttp.FormData()
        form.add_field("photo", photo, filename="enrol.jpg", content_type="image/jpeg")
        async with self.session.put(
            f"{self.bank.base}/api/v1/customers/{customer_id}/face", data=form, headers=self.staff
        ) as response:
            assert response.status == 200, await response.text()
        return customer_id

    def local(self, public_url: str) -> str:
        """A link the bank texted (on its public origin), on this test's server."""
        assert public_url.startswith(self.public_base + "/"), public_url
        return self.bank.base + public_url.removeprefix(self.public_base)

    async def open_link(self, public_url: str) -> int:
        async with self.session.get(self.local(public_url)) as response:
            return response.status

    async def post_selfie(self, public_url: str, photo: bytes) -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("selfie", photo, filename="selfie.jpg", content_type="image/jpeg")
        async with self.session.post(self.local(public_url), data=form) as response:
            return response.status, await response.json()
