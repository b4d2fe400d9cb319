"""The ledger: every balance change is one entry, and the balance never goes negative.

Theory of operation
-------------------
A customer's balance lives on the customer row (`balance_minor`) so it can be read in
one query; the ledger is the record that explains it, and the two always agree because
they change in the same transaction.

A debit is one conditional UPDATE, `balance = balance - x WHERE balance >= x`, and the
ledger insert follows it inside the same transaction. The UPDATE is what makes
concurrent withdrawals safe: on PostgreSQL it takes the row lock and re-checks the
condition against the committed balance; on SQLite it takes the database write lock.
Either way, a second debit waits for the first to commit and then sees the lower
balance, so no interleaving can overdraw. The daily-limit check runs after the UPDATE,
while the lock is held, so two withdrawals on the same day cannot both slip under it;
if it fails, the transaction rolls back and the debit never happened.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from smsbank.core.clock import start_of_day, utcnow
from smsbank.core.errors import InsufficientFunds, LimitExceeded, NotFound
from smsbank.core.models import Customer, EntryKind, LedgerEntry
from smsbank.core.money import format_amount, format_money, from_minor, to_minor
from smsbank.texts.i18n import Text

REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone
REFERENCE_PREFIX = {EntryKind.DEPOSIT: "D", EntryKind.WITHDRAWAL: "W"}


@dataclass(frozen=True)
class Limits:
    per_withdrawal: Decimal
    per_day: Decimal
    currency: str = "USD"


def new_reference(kind: EntryKind) -> str:
    """A short, unambiguous reference such as `W-8F3K2Q`."""
    body = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
    return f"{REFERENCE_PREFIX[kind]}-{body}"


async def withdrawn_today(customer_id: int, now: datetime | None = None) -> int:
    """Minor units withdrawn since midnight UTC."""
    since = start_of_day(now or utcnow())
    amounts = await LedgerEntry.filter(
        customer_id=customer_id, kind=EntryKind.WITHDRAWAL, created_at__gte=since
    ).values_list("amount_minor", flat=True)
    return sum(int(str(a)) for a in amounts)


NOT_ENOUGH_MONEY = Text("There is not enough money in the account for that.")


def _check_single_limit(amount: Decimal, limits: Limits) -> None:
    if amount > limits.per_withdrawal:
        raise LimitExceeded(
            Text(
                "The most you can withdraw at once is {amount}.",
                amount=format_money(limits.per_withdrawal, limits.currency),
            )
        )


def _over_daily_limit(left_minor: int, limits: Limits) -> LimitExceeded:
    return LimitExceeded(
        Text(
            "That is over your daily limit; you can withdraw up to {amount} more today.",
            amount=format_money(from_minor(max(left_minor, 0)), limits.currency),
        )
    )


async def check_withdrawal_limits(customer_id: int, amount: Decimal, limits: Limits) -> None:
    """Refuse an amount above the per-withdrawal limit or what is left of today's."""
    _check_single_limit(amount, limits)
    left = to_minor(limits.per_day) - await withdrawn_today(customer_id)
    if to_minor(amount) > left:
        raise _over_daily_limit(left, limits)


async def _insert_entry(
    customer_id: int,
    kind: EntryKind,
    amount_minor: int,
    balance_after_minor: int,
    withdrawal_id: int | None,
) -> LedgerEntry:
    # A reference collision is a one-in-a-billion event; retry inside a savepoint so
    # the surrounding transaction survives it.
    for _ in range(5):
        try:
            async with in_transaction():
                return await LedgerEntry.create(
                    customer_id=customer_id,
                    kind=kind,
                    amount_minor=amount_minor,
                    balance_after_minor=balance_after_minor,
                    reference=new_reference(kind),
                    withdrawal_id=withdrawal_id,
                )
        except IntegrityError:
            if withdrawal_id is not None and await LedgerEntry.exists(withdrawal_id=withdrawal_id):
                raise
    raise RuntimeError("could not allocate a unique ledger reference")


async def deposit(customer_id: int, amount: Decimal) -> LedgerEntry:
    """Credit a customer's account and record it."""
    amount_minor = to_minor(amount)
    async with in_transaction():
        updated = await Customer.filter(id=customer_id).update(
            balance_minor=F("balance_minor") + amount_minor
        )
        if not updated:
            raise NotFound("customer not found", code="customer_not_found")
        customer = await Customer.get(id=customer_id)
        return await _insert_entry(
            customer_id, EntryKind.DEPOSIT, amount_minor, customer.balance_minor, None
        )


async def withdraw(
    customer_id: int,
    amount: Decimal,
    limits: Limits,
    *,
    withdrawal_id: int | None = None,
) -> LedgerEntry:
    """Debit a customer's account and record it; never overdraws, even under concurrency.

    Runs in the caller's transaction when there is one (so a withdrawal request can be
    marked completed atomically with its entry), else in its own.
    """
    amount_minor = to_minor(amount)
    _check_single_limit(amount, limits)
    async with in_transaction():
        debited = await Customer.filter(id=customer_id, balance_minor__gte=amount_minor).update(
            balance_minor=F("balance_minor") - amount_minor
        )
        if not debited:
            if not await Customer.exists(id=customer_id):
                raise NotFound("customer not found", code="customer_not_found")
            raise InsufficientFunds(NOT_ENOUGH_MONEY)
        # The debit above holds the lock, so today's total cannot change under us.
        spent_before = await withdrawn_today(customer_id)
        if spent_before + amount_minor > to_minor(limits.per_day):
            raise _over_daily_limit(to_minor(limits.per_day) - spent_before, limits)
        customer = await Customer.get(id=customer_id)
        return await _insert_entry(
            customer_id,
            EntryKind.WITHDRAWAL,
            amount_minor,
            customer.balance_minor,
            withdrawal_id,
        )


async def ledger_total_minor(customer_id: int) -> int:
    """Deposits minus withdrawals: must equal the stored balance."""
    entries = await LedgerEntry.filter(customer_id=customer_id).values_list("kind", "amount_minor")
    return sum(int(a) if k == EntryKind.DEPOSIT else -int(a) for k, a in entries)


async def recent_entries(customer_id: int, limit: int = 5, offset: int = 0) -> list[LedgerEntry]:
    """Newest first."""
    return (
        await LedgerEntry.filter(customer_id=customer_id)
        .order_by("-created_at", "-id")
        .offset(offset)
        .limit(limit)
    )


def entry_json(entry: LedgerEntry) -> dict[str, str]:
    """The JSON shape of one transaction."""
    return {
        "reference": entry.reference,
        "kind": entry.kind.value,
        "amount": format_amount(entry.amount),
        "balance_after": format_amount(from_minor(entry.balance_after_minor)),
        "created_at": entry.created_at.isoformat(),
    }
