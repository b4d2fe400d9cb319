"""Outbox fixtures: a fake Twilio on a real port, settings that point the real twilio
library at it, and helpers to read the outbox and to wait for a condition."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from smsbank.core.db import tortoise_config
from smsbank.core.models import OutboundMessage
from smsbank.core.settings import Settings
from smsbank.outbox.backends import TwilioBackend
from tests.conftest import POSTGRES_URL, reset_database
from tests.fake_twilio import FakeTwilio

PROJECT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(account_sid="ACtest", auth_token="test-twilio-auth-token") as server:
        yield server


@pytest.fixture
def twilio_settings(settings: Settings, fake: FakeTwilio) -> Settings:
    return settings.with_overrides(sms_backend="twilio", twilio_api_base_url=fake.base_url)


@pytest.fixture
async def twilio(twilio_settings: Settings) -> AsyncIterator[TwilioBackend]:
    """The real twilio backend, aimed at the fake, with a short timeout for slow tests."""
    backend = TwilioBackend(twilio_settings, timeout=2.0)
    try:
        yield backend
    finally:
        await backend.close()


async def reload(message: OutboundMessage) -> OutboundMessage:
    return await OutboundMessage.get(id=message.id)


async def wait_for(
    condition: Callable[[], Awaitable[Any]], within: float = 10.0, interval: float = 0.02
) -> Any:
    """Poll `condition` until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


def _databases() -> list[Any]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgres",
            id="postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not POSTGRES_URL, reason="set SMSBANK_TEST_POSTGRES_URL"),
            ],
        ),
    ]


@pytest.fixture(params=_databases())
async def shared_settings(
    request: pytest.FixtureRequest, settings: Settings, fake: FakeTwilio, tmp_path: Path
) -> AsyncIterator[Settings]:
    """Twilio-backed settings on a database several processes can share, connected here.

    Runs on SQLite even in a PostgreSQL run. Tortoise caches each model's INSERT per
    connection *name*, not per dialect, so the cache is emptied on the way in and out:
    otherwise SQLite's `?` placeholders would reach PostgreSQL in the next test.
    """
    url = POSTGRES_URL if request.param == "postgres" else f"sqlite://{tmp_path / 'shared.db'}"
    shared = settings.with_overrides(
        database_url=url, sms_backend="twilio", twilio_api_base_url=fake.base_url
    )
    EXECUTOR_CACHE.clear()
    await reset_database(url)
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        yield shared
    finally:
        await Tortoise.close_connections()
        EXECUTOR_CACHE.clear()


def settings_json(settings: Settings) -> str:
    keys = (
        "database_url",
        "public_base_url",
        "sms_backend",
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_phone_number",
        "twilio_api_base_url",
        "outbox_max_attempts",
        "outbox_backoff_seconds",
    )
    return json.dumps({key: getattr(settings, key) for key in keys})


async def spawn_worker(settings: Settings, *args: str) -> asyncio.subprocess.Process:
    """An outbox worker in its own OS process (`tests/outbox/worker_process.py`)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.outbox.worker_process",
        settings_json(settings),
        *args,
        cwd=PROJECT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
