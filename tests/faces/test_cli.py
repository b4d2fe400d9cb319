"""`smsbank add-customer --photo` and `smsbank import-customers`: the face engine runs
in the command's own process (no pool), and each customer is all or nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tortoise import Tortoise

from smsbank.cli import main
from smsbank.core.db import tortoise_config
from smsbank.core.models import Customer
from smsbank.core.settings import Settings
from tests.conftest import reset_database


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    asyncio.run(reset_database(settings.database_url))
    monkeypatch.chdir(tmp_path)  # no .env here: settings come from the environment below
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "deepface"))  # restored afterwards
    return {
        "DATABASE_URL": settings.database_url,
        "SMSBANK_SECRET_KEY": settings.secret_key,
        "SMSBANK_SMS_BACKEND": "console",
        "SMSBANK_DEEPFACE_HOME": str(tmp_path / "deepface"),
        "SMSBANK_LOG_LEVEL": "WARNING",
    }


def customers(database_url: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
        try:
            rows = await Customer.all().order_by("id")
            return [
                {"name": c.name, "phone": c.phone, "balance": c.balance, "face": c.face_enrolled}
                for c in rows
            ]
        finally:
            await Tortoise.close_connections()

    return asyncio.run(read())


def languages(database_url: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
        try:
            return {c.name: c.language.value for c in await Customer.all()}
        finally:
            await Tortoise.close_connections()

    return asyncio.run(read())


def test_add_customer_with_a_photo(
    cli_env: dict[str, str],
    settings: Settings,
    tmp_path: Path,
    grace_jpeg: bytes,
    no_face_jpeg: bytes,
) -> None:
    (tmp_path / "grace.jpg").write_bytes(grace_jpeg)
    (tmp_path / "coffee.jpg").write_bytes(no_face_jpeg)
    runner = CliRunner(env=cli_env)
    refused = runner.invoke(
        main, ["add-customer", "--name", "Cup", "--phone", "+15550106001", "--photo", "coffee.jpg"]
    )
    assert refused.exit_code == 1
    assert "could not find a face" in refused.output
    assert customers(settings.database_url) == []  # all or nothing

    result = runner.invoke(
        main,
        [
            "add-customer",
            "--name",
            "Grace Hopper",
            "--phone",
            "555-010-6001",
            "--photo",
            "grace.jpg",
            "--deposit",
            "75",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "face enrolled: yes" in result.output
    assert customers(settings.database_url) == [
        {"name": "Grace Hopper", "phone": "+15550106001", "balance": Decimal("75.00"), "face": True}
    ]


def test_import_customers_reports_bad_rows_and_imports_the_rest(
    cli_env: dict[str, str],
    settings: Settings,
    tmp_path: Path,
    grace_jpeg: bytes,
    astronaut_jpeg: bytes,
    no_face_jpeg: bytes,
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "grace.jpg").write_bytes(grace_jpeg)
    (photos / "eileen.jpg").write_bytes(astronaut_jpeg)
    (photos / "coffee.jpg").write_bytes(no_face_jpeg)
    sheet = tmp_path / "customers.csv"
    sheet.write_text(
        "Name,Phone,Deposit,Photo\n"
        "Grace Hopper,+15550106101,100,grace.jpg\n"
        "Eileen Collins,(555) 010-6102,,eileen.jpg\n"
        "No Photo,+15550106103,20.50,\n"
        "Bad Phone,12,,\n"
        "Cup Of Coffee,+15550106104,,coffee.jpg\n"
        "Taken Phone,+15550106101,,\n"
        "Missing Photo,+15550106105,,nobody.jpg\n"
        "Bad Amount,+15550106106,-4,\n"
        "\n",
        encoding="utf-8",
    )
    result = CliRunner(env=cli_env).invoke(
        main, ["import-customers", str(sheet), "--photos", str(photos)]
    )
    assert result.exit_code == 1, result.output  # some rows failed
    assert "imported 3 customer(s); 5 row(s) failed" in result.output
    errors = result.stderr
    for line, text in [
        (5, "phone"),
        (6, "could not find a face"),
        (7, "already has that phone number"),
        (8, "cannot read the photo"),
        (9, "amount"),
    ]:
        assert f"line {line}:" in errors and text in errors, errors
    assert customers(settings.database_url) == [
        {
            "name": "Grace Hopper",
            "phone": "+15550106101",
            "balance": Decimal("100.00"),
            "face": True,
        },
        {
            "name": "Eileen Collins",
            "phone": "+15550106102",
            "balance": Decimal("0.00"),
            "face": True,
        },
        {"name": "No Photo", "phone": "+15550106103", "balance": Decimal("20.50"), "face": False},
    ]


def test_add_and_import_customers_with_their_language(
    cli_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    runner = CliRunner(env=cli_env)
    added = runner.invoke(
        main, ["add-customer", "--name", "Ana Díaz", "--phone", "+15550106301", "--language", "ES"]
    )
    assert added.exit_code == 0, added.output
    assert "language: es" in added.output
    unknown = runner.invoke(
        main, ["add-customer", "--name", "X", "--phone", "+15550106302", "--language", "fr"]
    )
    assert unknown.exit_code == 2 and "'fr' is not one of" in unknown.output
    sheet = tmp_path / "customers.csv"
    sheet.write_text(
        "name,phone,language\n"
        "Luis Pérez,+15550106303,es\n"
        "Lou Perry,+15550106304,\n"
        "Lu Fr,+15550106305,fr\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["import-customers", str(sheet)])
    assert result.exit_code == 1, result.output
    assert "imported 2 customer(s); 1 row(s) failed" in result.output
    assert "line 4: language must be one of en, es" in result.stderr
    assert languages(settings.database_url) == {
        "Ana Díaz": "es",
        "Luis Pérez": "es",
        "Lou Perry": "en",
    }


def test_import_customers_refuses_a_file_without_the_columns(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    sheet = tmp_path / "bad.csv"
    sheet.write_text("full_name,mobile\nAda,+15550106201\n", encoding="utf-8")
    result = CliRunner(env=cli_env).invoke(main, ["import-customers", str(sheet)])
    assert result.exit_code == 1
    assert "missing name, phone" in result.output
