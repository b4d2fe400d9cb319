"""The ledger: exact money, references, limits, and no overdraft under concurrency.

Runs on SQLite, and on PostgreSQL when SMSBANK_TEST_POSTGRES_URL is set (CI's second
pass runs the whole suite there)."""

from __future__ import annotations

import asyncio
import multiprocessing
import re
from decimal import Decimal
from typing import Any

import pytest

from smsbank import ledger
from smsbank.errors import InsufficientFunds, LimitExceeded
from smsbank.ledger import Limits
from smsbank.models import Customer, EntryKind, LedgerEntry

LIMITS = Limits(per_withdrawal=Decimal("1000.00"), per_day=Decimal("100000.00"))


async def test_withdrawal_records_entry_and_balance(db: None, make_customer: Any) -> None:
    customer = await make_customer(balance="100.00")
    entry = await ledger.withdraw(customer.id, Decimal("20.00"), LIMITS)
    assert re.fullmatch(r"W-[2-9A-HJ-NP-Z]{6}", entry.reference)
    assert entry.kind == EntryKind.WITHDRAWAL
    assert entry.balance_after_minor == 8000
    await customer.refresh_from_db()
    assert customer.balance == Decimal("80.00")
    assert await ledger.ledger_total_minor(customer.id) == customer.balance_minor


async def test_cannot_overdraw(db: None, make_customer: Any) -> None:
    customer = await make_customer(balance="10.00")
    with pytest.raises(InsufficientFunds):
        await ledger.withdraw(customer.id, Decimal("10.01"), LIMITS)
    await customer.refresh_from_db()
    assert customer.balance_minor == 1000
    assert await LedgerEntry.filter(kind=EntryKind.WITHDRAWAL).count() == 0


async def test_limits_per_withdrawal_and_per_day(db: None, make_customer: Any) -> None:
    customer = await make_customer(balance="5000.00")
    limits = Limits(per_withdrawal=Decimal("1000.00"), per_day=Decimal("1500.00"))
    with pytest.raises(LimitExceeded):
        await ledger.check_withdrawal_limits(customer.id, Decimal("1000.01"), limits)
    with pytest.raises(LimitExceeded):
        await ledger.withdraw(customer.id, Decimal("1000.01"), limits)
    await ledger.withdraw(customer.id, Decimal("1000.00"), limits)
    with pytest.raises(LimitExceeded, match=r"\$500\.00"):
        await ledger.check_withdrawal_limits(customer.id, Decimal("600"), limits)
    with pytest.raises(LimitExceeded):
        await ledger.withdraw(customer.id, Decimal("600"), limits)
    await ledger.withdraw(customer.id, Decimal("500"), limits)
    await customer.refresh_from_db()
    assert customer.balance == Decimal("3500.00")
    assert await ledger.ledger_total_minor(customer.id) == customer.balance_minor


async def test_concurrent_withdrawals_never_overdraw(db: None, make_customer: Any) -> None:
    """50 withdrawals of $7 race for $100: exactly 14 succeed, the rest are refused."""
    customer = await make_customer(balance="100.00")

    async def attempt() -> bool:
        try:
            await ledger.withdraw(customer.id, Decimal("7.00"), LIMITS)
            return True
        except InsufficientFunds:
            return False

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    assert sum(results) == 14
    await customer.refresh_from_db()
    assert customer.balance == Decimal("2.00")
    assert await ledger.ledger_total_minor(customer.id) == customer.balance_minor
    balances = sorted(
        await LedgerEntry.filter(kind=EntryKind.WITHDRAWAL).values_list(
            "balance_after_minor", flat=True
        )
    )
    assert balances == [200 + 700 * i for i in range(14)]


def _withdraw_in_process(database_url: str, customer_id: int, count: int, queue: Any) -> None:
    """A separate OS process with its own connection, as a second app worker would be."""
    from tortoise import Tortoise

    from smsbank.db import tortoise_config

    async def main() -> int:
        await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
        done = 0
        try:
            for _ in range(count):
                try:
                    await ledger.withdraw(customer_id, Decimal("3.00"), LIMITS)
                    done += 1
                except InsufficientFunds:
                    pass
        finally:
            await Tortoise.close_connections()
        return done

    queue.put(asyncio.run(main()))


async def test_concurrent_withdrawals_from_several_processes(
    db: None, make_customer: Any, database_url: str
) -> None:
    """Four processes each try 15 withdrawals of $3 against $100: 33 succeed in all."""
    customer = await make_customer(balance="100.00")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_withdraw_in_process, args=(database_url, customer.id, 15, queue))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()

    def join_all() -> None:
        for worker in workers:
            worker.join(120)

    await asyncio.get_running_loop().run_in_executor(None, join_all)
    assert all(w.exitcode == 0 for w in workers)
    succeeded = sum(queue.get(timeout=5) for _ in workers)
    assert succeeded == 33
    fresh = await Customer.get(id=customer.id)
    assert fresh.balance == Decimal("1.00")
    assert await ledger.ledger_total_minor(customer.id) == fresh.balance_minor
