"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when
SMSBANK_TEST_POSTGRES_URL is set, as CI's second run does), the app, its test client,
staff headers and factories."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import pytest
from quart.typing import TestAppProtocol, TestClientProtocol
from tortoise import Tortoise, connections

from smsbank.app import create_app
from smsbank.core.customers import create_customer
from smsbank.core.db import tortoise_config
from smsbank.core.models import Customer
from smsbank.core.settings import Settings
from tests.bank_server import serving
from tests.chromium import CHROMIUM
from tests.fake_twilio import free_port

POSTGRES_URL = os.environ.get("SMSBANK_TEST_POSTGRES_URL", "")
ADMIN_KEY = "test-admin-key-0123456789abcdef"
PRODUCTION_ADMIN_KEY = "sbk_Zq8WmXv3Lr6Tn1Kp5Yb9Hc2Jd"  # production refuses a guessable one
SHARED_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"

requires_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="set SMSBANK_TEST_POSTGRES_URL to run against PostgreSQL"
)


async def reset_database(database_url: str) -> None:
    """Give the test an empty database with the current schema."""
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    try:
        if database_url.startswith("postgres"):
            conn = connections.get("default")
            await conn.execute_script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        await Tortoise.generate_schemas(safe=False)
    finally:
        await Tortoise.close_connections()


@asynccontextmanager
async def fresh_database(database_url: str) -> AsyncIterator[None]:
    """An empty database, open in this event loop for the block: a test fills it before
    a server thread (with its own loop and connections) takes over."""
    await reset_database(database_url)
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    try:
        yield
    finally:
        await Tortoise.close_connections()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    return f"sqlite://{tmp_path / 'bank.sqlite3'}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="development",
        database_url=database_url,
        public_base_url="https://bank.example.test",
        secret_key="test-secret-key-" + "x" * 32,
        admin_api_key=ADMIN_KEY,
        sms_backend="console",
        twilio_auth_token="test-twilio-auth-token",
        twilio_account_sid="ACtest",
        twilio_phone_number="+15550001111",
        deepface_home=str(tmp_path / "deepface"),
        outbox_enabled=False,
        # Tests run sweep passes themselves; tests/test_expiry.py turns the sweeper on.
        expiry_sweep_seconds=0,
        face_warmup=False,
    )


@pytest.fixture
def production_settings(settings: Settings) -> Settings:
    """The test settings as production accepts them: strong secrets, real Twilio."""
    return settings.with_overrides(
        env="production",
        sms_backend="",
        secret_key="Pr0duct10n-S3cret_Kq7ZxW2mLp9VbN4tRf8Hj",
        admin_api_key=PRODUCTION_ADMIN_KEY,
        twilio_account_sid="AC" + "0123456789abcdef" * 2,
        twilio_auth_token="fedcba9876543210" * 2,
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[None]:
    """An empty database, connected for direct use by the test."""
    await reset_database(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    try:
        yield
    finally:
        await Tortoise.close_connections()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[TestAppProtocol]:
    """The app, started (its before_serving hooks have run) on an empty database."""
    await reset_database(settings.database_url)
    quart_app = create_app(settings)
    async with quart_app.test_app() as test_app:
        yield test_app


@pytest.fixture
def client(app: TestAppProtocol) -> TestClientProtocol:
    return app.test_client()


@pytest.fixture
def staff() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
async def live_bank(settings: Settings) -> AsyncIterator[str]:
    """The bank served by a real hypercorn (in a thread) on a free port and an empty
    database; yields its base URL, which is also its public URL."""
    port = free_port()
    served = settings.with_overrides(public_base_url=f"http://127.0.0.1:{port}", port=port)
    await reset_database(served.database_url)
    async with serving(served) as base:
        yield base


@pytest.fixture
def chromium() -> str:
    """The system Chromium the browser tests drive (never a downloaded one)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    return CHROMIUM


class MakeCustomer(Protocol):
    """The `make_customer` fixture: a customer with an account (and a deposit)."""

    async def __call__(
        self,
        name: str = ...,
        phone: str | None = ...,
        balance: str | None = ...,
        language: str = ...,
        currency: str = ...,
    ) -> Customer: ...


@pytest.fixture
def make_customer() -> MakeCustomer:
    counter = iter(range(100, 10_000))

    async def factory(
        name: str = "Grace Hopper",
        phone: str | None = None,
        balance: str | None = "100.00",
        language: str = "en",
        currency: str = "USD",
    ) -> Customer:
        return await create_customer(
            name,
            phone or f"+1555010{next(counter):04d}",
            currency=currency,
            initial_deposit=Decimal(balance) if balance else None,
            language=language,
            actor="test",
        )

    return factory
