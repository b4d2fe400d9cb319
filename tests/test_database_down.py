"""The database unavailable: a quick 503 with a JSON error, and no half-written state."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from tortoise import connections

from smsbank.app import create_app
from smsbank.core import ledger
from smsbank.core.ledger import Limits
from smsbank.core.models import Customer, LedgerEntry
from smsbank.core.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.fake_twilio import free_port


@pytest.fixture
def unreachable(settings: Settings) -> Settings:
    # Nothing listens on this port: every connection attempt is refused at once.
    return replace(settings, database_url=f"postgres://postgres@127.0.0.1:{free_port()}/none")


async def test_staff_api_answers_503_when_the_database_is_down(unreachable: Settings) -> None:
    app = create_app(unreachable)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        for method, path, body in [
            ("GET", "/api/v1/customers", None),
            ("POST", "/api/v1/customers", {"name": "A", "phone": "+15554040001"}),
            ("GET", "/get_customer_id_by_name?name=A", None),
        ]:
            response = await client.open(path, method=method, headers=headers, json=body)
            assert response.status_code == 503, path
            assert (await response.get_json())["error"]["code"] == "service_unavailable"
            assert response.headers["Retry-After"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert (await ready.get_json())["checks"]["database"] == "unreachable"
        assert (await client.get("/healthz")).status_code == 200


async def test_a_failure_midway_leaves_no_half_written_withdrawal(
    db: None, make_customer: Any
) -> None:
    """The debit succeeds, then the ledger insert fails: the debit must roll back."""
    customer = await make_customer(balance="50.00")
    await connections.get("default").execute_script(
        "ALTER TABLE ledger_entry RENAME TO ledger_entry_gone"
    )
    with pytest.raises(Exception, match=r"(?i)ledger_entry"):
        await ledger.withdraw(customer.id, Decimal("20"), Limits(Decimal(1000), Decimal(2000)))
    await connections.get("default").execute_script(
        "ALTER TABLE ledger_entry_gone RENAME TO ledger_entry"
    )
    fresh = await Customer.get(id=customer.id)
    assert fresh.balance == Decimal("50.00")
    assert await LedgerEntry.filter(customer_id=customer.id).count() == 1  # the deposit only
