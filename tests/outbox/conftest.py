"""Outbox fixtures: a fake Twilio on a real port, settings that point the real twilio
library at it, and helpers to read the outbox and to wait for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from smsbank.models import OutboundMessage
from smsbank.settings import Settings
from smsbank.sms_backends import TwilioBackend
from tests.fake_twilio import FakeTwilio


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
