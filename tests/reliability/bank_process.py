"""A real `smsbank serve` that a test can kill with SIGKILL and start again.

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

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiohttp

from smsbank.settings import Settings
from tests.fake_twilio import free_port
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


class BankProcess:
    """One bank deployment: the same environment for every start, a new process each time."""

    def __init__(self, env: Mapping[str, str], workdir: Path) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.starts = 0

    async def start(self) -> str:
        """Serve (on a fresh port) and wait until /readyz says ready; returns the base URL."""
        assert self.process is None, "already running"
        port = free_port()
        self.process = self._spawn(port)
        self.base = f"http://127.0.0.1:{port}"
        await self._wait_until_ready()
        return self.base

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        self.starts += 1
        env = {**os.environ, **self.env, "SMSBANK_HOST": "127.0.0.1", "SMSBANK_PORT": str(port)}
        with (self.workdir / f"server-{self.starts}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "smsbank", "serve"],
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, for kill()
            )

    async def _wait_until_ready(self) -> None:
        # Async, so a fake Twilio served by the test's own event loop keeps answering
        # the bank while it starts.
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"the bank exited at start:\n{self.log_text()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(self.base + "/readyz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"the bank was not ready in {START_TIMEOUT_SECONDS}s")

    async def kill(self) -> None:
        """SIGKILL the whole process group, and wait until the leader is gone."""
        process, self.process = self.process, None
        assert process is not None, "not running"
        os.killpg(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
        assert process.returncode == -signal.SIGKILL
        # The group's other members were killed by the same signal; give the reaper a
        # moment so none of them is still listed (a killed process runs no more code).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """End a bank that is still running at the end of a test (SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    def log_text(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:]
            for path in sorted(self.workdir.glob("server-*.log"))
        )


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
