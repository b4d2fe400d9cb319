"""Names are shown to staff and texted to customers: a name of invisible characters, or
one carrying bidirectional overrides that reorder the text of an SMS around them, is
refused clearly (400 `invalid_name`) on every way a name comes in, by one function."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from smsbank.cli import main
from smsbank.core.customers import clean_name
from smsbank.core.errors import ValidationFailed
from smsbank.core.models import Customer
from smsbank.core.settings import Settings
from tests.conftest import reset_database

REFUSED = {
    "right-to-left override": "Ada \u202eecalevoL",
    "left-to-right embedding": "\u202aAda\u202c",
    "isolate": "Ada \u2066Lovelace\u2069",
    "right-to-left mark": "Ada\u200f",
    "arabic letter mark": "Ada\u061c",
    "zero-width spaces only": "\u200b\u200b\u200b",
    "zero-width space inside": "Ada\u200bLovelace",
    "byte order mark": "\ufeffAda",
    "hangul fillers only": "\u3164\u3164",
    "braille blank": "\u2800",
    "word joiner only": "\u2060",
    "digits only": "12345",
    "tag characters": "Ada\U000e0041",
    "C1 control": "Ada\u0080Lovelace",
}
ACCEPTED = [
    "José Núñez",
    "Łukasz Żółw",
    "O'Brien-Smith",
    "محمد علي",
    "李小龍",
    "नमस्ते शर्मा",
    "فرزانه\u200cها",  # a zero-width non-joiner, part of Persian spelling
    "Zoë",
]


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_invisible_and_bidi_names_are_refused(kind: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        clean_name(REFUSED[kind])
    assert refused.value.code == "invalid_name" and refused.value.status == 400


@pytest.mark.parametrize("name", ACCEPTED)
def test_names_in_every_script_are_kept(name: str) -> None:
    assert clean_name(name) == name


async def test_the_staff_api_refuses_them(
    client: Any, staff: dict[str, str], make_customer: Any
) -> None:
    customer = await make_customer(name="Ada Lovelace")
    for name in REFUSED.values():
        created = await client.post(
            "/api/v1/customers", json={"name": name, "phone": "+15550170001"}, headers=staff
        )
        renamed = await client.patch(
            f"/api/v1/customers/{customer.id}", json={"name": name}, headers=staff
        )
        branch = await client.post(
            "/add_customer",
            form={"name": name, "phone_number": "+15550170002"},
            files={"photo": _photo()},
            headers=staff,
        )
        for response in (created, renamed, branch):
            assert response.status_code == 400, name
            assert (await response.get_json())["error"]["code"] == "invalid_name"
    assert [c.name for c in await Customer.all()] == ["Ada Lovelace"]


def _photo() -> Any:
    from io import BytesIO

    from quart.datastructures import FileStorage

    return FileStorage(BytesIO(b"\xff\xd8\xff\xe0 not really a photo"), filename="ada.jpg")


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    asyncio.run(reset_database(settings.database_url))
    monkeypatch.chdir(tmp_path)  # no .env here
    return {
        "DATABASE_URL": settings.database_url,
        "SMSBANK_SECRET_KEY": settings.secret_key,
        "SMSBANK_SMS_BACKEND": "console",
        "SMSBANK_LOG_LEVEL": "WARNING",
    }


def test_the_cli_and_the_import_refuse_them(
    cli_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    runner = CliRunner(env=cli_env)
    added = runner.invoke(
        main, ["add-customer", "--name", REFUSED["isolate"], "--phone", "+15550170003"]
    )
    assert added.exit_code == 1 and "invisible or control character" in added.output

    sheet = tmp_path / "customers.csv"
    rows = [f"{REFUSED['right-to-left override']},+15550170004", "Ada Lovelace,+15550170005"]
    sheet.write_text("name,phone\n" + "\n".join(rows) + "\n", encoding="utf-8")
    imported = runner.invoke(main, ["import-customers", str(sheet)])
    assert imported.exit_code == 1
    assert "line 2:" in imported.stderr and "U+202E" in imported.stderr
    assert "imported 1 customer(s); 1 row(s) failed" in imported.output
