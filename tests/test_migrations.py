"""Migrations: committed, in step with the models, and enough to run the bank."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from tortoise import Tortoise, connections

from smsbank.core import ledger
from smsbank.core.customers import create_customer
from smsbank.core.db import MIGRATIONS_ROOT, apply_migrations, tortoise_config, write_model_changes
from smsbank.core.settings import Settings

OFFLINE_URLS = ["sqlite://:memory:", "postgres://offline@127.0.0.1:1/offline"]


@pytest.mark.parametrize("url", OFFLINE_URLS, ids=["sqlite", "postgres"])
async def test_models_and_migrations_agree(tmp_path: Path, url: str) -> None:
    """Fails when a model changed without `smsbank makemigrations` (CI runs this)."""
    shutil.copytree(MIGRATIONS_ROOT, tmp_path / "migrations")
    created = await write_model_changes(url, root=tmp_path / "migrations")
    assert created is None, (
        f"models changed without a migration ({created}); run `.venv/bin/smsbank makemigrations`"
    )


async def test_migrate_builds_a_working_database(settings: Settings) -> None:
    if settings.database_url.startswith("postgres"):
        await Tortoise.init(config=tortoise_config(settings.database_url))
        await connections.get("default").execute_script(
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
        )
        await Tortoise.close_connections()
    applied = await apply_migrations(settings)
    assert applied and applied[0].startswith("0_")
    assert await apply_migrations(settings) == []  # idempotent
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    try:
        customer = await create_customer(
            "Mig Test", "+15552020001", currency="USD", initial_deposit=Decimal("5"), actor="test"
        )
        await ledger.deposit(customer.id, Decimal("1.25"))
        assert await ledger.ledger_total_minor(customer.id) == 625
    finally:
        await Tortoise.close_connections()
